from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0016_member_facts')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ProductAsk',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='asks', on_delete=OnDelete.CASCADE)),
                ('sku', fields.CharField(max_length=32)),
                ('asked_on', fields.DateField()),
                ('asked_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'product_ask', 'app': 'models', 'unique_together': (('member', 'sku', 'asked_on'),), 'pk_attr': 'id', 'table_description': 'A member asked about a product in chat ("草莓甜吗", "还有牛奶吗"): with no order after it,'},
            bases=['Model'],
        ),
        ops.AlterModelOptions(
            name='MemberFact',
            options={'table': 'member_fact', 'app': 'models', 'pk_attr': 'member_id', 'table_description': "What the sweeps (models.facts) know of a member's buying: read by segments."},
        ),
        ops.AddField(
            model_name='MemberFact',
            name='spend',
            field=fields.DecimalField(default=0, db_default=0, max_digits=12, decimal_places=2),
        ),
        ops.AlterField(
            model_name='Order',
            name='updated_at',
            field=fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False),
        ),
    ]
