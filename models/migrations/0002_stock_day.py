from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='StockDay',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('sku', fields.CharField(max_length=32)),
                ('delivery_date', fields.DateField()),
                ('taken', fields.DecimalField(default=0, max_digits=12, decimal_places=3)),
                ('sold_out_announced', fields.BooleanField(default=False)),
            ],
            options={'table': 'stock_day', 'app': 'models', 'unique_together': (('sku', 'delivery_date'),), 'pk_attr': 'id', 'table_description': 'How much of a limited product is taken for one delivery date. Changed only under a row'},
            bases=['Model'],
        ),
    ]
