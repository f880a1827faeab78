"""Many rows in one statement, for the batch writer (models.orderbook).

tortoise builds each query through pypika, which costs more than the database does for the
small writes of a chat order; `bulk_create` has no update or RETURNING. These helpers write
rows of a model (model instances, or any objects with the same attributes) with one prepared statement each (`executemany`), converting values the way
tortoise does (each field's `to_db_value`), so that what tortoise reads back is what it would
have written itself. They run on the caller's connection, inside its transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import asyncpg
from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.fields.base import Field
from tortoise.models import Model

T = TypeVar("T")

COPY_FROM = 20  # rows from which PostgreSQL gets them by COPY
CHUNK = 500  # rows per multi-row INSERT ... RETURNING (far below either database's parameter limit)


IN_MAX = 5000  # values in one IN list (asyncpg takes 32,767 parameters at most; a busy day has more)


def chunks(values: Sequence[T], share: int = 1) -> Iterator[list[T]]:
    """`values` a slice at a time, for IN lists with a bound (`share`: the statement holds that
    many such lists, each a share of the bound)."""
    size = max(1, IN_MAX // share)
    for start in range(0, len(values), size):
        yield list(values[start:start + size])


def _db() -> BaseDBAsyncClient:
    return connections.get("default")


class Statement:
    """A read written as SQL text in either database's dialect, its parameters gathered as the
    text is built (`mark`), sent by `rows`, which starts the next statement afresh."""

    def __init__(self) -> None:
        self.db = _db()
        self.postgres = self.db.capabilities.dialect == "postgres"
        self.params: list[Any] = []

    def mark(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}" if self.postgres else "?"

    def marks(self, values: Sequence[Any]) -> str:
        return ", ".join(self.mark(v) for v in values)

    async def rows(self, sql: str) -> list[dict[str, Any]]:
        params, self.params = self.params, []
        return await self.db.execute_query_dict(sql, params)


def _marks(db: BaseDBAsyncClient, count: int, start: int = 0) -> list[str]:
    if db.capabilities.dialect == "postgres":
        return [f"${i}" for i in range(start + 1, start + count + 1)]
    return ["?"] * count


def _column(model: type[Model], name: str) -> str:
    return f'"{model._meta.fields_db_projection[name]}"'


def _convert(model: type[Model], names: Sequence[str], values: Sequence[Any]) -> list[Any]:
    return [value if convert is None else convert(value, model)
            for convert, value in zip(_converters(model, tuple(names)), values)]


@functools.cache
def _converters(model: type[Model], names: tuple[str, ...]) -> list[Callable[[Any, Any], Any] | None]:
    """Each field's own to_db_value where it has one (datetimes, decimals, JSON); None for
    plain text, numbers and booleans, which go as they are: the batch makes those values
    itself, of the right type and cut to the column's length (the database still refuses what
    does not fit), so tortoise's cast and validators would only cost time."""
    fields = model._meta.fields_map
    return [None if type(fields[name]).to_db_value is Field.to_db_value else fields[name].to_db_value
            for name in names]


def _values(model: type[Model], names: Sequence[str], row: Any) -> list[Any]:
    return _convert(model, names, [getattr(row, name) for name in names])


def of(rows: Sequence[Any], names: Sequence[str]) -> list[tuple[Any, ...]]:
    """The values of those fields of each row (for `insert_many`)."""
    return [tuple(getattr(row, name) for name in names) for row in rows]


