from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

# Indexes for a shop with a year of history (issue 21): a member's orders of a date (the unique
# key leads with the member, then walks her whole history), a group-buy's orders, the last
# minute's sends at start, a day's stock rows, a day's top-ups and refunds.


class IndexField(ops.AlterField):
    """A field that gains db_index: the index made with CREATE INDEX (tortoise 1.1's SQLite
    editor rebuilds the table for an AlterField, losing the table's other indexes)."""

    async def database_forward(self, app_label, old_state, new_state, state_editor=None):  # type: ignore[no-untyped-def]
        if state_editor is not None:
            model = new_state.apps.get_model(f"{app_label}.{self.model_name}")
            table = model._meta.db_table
            await state_editor._run_sql(f'CREATE INDEX IF NOT EXISTS "idx_{table}_{self.name}" ON "{table}" ("{self.name}")')

    async def database_backward(self, app_label, old_state, new_state, state_editor=None):  # type: ignore[no-untyped-def]
        if state_editor is not None:
            model = old_state.apps.get_model(f"{app_label}.{self.model_name}")
            await state_editor._run_sql(f'DROP INDEX IF EXISTS "idx_{model._meta.db_table}_{self.name}"')


class Migration(migrations.Migration):
    dependencies = [('models', '0022_member_contact')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='Order',
            index=Index(fields=['member_id', 'delivery_date']),
        ),
        ops.AddIndex(
            model_name='Order',
            index=Index(fields=['groupbuy_no']),
        ),
        ops.AddIndex(
            model_name='OutboxMessage',
            index=Index(fields=['status', 'sent_at']),
        ),
        ops.AddIndex(
            model_name='StockDay',
            index=Index(fields=['delivery_date']),
        ),
        IndexField(
            model_name='WalletEntry',
            name='created_at',
            field=fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False),
        ),
    ]
