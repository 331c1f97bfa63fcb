"""Small SQL helpers for hot bulk paths (PostgreSQL), with the ORM as the
portable fallback. Django's bulk_update builds one CASE expression per row and
field, which costs more Python time than the database spends on the update."""

from django.db import connection


def update_from_values(*, model, key, columns, rows):
    """UPDATE model's table from a VALUES list in one statement.

    `key` and `columns` are (field name, SQL type) pairs; `rows` are tuples
    (key value, *column values). Returns the number of rows updated."""
    if not rows:
        return 0
    table = model._meta.db_table
    names = [key[0]] + [name for name, _ in columns]
    if connection.vendor != "postgresql":
        objs = []
        for row in rows:
            obj = model(**{key[0]: row[0]})
            for (name, _), value in zip(columns, row[1:], strict=True):
                setattr(obj, name, value)
            objs.append(obj)
        return model.objects.bulk_update(objs, [name for name, _ in columns])
    db_columns = [model._meta.get_field(n).column for n in names]
    placeholder = "(" + ", ".join(f"%s::{sql_type}" for _, sql_type in [key, *columns]) + ")"
    sets = ", ".join(f"{col} = v.{col}" for col in db_columns[1:])
    sql = (
        f"UPDATE {table} AS t SET {sets} FROM (VALUES {', '.join([placeholder] * len(rows))}) "
        f"AS v({', '.join(db_columns)}) WHERE t.{db_columns[0]} = v.{db_columns[0]}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for row in rows for value in row])
        return cursor.rowcount
