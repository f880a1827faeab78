from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0002_stock_day')]

    initial = False

    operations = [
        ops.CreateModel(
            name='BotState',
            fields=[
                ('key', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('value', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'bot_state', 'app': 'models', 'pk_attr': 'key', 'table_description': 'Small facts that must survive a restart: broadcasts paused, when scheduling began.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Community',
            name='config_slot',
            field=fields.CharField(default='', db_default='', max_length=32),
        ),
    ]
