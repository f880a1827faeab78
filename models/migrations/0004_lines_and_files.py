from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0003_schedule_state')]

    initial = False

    operations = [
        ops.AddField(
            model_name='OrderLine',
            name='status',
            field=fields.CharField(default='placed', db_default='placed', max_length=16),
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='file',
            field=fields.CharField(null=True, max_length=512),
        ),
    ]
