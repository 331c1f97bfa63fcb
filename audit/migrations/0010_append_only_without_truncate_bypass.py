"""The append-only trigger no longer has a per-session TRUNCATE bypass
(`quorum.allow_audit_truncate`, which any session could set): UPDATE, DELETE
and TRUNCATE of audit events and checkpoints are refused for every role. The
application role cannot disable the trigger (it owns no table); the owner
role can, and is kept for migrations (docs/security.md). The test suite
empties tables as the owner, with the trigger disabled inside that
transaction (tests/dbroles.py)."""

from django.db import migrations

STRICT = """
CREATE OR REPLACE FUNCTION quorum_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: %% on %% is not allowed', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""

WITH_BYPASS = """
CREATE OR REPLACE FUNCTION quorum_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND current_setting('quorum.allow_audit_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'the audit trail is append-only: %% on %% is not allowed', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(STRICT)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(WITH_BYPASS)


class Migration(migrations.Migration):
    dependencies = [("audit", "0009_keyed_hashes_and_anchors")]
    operations = [migrations.RunPython(forward, backward)]
