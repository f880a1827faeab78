"""Data: tortoise-orm tables, the services that change them in transactions, and migrations."""
