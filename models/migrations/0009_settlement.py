from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0008_wallet')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Settlement',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('order', fields.OneToOneField('models.Order', source_field='order_id', db_constraint=True, to_field='id', related_name='settlement', on_delete=OnDelete.CASCADE)),
                ('total', fields.DecimalField(max_digits=12, decimal_places=2)),
                ('discount', fields.DecimalField(default=0, max_digits=12, decimal_places=2)),
                ('wallet_paid', fields.DecimalField(default=0, max_digits=12, decimal_places=2)),
                ('due', fields.DecimalField(max_digits=12, decimal_places=2)),
                ('coupon_id', fields.IntField(null=True)),
                ('settled_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'order_settlement', 'app': 'models', 'pk_attr': 'id', 'table_description': "An order as settled at cut-off (docs/CONTRACTS.md section 7): its total, the coupon's"},
            bases=['Model'],
        ),
    ]
