from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0007_member_ask')]

    initial = False

    operations = [
        ops.CreateModel(
            name='StaffRequest',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('kind', fields.CharField(max_length=16)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='requests', on_delete=OnDelete.CASCADE)),
                ('amount', fields.DecimalField(max_digits=12, decimal_places=2)),
                ('reason', fields.CharField(default='', max_length=128)),
                ('asked_by', fields.CharField(max_length=128)),
                ('source', fields.CharField(unique=True, max_length=96)),
                ('state', fields.CharField(default='waiting', max_length=16)),
                ('decided_by', fields.CharField(default='', max_length=128)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'staff_request', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A top-up or refund over `[wallet] confirm_over`: waits for `/确认` from another staff member.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WalletEntry',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='wallet_entries', on_delete=OnDelete.CASCADE)),
                ('delta', fields.DecimalField(max_digits=12, decimal_places=2)),
                ('principal', fields.DecimalField(max_digits=12, decimal_places=2)),
                ('bonus', fields.DecimalField(max_digits=12, decimal_places=2)),
                ('balance', fields.DecimalField(max_digits=12, decimal_places=2)),
                ('principal_after', fields.DecimalField(max_digits=12, decimal_places=2)),
                ('reason', fields.CharField(max_length=64)),
                ('source', fields.CharField(unique=True, max_length=96)),
                ('actor', fields.CharField(max_length=128)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'wallet_entry', 'app': 'models', 'pk_attr': 'id', 'table_description': "One change of a member's stored value: the wallet ledger, append-only. `principal` and"},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Member',
            name='wallet_bonus',
            field=fields.DecimalField(default=0, db_default=0, max_digits=12, decimal_places=2),
        ),
        ops.AddField(
            model_name='Member',
            name='wallet_principal',
            field=fields.DecimalField(default=0, db_default=0, max_digits=12, decimal_places=2),
        ),
    ]
