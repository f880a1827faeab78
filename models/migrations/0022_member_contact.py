from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields


class DropColumn(ops.RemoveField):
    """ALTER TABLE ... DROP COLUMN on both databases: tortoise 1.1's SQLite editor rebuilds the
    table instead, and dropping the old `member` table deletes (ON DELETE CASCADE) every row
    that refers to a member: orders, points, coupons."""

    async def database_forward(self, app_label, old_state, new_state, state_editor=None):  # type: ignore[no-untyped-def]
        if state_editor is not None:
            model = old_state.apps.get_model(f"{app_label}.{self.model_name}")
            await state_editor._run_sql(f'ALTER TABLE "{model._meta.db_table}" DROP COLUMN "{self.name}"')


class Migration(migrations.Migration):
    dependencies = [('models', '0021_dashboard')]

    initial = False

    operations = [
        ops.CreateModel(
            name='MemberContact',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='contacts', on_delete=OnDelete.CASCADE)),
                ('community', fields.ForeignKeyField('models.Community', source_field='community_id', db_constraint=True, to_field='id', related_name='contacts', on_delete=OnDelete.CASCADE)),
                ('address', fields.CharField(default='', max_length=128)),
                ('phone', fields.CharField(default='', max_length=32)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'member_contact', 'app': 'models', 'unique_together': (('member', 'community'),), 'pk_attr': 'id', 'table_description': "Where a member's orders in one community are delivered, and a phone for the driver:"},
            bases=['Model'],
        ),
        # What members gave before: one address and phone each, kept for their home community
        # (where their orders went; the case the old single address got wrong was the other),
        # or, without one, the community of their latest order.
        ops.RunSQL(
            "INSERT INTO member_contact (member_id, community_id, address, phone, updated_at) "
            "SELECT id, place, address, phone, last_seen FROM (SELECT id, address, phone, last_seen, "
            "COALESCE(home_id, (SELECT o.community_id FROM orders o WHERE o.member_id = member.id "
            "ORDER BY o.delivery_date DESC, o.id DESC LIMIT 1)) AS place FROM member "
            "WHERE address <> '' OR phone <> '') AS given WHERE place IS NOT NULL",
            reverse_sql="UPDATE member SET address = COALESCE((SELECT c.address FROM member_contact c "
                        "WHERE c.member_id = member.id AND c.community_id = member.home_id), ''), "
                        "phone = COALESCE((SELECT c.phone FROM member_contact c "
                        "WHERE c.member_id = member.id AND c.community_id = member.home_id), '')",
        ),
        DropColumn(model_name='Member', name='address'),
        DropColumn(model_name='Member', name='phone'),
    ]
