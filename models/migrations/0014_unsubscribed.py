from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0013_points_that_buy')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Member',
            name='unsubscribed',
            field=fields.BooleanField(default=False, db_default=False),
        ),
    ]
