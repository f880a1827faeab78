from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0020_levels_birthdays')]

    initial = False

    operations = [
        ops.CreateModel(
            name='DayFigure',
            fields=[
                ('delivery_date', fields.DateField(primary_key=True, unique=True, db_index=True)),
                ('orders', fields.IntField()),
                ('households', fields.IntField()),
                ('revenue', fields.DecimalField(max_digits=12, decimal_places=2)),
                ('computed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'day_figure', 'app': 'models', 'pk_attr': 'delivery_date', 'table_description': 'One delivery date in figures (orders, households, revenue), kept for the dashboard.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SegmentDay',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('day', fields.DateField()),
                ('segment', fields.CharField(max_length=16)),
                ('community', fields.CharField(default='', max_length=64)),
                ('members', fields.IntField()),
            ],
            options={'table': 'segment_day', 'app': 'models', 'unique_together': (('day', 'segment', 'community'),), 'pk_attr': 'id', 'table_description': 'How many members a segment held on one day, in all (community empty) and per community:'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SignIn',
            fields=[
                ('token', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('staff', fields.CharField(max_length=128)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'sign_in', 'app': 'models', 'pk_attr': 'token', 'table_description': 'A dashboard link sent to a staff member by /看板: opened once, within minutes. Only a'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebSession',
            fields=[
                ('token', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('staff', fields.CharField(max_length=128)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'web_session', 'app': 'models', 'pk_attr': 'token', 'table_description': 'A staff member signed in to the dashboard: the cookie holds the token, this its hash.'},
            bases=['Model'],
        ),
        ops.AddIndex(
            model_name='Order',
            index=Index(fields=['delivery_date', 'status']),
        ),
    ]
