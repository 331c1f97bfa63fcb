"""Least privilege on PostgreSQL: the application role, connected directly
(as production connects), is refused every statement that could rewrite or
wipe the audit trail; the owner is stopped by the trigger; the system check
names a connection that is too powerful."""

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from audit.checks import check_application_role
from audit.dbroles import APPEND_ONLY_TABLES
from audit.models import AuditCheckpoint, AuditEvent
from audit.services import CONFIG_STREAM, audit_checkpoint_create
from tests.audit.conftest import record
from tests.dbroles import as_owner

pytestmark = pytest.mark.django_db(transaction=True)


def connect_as(role):
    s = connection.settings_dict
    return psycopg.connect(host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432, user=role, dbname=s["NAME"],
                           autocommit=True)


@pytest.fixture
def trail():
    record(CONFIG_STREAM)
    record(CONFIG_STREAM)
    return audit_checkpoint_create()


@pytest.fixture
def app_db(trail):
    with connect_as(settings.DATABASE_APP_ROLE) as conn:
        yield conn


def refused(conn, statement, *fragments):
    with pytest.raises(psycopg.Error) as caught:
        conn.execute(statement)
    message = str(caught.value)
    assert any(f in message for f in fragments), message
    return message


ATTACKS = [
    "UPDATE audit_auditevent SET data = '{\"outcome\": \"no_violation\"}'::jsonb",
    "DELETE FROM audit_auditevent",
    "TRUNCATE audit_auditevent",
    "TRUNCATE audit_auditevent, audit_auditcheckpoint, audit_auditstreamhead",
    "UPDATE audit_auditcheckpoint SET hash = repeat('0', 64)",
    "DELETE FROM audit_auditcheckpoint",
    "TRUNCATE audit_auditcheckpoint",
]


@pytest.mark.parametrize("statement", ATTACKS)
def test_the_app_role_cannot_rewrite_or_wipe_the_trail(app_db, statement):
    refused(app_db, statement, "permission denied")
    assert AuditEvent.objects.count() == 2 and AuditCheckpoint.objects.count() == 1


@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
@pytest.mark.parametrize("statement", [
    "ALTER TABLE {t} DISABLE TRIGGER USER", "ALTER TABLE {t} DISABLE TRIGGER ALL", "DROP TRIGGER {t}_no_update_delete ON {t}",
    "ALTER TABLE {t} ADD COLUMN x int", "DROP TABLE {t}", "ALTER TABLE {t} OWNER TO CURRENT_USER",
])
def test_the_app_role_cannot_disable_triggers_alter_or_drop(app_db, table, statement):
    refused(app_db, statement.format(t=table), "must be owner", "permission denied")


def test_the_old_truncate_bypass_setting_gives_the_app_role_nothing(app_db):
    app_db.execute("SET quorum.allow_audit_truncate = 'on'")
    refused(app_db, "TRUNCATE audit_auditevent, audit_auditcheckpoint", "permission denied")


def test_the_app_role_cannot_replace_the_trigger_function_or_create_objects(app_db):
    refused(app_db, "CREATE OR REPLACE FUNCTION quorum_audit_append_only() RETURNS trigger LANGUAGE plpgsql "
                    "AS $$ BEGIN RETURN NULL; END; $$", "must be owner", "permission denied")
    refused(app_db, "CREATE TABLE audit_shadow (id int)", "permission denied")
    refused(app_db, "SET session_replication_role = replica", "permission denied")


def test_the_app_role_owns_nothing_and_is_no_superuser(app_db):
    owned = app_db.execute("SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles "
                           "WHERE rolname = current_user)").fetchone()[0]
    superuser, createrole, createdb = app_db.execute(
        "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user").fetchone()
    assert (owned, superuser, createrole, createdb) == (0, False, False, False)


def test_the_app_role_may_read_and_append_and_move_heads(app_db):
    privileges = dict(app_db.execute(
        "SELECT p, has_table_privilege(current_user, 'audit_auditevent', p) FROM unnest(ARRAY['SELECT', 'INSERT', "
        "'UPDATE', 'DELETE', 'TRUNCATE', 'TRIGGER', 'REFERENCES']) AS p").fetchall())
    assert privileges == {"SELECT": True, "INSERT": True, "UPDATE": False, "DELETE": False, "TRUNCATE": False,
                          "TRIGGER": False, "REFERENCES": False}
    head_update = app_db.execute("SELECT has_table_privilege(current_user, 'audit_auditstreamhead', 'UPDATE')")
    assert head_update.fetchone()[0] is True  # the head is a working index, not evidence
    # The application itself keeps working as that role: a new event and a checkpoint.
    record(CONFIG_STREAM)
    assert audit_checkpoint_create().number == 2


def test_even_the_owner_is_stopped_by_the_trigger_until_it_disables_it(trail):
    with pytest.raises(Exception, match="append-only"), as_owner() as cursor:
        cursor.execute("TRUNCATE audit_auditevent")
    with pytest.raises(Exception, match="append-only"), as_owner() as cursor:
        cursor.execute("UPDATE audit_auditevent SET actor_name = 'x'")
    assert AuditEvent.objects.count() == 2


def test_system_check_warns_about_an_owner_or_superuser_connection(trail):
    assert check_application_role(databases=["default"]) == []  # the suite acts as the application role
    with as_owner():
        warnings = check_application_role(databases=["default"])
    assert [w.id for w in warnings] and {w.id for w in warnings} == {"quorum.W001"}
    assert any("owns" in w.msg for w in warnings)
    assert check_application_role(databases=None) == []  # only with --database
