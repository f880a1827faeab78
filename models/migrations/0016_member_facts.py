from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0015_campaigns')]

    initial = False

    operations = [
        ops.CreateModel(
            name='MemberFact',
            fields=[
                ('member_id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=128)),
                ('last_order_on', fields.DateField(null=True)),
                ('orders', fields.IntField(default=0)),
                ('spend_90d', fields.DecimalField(default=0, max_digits=12, decimal_places=2)),
                ('cycle_days', fields.DecimalField(null=True, max_digits=8, decimal_places=1)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'member_fact', 'app': 'models', 'pk_attr': 'member_id', 'table_description': "What the nightly sweep (models.facts) knows of a member's buying: read by segments."},
            bases=['Model'],
        ),
    ]
