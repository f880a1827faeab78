from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0009_settlement')]

    initial = False

    operations = [
        ops.AddField(
            model_name='WalletEntry',
            name='order_id',
            field=fields.IntField(null=True, db_index=True),
        ),
    ]