async def insert_many(model: type[Model], names: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """INSERT rows given as values in the order of `names` (Python values, converted here)."""
    if not rows:
        return
    db = _db()
    values = [_convert(model, names, row) for row in rows]
    connection = getattr(db, "_connection", None)  # inside a transaction: asyncpg's own connection
    if len(rows) >= COPY_FROM and isinstance(connection, asyncpg.Connection):
        # PostgreSQL's COPY takes many rows several times faster than one INSERT per row.
        columns = [model._meta.fields_db_projection[n] for n in names]
        await connection.copy_records_to_table(model._meta.db_table, records=values, columns=columns)
        return
    sql = (f'INSERT INTO "{model._meta.db_table}" ({", ".join(_column(model, n) for n in names)}) '
           f"VALUES ({', '.join(_marks(db, len(names)))})")
    await db.execute_many(sql, values)


async def insert_ignoring(model: type[Model], names: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """INSERT rows (values in the order of `names`), leaving out those a unique key already
    holds (ON CONFLICT DO NOTHING, which both databases know)."""
    if not rows:
        return
    db = _db()
    sql = (f'INSERT INTO "{model._meta.db_table}" ({", ".join(_column(model, n) for n in names)}) '
           f"VALUES ({', '.join(_marks(db, len(names)))}) ON CONFLICT DO NOTHING")
    await db.execute_many(sql, [_convert(model, names, row) for row in rows])


async def insert_returning(model: type[Model], names: Sequence[str], rows: Sequence[Any],
                           key: Sequence[str]) -> None:
    """INSERT every row and set each one's generated id, matched back on `key` (a unique key
    of the table: neither database promises RETURNING in VALUES order). Many rows on
    PostgreSQL: ids drawn from the table's sequence, rows sent by COPY."""
    db = _db()
    pk = model._meta.db_pk_column
    connection = getattr(db, "_connection", None)
    if len(rows) >= COPY_FROM and isinstance(connection, asyncpg.Connection):
        # PostgreSQL: take the ids from the table's sequence first, then COPY the rows with them.
        found = await connection.fetch(
            "SELECT nextval(pg_get_serial_sequence($1, $2)) AS id FROM generate_series(1, $3)",
            model._meta.db_table, pk, len(rows))
        for row, record in zip(rows, found):
            setattr(row, model._meta.pk_attr, record["id"])
        await insert_many(model, [model._meta.pk_attr, *names], of(rows, [model._meta.pk_attr, *names]))
        return
    columns = ", ".join(_column(model, n) for n in names)
    returned = ", ".join([f'"{pk}"', *(_column(model, k) for k in key)])
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start:start + CHUNK]
        groups: list[str] = []
        values: list[Any] = []
        for row in chunk:
            groups.append(f"({', '.join(_marks(db, len(names), len(values)))})")
            values.extend(_values(model, names, row))
        sql = f'INSERT INTO "{model._meta.db_table}" ({columns}) VALUES {", ".join(groups)} RETURNING {returned}'
        found = await db.execute_query_dict(sql, values)  # (execute_query returns no rows for an INSERT)
        # Keys compare as text: a date comes back as a date from PostgreSQL, as text from SQLite.
        projection = model._meta.fields_db_projection
        by_key = {tuple(str(getattr(row, k)) for k in key): row for row in chunk}
        for record in found:
            row = by_key.pop(tuple(str(record[projection[k]]) for k in key))
            setattr(row, model._meta.pk_attr, record[pk])
        if by_key:
            raise RuntimeError(f"{len(by_key)} row(s) of {model._meta.db_table} came back without an id")


def _where(model: type[Model], key: Sequence[str], marks: Sequence[str]) -> str:
    return " AND ".join(f"{_column(model, k)} = {m}" for k, m in zip(key, marks))


async def update_many(model: type[Model], names: Sequence[str], rows: Sequence[Any],
                      key: Sequence[str] = ("id",)) -> None:
    """UPDATE those columns of every row, found by `key` (a unique key: the primary key, or
    another when rows were inserted without reading their ids back)."""
    if not rows:
        return
    db = _db()
    marks = _marks(db, len(names) + len(key))
    sets = ", ".join(f"{_column(model, n)} = {m}" for n, m in zip(names, marks))
    sql = f'UPDATE "{model._meta.db_table}" SET {sets} WHERE {_where(model, key, marks[len(names):])}'
    await db.execute_many(sql, [_values(model, [*names, *key], row) for row in rows])


async def delete_many(model: type[Model], rows: Sequence[Any], key: Sequence[str] = ("id",)) -> None:
    if not rows:
        return
    db = _db()
    sql = f'DELETE FROM "{model._meta.db_table}" WHERE {_where(model, key, _marks(db, len(key)))}'
    await db.execute_many(sql, [_values(model, key, row) for row in rows])


async def select_in(model: type[Model], names: Sequence[str], key: str, values: Sequence[Any],
                    equal: dict[str, Any] | None = None, lock: bool = False) -> list[dict[str, Any]]:
    """The rows whose `key` is one of `values` (and whose `equal` fields have those values), as
    dicts of Python values, in primary key order; `lock`: FOR UPDATE (PostgreSQL)."""
    if not values:
        return []
    db = _db()
    equal = equal or {}
    marks = _marks(db, len(values) + len(equal))
    where = [f"{_column(model, key)} IN ({', '.join(marks[:len(values)])})",
             *(f"{_column(model, name)} = {mark}" for name, mark in zip(equal, marks[len(values):]))]
    pk = model._meta.db_pk_column
    sql = (f'SELECT {", ".join(_column(model, n) for n in names)} FROM "{model._meta.db_table}" '
           f'WHERE {" AND ".join(where)} ORDER BY "{pk}"{" FOR UPDATE" if lock else ""}')
    fields, projection = model._meta.fields_map, model._meta.fields_db_projection
    params = [fields[key].to_db_value(v, model) for v in values]
    params += [fields[name].to_db_value(v, model) for name, v in equal.items()]
    found = await db.execute_query_dict(sql, params)
    return [{n: fields[n].to_python_value(row[projection[n]]) for n in names} for row in found]
