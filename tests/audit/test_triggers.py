"""On PostgreSQL the audit tables are append-only: UPDATE, DELETE and TRUNCATE
are refused by a trigger, through the ORM and through raw SQL alike — even
for the owner role, which these tests act as (the application role is
refused these statements by its privileges already: tests/security/)."""

import pytest
from django.db import DatabaseError, ProgrammingError, connection

from audit.models import AuditCheckpoint, AuditEvent, AuditStreamHead
from audit.services import CONFIG_STREAM, audit_checkpoint_create
from audit.verify import verify_audit
from tests.dbroles import as_owner

from .conftest import AUDIT_TABLES, record

pytestmark = pytest.mark.django_db


@pytest.fixture
def trail():
    record(CONFIG_STREAM)
    record(CONFIG_STREAM)
    return audit_checkpoint_create()


def refused(sql, params=()):
    """Runs `sql` in a savepoint and returns the database's error message."""
    with pytest.raises(ProgrammingError) as caught, as_owner() as cursor:
        cursor.execute(sql, params)
    message = str(caught.value)
    assert "append-only" in message
    return message


def test_triggers_are_installed_and_enabled():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, t.tgname, t.tgenabled FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE NOT t.tgisinternal AND t.tgparentid = 0 AND c.relname LIKE 'audit_%%' ORDER BY 1, 2"
        )
        rows = cursor.fetchall()
        # Every monthly partition of the events (and the default one) has the row trigger, cloned by PostgreSQL.
        cursor.execute(
            "SELECT c.relname, t.tgname, t.tgenabled FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "LEFT JOIN pg_trigger t ON t.tgrelid = c.oid AND t.tgparentid <> 0 "
            "WHERE i.inhparent = 'audit_auditevent'::regclass ORDER BY 1"
        )
        partitions = cursor.fetchall()
    assert rows == [
        (table, f"{table}_{kind}", "O") for table in sorted(AUDIT_TABLES) for kind in ("no_truncate", "no_update_delete")
    ]
    assert len(partitions) >= 4 and "audit_auditevent_default" in {name for name, _t, _e in partitions}
    assert {(t, e) for _name, t, e in partitions} == {("audit_auditevent_no_update_delete", "O")}


@pytest.mark.parametrize("table", AUDIT_TABLES)
def test_update_is_refused(trail, table):
    message = refused(f"UPDATE {table} SET hash = %s", ["f" * 64])
    assert f"UPDATE on {table}" in message


@pytest.mark.parametrize("table", AUDIT_TABLES)
def test_delete_is_refused(trail, table):
    message = refused(f"DELETE FROM {table}")
    assert f"DELETE on {table}" in message


@pytest.mark.parametrize("table", AUDIT_TABLES)
def test_truncate_is_refused(trail, table):
    message = refused(f"TRUNCATE {table}")
    assert f"TRUNCATE on {table}" in message


def test_truncate_of_both_tables_at_once_is_refused(trail):
    refused("TRUNCATE audit_auditevent, audit_auditcheckpoint, audit_auditstreamhead")


def test_orm_updates_and_deletes_are_refused(trail):
    event = AuditEvent.objects.first()
    event.data = {"n": 2}
    for attempt in (
        lambda: event.save(),
        lambda: AuditEvent.objects.filter(pk=event.pk).update(actor_name="someone else"),
        lambda: AuditEvent.objects.filter(pk=event.pk).delete(),
        lambda: event.delete(),
        lambda: AuditCheckpoint.objects.update(hash="0" * 64),
        lambda: AuditCheckpoint.objects.all().delete(),
    ):
        with pytest.raises(DatabaseError, match="append-only"), as_owner():
            attempt()
    assert AuditEvent.objects.count() == 2 and AuditCheckpoint.objects.count() == 1
    assert verify_audit().ok


def test_inserts_are_allowed_and_the_stream_head_table_stays_writable(trail):
    # The head is a working index that writers move on every append.
    assert AuditStreamHead.objects.filter(stream=CONFIG_STREAM).update(dirty=True) == 1
    record(CONFIG_STREAM)
    assert AuditEvent.objects.count() == 3


def test_the_old_session_bypass_setting_no_longer_allows_truncate(trail):
    with connection.cursor() as cursor:
        cursor.execute("SET quorum.allow_audit_truncate = 'on'")
    refused("TRUNCATE audit_auditevent, audit_auditcheckpoint")
    assert AuditEvent.objects.count() == 2 and AuditCheckpoint.objects.count() == 1
