from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0017_facts_current')]

    initial = False

    operations = [
        ops.AddField(
            model_name='CampaignMember',
            name='message_id',
            field=fields.IntField(null=True),
        ),
    ]
