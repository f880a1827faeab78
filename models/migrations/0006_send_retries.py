from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0005_groupbuys_referrals')]

    initial = False

    operations = [
        ops.AddField(
            model_name='OutboxMessage',
            name='attempts',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='retry_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
