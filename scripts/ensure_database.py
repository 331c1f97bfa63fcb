"""`make run`'s first step: says which database and broker the settings chose
and makes sure the database can be reached. A PostgreSQL database that does
not exist yet is created (the server and the role must exist); anything else
ends with one line saying what is wrong and what to do, not a traceback.

Exit status: 0 ready, 1 the database cannot be reached, 2 a configuration error.
"""

import os
import re
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def mask(url: str) -> str:
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def create_postgres_database(db: dict) -> None:
    import psycopg
    from psycopg import sql

    params = {"host": db.get("HOST") or None, "port": db.get("PORT") or None, "user": db.get("USER") or None,
              "password": db.get("PASSWORD") or None, "dbname": "postgres", "connect_timeout": 10}
    with psycopg.connect(**{k: v for k, v in params.items() if v is not None}, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))


def main() -> int:
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.db.utils import OperationalError

    db = settings.DATABASES["default"]
    sqlite = db["ENGINE"].endswith("sqlite3")
    where = f"SQLite {db['NAME']}" if sqlite else mask(settings.DATABASE_URL)
    broker = settings.CELERY_BROKER_URL
    print(f"   database: {where}")
    files = f"files under {settings.VAR_DIR / 'celery-broker'}"
    print(f"   broker:   {files if broker.startswith('filesystem') else mask(broker)}")
    if settings.ENV_FILE:
        print(f"   settings: the process environment, then {settings.ENV_FILE}")
    try:
        connection.ensure_connection()
        return 0
    except OperationalError as exc:
        message = first_line(exc)
    if not sqlite and "does not exist" in message and f'"{db["NAME"]}"' in message:
        try:
            create_postgres_database(db)
        except Exception as exc:  # noqa: BLE001 - reported, with what to do
            print(f"run: database {db['NAME']!r} does not exist and could not be created: {first_line(exc)}\n"
                  f"     create it (createdb {db['NAME']}) or point DATABASE_URL at one that exists", file=sys.stderr)
            return 1
        print(f"   created database {db['NAME']!r}")
        return 0
    print(f"run: cannot connect to the database {where}: {message}\n"
          "     check DATABASE_URL (and that the server is running), or unset it to use SQLite under var/",
          file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.exit(main())
