from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0010_wallet_order')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Coupon',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='coupons', on_delete=OnDelete.CASCADE)),
                ('template', fields.CharField(max_length=32)),
                ('name', fields.CharField(max_length=64)),
                ('off', fields.DecimalField(max_digits=12, decimal_places=2)),
                ('min_spend', fields.DecimalField(max_digits=12, decimal_places=2)),
                ('skus', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('state', fields.CharField(default='unused', db_index=True, max_length=16)),
                ('issued_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('order_id', fields.IntField(null=True)),
                ('source', fields.CharField(unique=True, max_length=96)),
            ],
            options={'table': 'coupon', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A coupon given to a member, from a [[coupon]] template (its terms copied: a template'},
            bases=['Model'],
        ),
    ]
