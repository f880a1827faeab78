from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.migrations.constraints import UniqueConstraint


class RemoveInlineUnique(ops.RemoveConstraint):
    """tortoise 1.1's SQLite editor drops a unique_together as an index, but CreateModel wrote
    it inline in the table (no such index): on SQLite the table is rebuilt without it."""

    async def database_forward(self, app_label, old_state, new_state, state_editor=None):  # type: ignore[no-untyped-def]
        if state_editor is not None and state_editor.DIALECT == "sqlite":
            await state_editor._remake_table(new_state.apps.get_model(f"{app_label}.{self.model_name}"))
            return
        await super().database_forward(app_label, old_state, new_state, state_editor)


class Migration(migrations.Migration):
    dependencies = [('models', '0004_lines_and_files')]

    initial = False

    operations = [
        ops.CreateModel(
            name='PointEntry',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='point_entries', on_delete=OnDelete.CASCADE)),
                ('delta', fields.IntField()),
                ('balance', fields.IntField()),
                ('reason', fields.CharField(max_length=64)),
                ('source', fields.CharField(db_index=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'point_entry', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One change of a member points: the ledger. The balance on the member is its sum.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ReferralVisit',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('inviter', fields.ForeignKeyField('models.Member', source_field='inviter_id', db_constraint=True, to_field='id', related_name='link_visits', on_delete=OnDelete.CASCADE)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('agent', fields.CharField(default='', max_length=200)),
            ],
            options={'table': 'referral_visit', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Someone opened a referral link.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='GroupBuy',
            name='closed_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='GroupBuy',
            name='delivery_date',
            field=fields.DateField(null=True),
        ),
        ops.AddField(
            model_name='GroupBuy',
            name='name',
            field=fields.CharField(default='', db_default='', max_length=64),
        ),
        ops.AddField(
            model_name='GroupBuy',
            name='progress_shown',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name='GroupBuy',
            name='unit',
            field=fields.CharField(default='', db_default='', max_length=16),
        ),
        ops.AddField(
            model_name='GroupBuyParticipant',
            name='community',
            field=fields.ForeignKeyField('models.Community', source_field='community_id', null=True, db_constraint=True, to_field='id', related_name='groupbuy_joins', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='Member',
            name='code',
            field=fields.CharField(null=True, unique=True, max_length=16),
        ),
        ops.AddField(
            model_name='Member',
            name='referred_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Member',
            name='referred_via',
            field=fields.CharField(default='', db_default='', max_length=8),
        ),
        RemoveInlineUnique(
            model_name='Order',
            name=None,
            fields=['member', 'community', 'delivery_date'],
        ),
        ops.AddField(
            model_name='Order',
            name='groupbuy_no',
            field=fields.IntField(default=0, db_default=0),
        ),
        # Group-buys opened before this migration: their product name and unit from the catalog.
        ops.RunSQL([
            "UPDATE groupbuy SET name = COALESCE((SELECT p.name FROM product p WHERE p.sku = groupbuy.sku), sku), "
            "unit = COALESCE((SELECT p.unit FROM product p WHERE p.sku = groupbuy.sku), '') WHERE name = ''",
        ], reverse_sql=[]),
        ops.AddConstraint(
            model_name='Order',
            constraint=UniqueConstraint(fields=('member', 'community', 'delivery_date', 'groupbuy_no'), name=None),
        ),
    ]
