"""Small SQL helpers for hot bulk paths (PostgreSQL), with the ORM as the
portable fallback. Django's bulk_update builds one CASE expression per row and
field, which costs more Python time than the database spends on the update."""

import json
from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import Field, Model
from django.db.models.sql import InsertQuery

Statement = tuple[str, list[Any]]
Column = tuple[str, str]  # (field name, SQL type)


def update_from_values_sql(*, model: type[Model], key: Column, columns: Sequence[Column],
                           rows: Sequence[Sequence[Any]]) -> Statement:
    """The PostgreSQL statement update_from_values sends (for `together`)."""
    table = model._meta.db_table
    names = [key[0]] + [name for name, _ in columns]
    db_columns = [_column(model, n) for n in names]
    placeholder = "(" + ", ".join(f"%s::{sql_type}" for _, sql_type in [key, *columns]) + ")"
    sets = ", ".join(f"{col} = v.{col}" for col in db_columns[1:])
    sql = (
        f"UPDATE {table} AS t SET {sets} FROM (VALUES {', '.join([placeholder] * len(rows))}) "
        f"AS v({', '.join(db_columns)}) WHERE t.{db_columns[0]} = v.{db_columns[0]}"
    )
    return sql, [value for row in rows for value in row]


def _column(model: type[Model], name: str) -> str:
    """The column of a concrete field; a relation without one (reverse, many-to-many) is a caller's mistake."""
    field = model._meta.get_field(name)
    if not isinstance(field, Field) or field not in model._meta.concrete_fields or not field.column:
        raise ValueError(f"{model.__name__}.{name} is not a column of {model._meta.db_table}")
    return field.column


def update_from_values(*, model: type[Model], key: Column, columns: Sequence[Column],
                       rows: Sequence[Sequence[Any]]) -> int:
    """UPDATE model's table from a VALUES list in one statement.

    `key` and `columns` are (field name, SQL type) pairs; `rows` are tuples
    (key value, *column values). Returns the number of rows updated."""
    if not rows:
        return 0
    if connection.vendor != "postgresql":
        objs = []
        for row in rows:
            obj = model(**{key[0]: row[0]})
            for (name, _), value in zip(columns, row[1:], strict=True):
                setattr(obj, name, value)
            objs.append(obj)
        return model._default_manager.bulk_update(objs, [name for name, _ in columns])
    with connection.cursor() as cursor:
        cursor.execute(*update_from_values_sql(model=model, key=key, columns=columns, rows=rows))
        return cursor.rowcount


def insert_sql(objs: Sequence[Model]) -> Statement:
    """The INSERT that bulk_create would send for unsaved instances of one
    model whose primary keys are set (no RETURNING), for `together`."""
    model = type(objs[0])
    query = InsertQuery(model)
    query.insert_values(model._meta.concrete_fields, list(objs))
    [(sql, params)] = query.get_compiler(connection=connection).as_sql()
    for obj in objs:
        obj._state.adding = False
        obj._state.db = connection.alias
    return sql, list(params)


def together(statements: list[Statement], main: Statement | None = None) -> list[tuple[Any, ...]]:
    """Sends data-modifying statements in one round trip: `WITH w0 AS (…),
    w1 AS (…) main` (main defaults to `SELECT 1`); returns main's rows
    (nothing is sent for no statements and no main).

    PostgreSQL runs each part exactly once and to completion, all on one
    snapshot: no part may need another's rows (callers make ids in Python),
    and a constraint violation in any part fails the whole statement. Other
    databases get the statements one by one."""
    if not statements and main is None:
        return []
    main_sql, main_params = main or ("SELECT 1", [])
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            for sql, params in statements:
                cursor.execute(sql, params)
            cursor.execute(main_sql, main_params)
            return cursor.fetchall()
        if not statements:
            cursor.execute(main_sql, main_params)
            return cursor.fetchall()
        parts = ", ".join(f"w{i} AS ({sql})" for i, (sql, _params) in enumerate(statements))
        params = [p for _sql, ps in statements for p in ps] + list(main_params)
        cursor.execute(f"WITH {parts} {main_sql}", params)
        return cursor.fetchall()


# For many rows: one array parameter per column (unnest). A statement with a placeholder per value
# is parsed and bound on the client each time (psycopg caches only short statements), which cost a
# sweep of 1,000 rows more than the database spent on it.
def update_from_arrays_sql(*, model: type[Model], key: Column, columns: Sequence[Column],
                           rows: Sequence[Sequence[Any]]) -> Statement:
    """update_from_values_sql with one array parameter per column (PostgreSQL)."""
    table = model._meta.db_table
    names = [key[0]] + [name for name, _ in columns]
    db_columns = [_column(model, n) for n in names]
    sets = ", ".join(f"{col} = v.{col}" for col in db_columns[1:])
    arrays = ", ".join(f"%s::{sql_type}[]" for _, sql_type in [key, *columns])
    sql = (f"UPDATE {table} AS t SET {sets} FROM unnest({arrays}) AS v({', '.join(db_columns)}) "
           f"WHERE t.{db_columns[0]} = v.{db_columns[0]}")
    return sql, [list(column) for column in zip(*rows, strict=True)]


def insert_from_arrays_sql(objs: Sequence[Model]) -> Statement:
    """insert_sql for many unsaved instances of one model (primary keys set),
    one array parameter per column (PostgreSQL). Values go as Python holds
    them (JSON fields as JSON text), so only fields psycopg adapts natively."""
    from django.db.models import JSONField

    model = type(objs[0])
    fields = model._meta.concrete_fields
    arrays: list[str] = []
    params: list[Any] = []
    for field in fields:
        values = [getattr(obj, field.attname) for obj in objs]
        if isinstance(field, JSONField):
            values = [json.dumps(v) for v in values]
            arrays.append("%s::jsonb[]")
        else:
            arrays.append(f"%s::{field.cast_db_type(connection)}[]")  # type: ignore[attr-defined]  # Django API the stubs omit
        params.append(values)
    for obj in objs:
        obj._state.adding = False
        obj._state.db = connection.alias
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    return f"INSERT INTO {model._meta.db_table} ({columns}) SELECT * FROM unnest({', '.join(arrays)})", params
