from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0012_coupon_reminders')]

    initial = False

    operations = [
        ops.CreateModel(
            name='PointDraw',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('entry', fields.ForeignKeyField('models.PointEntry', source_field='entry_id', db_constraint=True, to_field='id', related_name='draws', on_delete=OnDelete.CASCADE)),
                ('earning', fields.ForeignKeyField('models.PointEntry', source_field='earning_id', db_constraint=True, to_field='id', related_name='drawn', on_delete=OnDelete.CASCADE)),
                ('points', fields.IntField()),
            ],
            options={'table': 'point_draw', 'app': 'models', 'pk_attr': 'id', 'table_description': 'What a negative ledger row took from one earning.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Coupon',
            name='gift',
            field=fields.CharField(default='', db_default='', max_length=32),
        ),
        ops.AlterModelOptions(
            name='PointEntry',
            options={'table': 'point_entry', 'app': 'models', 'pk_attr': 'id', 'table_description': "One change of a member's available points: the ledger. The balance on the member is its"},
        ),
        ops.AddField(
            model_name='PointEntry',
            name='expires_at',
            field=fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='PointEntry',
            name='remaining',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='PointEntry',
            name='remind_at',
            field=fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False),
        ),
        # Points booked before this migration were one running balance: each member's latest
        # entry carries it all, as one earning that never expires (sum of what is left = balance).
        ops.RunSQL(
            "UPDATE point_entry SET remaining = (SELECT points FROM member WHERE member.id = point_entry.member_id) "
            "WHERE id IN (SELECT MAX(id) FROM point_entry GROUP BY member_id)",
            reverse_sql="UPDATE point_entry SET remaining = 0",
        ),
    ]
