from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0019_member_lookups')]

    initial = False

    operations = [
        ops.CreateModel(
            name='LevelNotice',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='level_notices', on_delete=OnDelete.CASCADE)),
                ('period_end', fields.DateField()),
                ('kind', fields.CharField(max_length=8)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'level_notice', 'app': 'models', 'unique_together': (('member', 'period_end', 'kind'),), 'pk_attr': 'id', 'table_description': "A 保级 reminder, or a level lost, for one member and month's end: once each. Only a"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OrderRate',
            fields=[
                ('order_id', fields.IntField(primary_key=True, generated=False, unique=True, db_index=True)),
                ('multiplier', fields.DecimalField(max_digits=6, decimal_places=2)),
                ('level', fields.IntField()),
                ('birthday', fields.BooleanField()),
                ('decided_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'order_rate', 'app': 'models', 'pk_attr': 'order_id', 'table_description': 'The points multiplier a delivered order earns at, fixed when it is first delivered: the'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='CampaignMember',
            name='fill',
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='Member',
            name='birthday',
            field=fields.CharField(default='', db_default='', max_length=5),
        ),
        ops.AddField(
            model_name='Member',
            name='birthday_set_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Member',
            name='level',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='Member',
            name='level_since',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddIndex(
            model_name='Member',
            index=Index(fields=['birthday']),
        ),
    ]
