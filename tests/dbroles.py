"""The two PostgreSQL roles of the test suite (config/test_settings.py):
created once per run by the login of DATABASE_URL, the owner for migrations
and for emptying tables, the application role for everything else."""

from contextlib import contextmanager

import psycopg
from django.conf import settings
from django.db import connection, transaction
from psycopg import sql


def admin_connect(dbname="postgres", **kwargs):
    admin = settings.TEST_DB_ADMIN
    return psycopg.connect(host=admin["HOST"] or "127.0.0.1", port=admin["PORT"] or 5432, user=admin["USER"],
                           password=admin["PASSWORD"] or None, dbname=dbname, **kwargs)


def ensure_roles(test_database_name):
    """Creates the owner (may create databases, no superuser) and the
    application role (nothing but login) if missing; hands an existing test
    database left by an older run to the owner, so that it can drop it."""
    owner, app = settings.DATABASE_OWNER_ROLE, settings.DATABASE_APP_ROLE
    with admin_connect(autocommit=True) as conn:
        for role, options in ((owner, "LOGIN CREATEDB NOSUPERUSER NOCREATEROLE"),
                              (app, "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE")):
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
                conn.execute(sql.SQL("CREATE ROLE {} " + options).format(sql.Identifier(role)))
        # The owner may SET ROLE to the application role (membership), never the other way round.
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(app), sql.Identifier(owner)))
        # In production every application session logs in as the application role and sees its
        # own sessions' xids in pg_stat_activity (the webhook tail's watermark reads them). Here
        # sessions log in as the owner and SET ROLE, so the application role needs to read stats.
        conn.execute(sql.SQL("GRANT pg_read_all_stats TO {}").format(sql.Identifier(app)))
        conn.execute(sql.SQL("ALTER ROLE {} INHERIT").format(sql.Identifier(app)))
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [test_database_name]).fetchone():
            conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(test_database_name),
                                                                       sql.Identifier(owner)))


@contextmanager
def as_owner(conn=None):
    """The Django connection acts as the owner role inside this block (in a
    transaction or savepoint), then as the application role again. If the
    block raises, rolling the savepoint back undoes the RESET ROLE too."""
    conn = conn or connection
    with transaction.atomic(using=conn.alias), conn.cursor() as cursor:
        cursor.execute("RESET ROLE")
        yield cursor
        cursor.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(settings.DATABASE_APP_ROLE)).as_string(
            cursor.connection))


AUDIT_TABLES = ("audit_auditevent", "audit_auditcheckpoint")


def flush_as_owner(ops, sql_list):
    """DatabaseOperations.execute_sql_flush for the tests: the owner empties
    the tables, with the append-only triggers disabled inside that one
    transaction (the application role can do neither)."""
    with as_owner(ops.connection) as cursor:
        for table in AUDIT_TABLES:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        for statement in sql_list:
            cursor.execute(statement)
        for table in AUDIT_TABLES:
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
