from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

# Indexes the models declare that earlier migrations did not make: tortoise 1.1's AddField
# writes no index for db_index, and its SQLite editor rebuilt `orders` (0005) without the
# unique key and made no index for 0017's AlterField. Named as tortoise names them on
# PostgreSQL, where some exist: IF NOT EXISTS leaves those alone.
REPAIRS = [
    ("uid_orders_member__788657", "orders", "member_id, community_id, delivery_date, groupbuy_no", True),
    ("idx_orders_updated_68a8f1", "orders", "updated_at", False),
    ("idx_point_entry_expires_repair", "point_entry", "expires_at", False),
    ("idx_point_entry_remind_repair", "point_entry", "remind_at", False),
    ("idx_coupon_remind_repair", "coupon", "remind_at", False),
    ("idx_wallet_entry_order_repair", "wallet_entry", "order_id", False),
]


async def repair_indexes(apps, schema_editor):  # type: ignore[no-untyped-def]
    client = schema_editor.client
    for name, table, columns, unique in REPAIRS:
        if unique:
            doubled = await client.execute_query_dict(
                f"SELECT 1 AS doubled FROM {table} GROUP BY {columns} HAVING COUNT(*) > 1 LIMIT 1")
            if doubled:  # rows written while the key was missing: keep them, index without the key
                unique = False
        await client.execute_script(
            f"CREATE {'UNIQUE ' if unique else ''}INDEX IF NOT EXISTS {name} ON {table} ({columns})")


class Migration(migrations.Migration):
    dependencies = [('models', '0018_campaign_reached')]

    initial = False

    operations = [
        ops.RunPython(repair_indexes, ops.RunPython.noop),
        ops.AddIndex(
            model_name='CampaignMember',
            index=Index(fields=['member_id']),
        ),
        ops.AddIndex(
            model_name='Coupon',
            index=Index(fields=['member_id']),
        ),
        ops.AddIndex(
            model_name='Member',
            index=Index(fields=['referrer_id']),
        ),
        ops.AddIndex(
            model_name='Member',
            index=Index(fields=['home_id']),
        ),
        ops.AddIndex(
            model_name='PointEntry',
            index=Index(fields=['member_id']),
        ),
        ops.AddIndex(
            model_name='WalletEntry',
            index=Index(fields=['member_id']),
        ),
    ]
