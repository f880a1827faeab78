from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='ChainVersion',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('room', fields.CharField(max_length=128)),
                ('title', fields.CharField(max_length=256)),
                ('lines', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('message_id', fields.CharField(max_length=128)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'chain_version', 'app': 'models', 'unique_together': (('room', 'title'),), 'pk_attr': 'id', 'table_description': 'The latest version of a 接龙 list in a group, to tell new lines from copied ones.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Community',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('room', fields.CharField(unique=True, max_length=128)),
                ('name', fields.CharField(max_length=64)),
                ('delivery_slot', fields.CharField(max_length=32)),
                ('active', fields.BooleanField(default=True)),
            ],
            options={'table': 'community', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A neighbourhood (小区) and its WeChat group, kept in step with the [[group]] tables of the config.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='GroupBuy',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('sku', fields.CharField(max_length=32)),
                ('size', fields.IntField()),
                ('price', fields.DecimalField(max_digits=12, decimal_places=2)),
                ('state', fields.CharField(default='open', max_length=16)),
                ('deadline', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('community', fields.ForeignKeyField('models.Community', source_field='community_id', null=True, db_constraint=True, to_field='id', related_name='groupbuys', on_delete=OnDelete.SET_NULL)),
                ('opened_by', fields.CharField(max_length=128)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'groupbuy', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A 拼团: open -> success (N members) / failed (deadline) / cancelled (staff).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='InboundMessage',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('message_id', fields.CharField(unique=True, max_length=128)),
                ('room', fields.CharField(null=True, max_length=128)),
                ('sender', fields.CharField(max_length=128)),
                ('text', fields.TextField(unique=False)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('intent', fields.CharField(default='', max_length=32)),
                ('effect', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'inbound_message', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Every message handled, once: a re-delivered message id fails the unique insert.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='JobRun',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('job', fields.CharField(max_length=64)),
                ('due_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ran_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'job_run', 'app': 'models', 'unique_together': (('job', 'due_at'),), 'pk_attr': 'id', 'table_description': 'A scheduled job that ran for one due time: the unique key makes it run once.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Member',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=128)),
                ('name', fields.CharField(max_length=128)),
                ('address', fields.CharField(default='', max_length=128)),
                ('phone', fields.CharField(default='', max_length=32)),
                ('points', fields.IntField(default=0)),
                ('referrer', fields.ForeignKeyField('models.Member', source_field='referrer_id', null=True, db_constraint=True, to_field='id', related_name='invited', on_delete=OnDelete.SET_NULL)),
                ('home', fields.ForeignKeyField('models.Community', source_field='home_id', null=True, db_constraint=True, to_field='id', related_name='members', on_delete=OnDelete.SET_NULL)),
                ('first_seen', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('last_seen', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'member', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='GroupBuyParticipant',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('groupbuy', fields.ForeignKeyField('models.GroupBuy', source_field='groupbuy_id', db_constraint=True, to_field='id', related_name='participants', on_delete=OnDelete.CASCADE)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='groupbuys', on_delete=OnDelete.CASCADE)),
                ('joined_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'groupbuy_participant', 'app': 'models', 'unique_together': (('groupbuy', 'member'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Order',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='orders', on_delete=OnDelete.CASCADE)),
                ('community', fields.ForeignKeyField('models.Community', source_field='community_id', db_constraint=True, to_field='id', related_name='orders', on_delete=OnDelete.CASCADE)),
                ('delivery_date', fields.DateField()),
                ('status', fields.CharField(default='placed', max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'orders', 'app': 'models', 'unique_together': (('member', 'community', 'delivery_date'),), 'pk_attr': 'id', 'table_description': 'The order of a member for one delivery date in one community.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OrderLine',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('order', fields.ForeignKeyField('models.Order', source_field='order_id', db_constraint=True, to_field='id', related_name='lines', on_delete=OnDelete.CASCADE)),
                ('sku', fields.CharField(max_length=32)),
                ('name', fields.CharField(max_length=64)),
                ('unit', fields.CharField(max_length=16)),
                ('price', fields.DecimalField(max_digits=12, decimal_places=2)),
                ('qty', fields.DecimalField(max_digits=12, decimal_places=3)),
                ('note', fields.CharField(default='', max_length=128)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'order_line', 'app': 'models', 'unique_together': (('order', 'sku'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OrderingDay',
            fields=[
                ('order_date', fields.DateField(primary_key=True, unique=True, db_index=True)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'ordering_day', 'app': 'models', 'pk_attr': 'order_date', 'table_description': 'One order date: when ordering for it was closed (cut-off, or /截单).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OutboxMessage',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('room', fields.CharField(null=True, max_length=128)),
                ('to', fields.CharField(null=True, max_length=128)),
                ('text', fields.TextField(unique=False)),
                ('mentions', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('broadcast', fields.BooleanField(default=False)),
                ('status', fields.CharField(default='pending', db_index=True, max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'outbox_message', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A message waiting to be sent, or sent. Written in the same transaction as the change'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Product',
            fields=[
                ('sku', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=32)),
                ('name', fields.CharField(max_length=64)),
                ('unit', fields.CharField(max_length=16)),
                ('price', fields.DecimalField(max_digits=12, decimal_places=2)),
                ('stock', fields.DecimalField(null=True, max_digits=12, decimal_places=3)),
                ('active', fields.BooleanField(default=True)),
                ('position', fields.IntField(default=0)),
                ('aliases', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'product', 'app': 'models', 'pk_attr': 'sku', 'table_description': 'The catalog, synced from the catalog file at start. Order lines copy name and price.'},
            bases=['Model'],
        ),
    ]
