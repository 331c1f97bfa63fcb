"""PostgreSQL: audit events partitioned by month of `created_at`
(declarative range partitioning), plus a default partition so that an insert
never fails for want of a partition. SQLite (`make run`) keeps a plain table:
this migration does nothing there, and the model state does not change.

What partitioning forces (docs/operations.md, "Audit partitions"):
- every unique index must contain the partition key: the primary key is
  (id, created_at) and the stream position is unique on (stream, seq,
  created_at). (stream, seq) alone is no longer enforced by an index; what
  keeps it unique is the stream head, which every writer locks or moves by
  compare-and-swap before appending, and verify_audit reports a duplicate
  position. `id` still comes from one identity sequence, so it stays unique.
- nothing may point at the events with a foreign key: nothing does
  (`integrations.WebhookDelivery.audit_event` has no database constraint).

The table is converted in place: renamed, a partitioned table with the same
columns, defaults, identity and indexes is created, one partition per month
from the oldest event to two months ahead, every row is copied (one INSERT …
SELECT), the identity continues after the highest id, the old table is
dropped. The append-only triggers are re-created on the new table: the row
trigger (UPDATE, DELETE) is cloned to every partition by PostgreSQL; the
TRUNCATE trigger is a statement trigger, which PostgreSQL does not inherit, so
it guards `TRUNCATE audit_auditevent` but not a TRUNCATE naming one partition.
The application role has no TRUNCATE privilege on any table, and no privilege
at all on partitions made after the migration; the owner can truncate one, as
it could always disable the triggers: the hash chains, checkpoints and anchors
are the evidence, and verify_audit reports the missing events.

`quorum_audit_partition_create(year, month)` (SECURITY DEFINER: the
application role owns nothing and cannot CREATE TABLE) makes one month's
partition, moving rows of that month out of the default partition first;
`quorum_audit_partitions_ensure(months_ahead)` makes the current month's and
the next ones. Both are idempotent; `manage.py audit_partitions` and a daily
beat task call the second.
"""

from django.db import migrations

FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION quorum_audit_partition_create(y integer, m integer) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    name text := format('audit_auditevent_p%s%s', lpad(y::text, 4, '0'), lpad(m::text, 2, '0'));
    lo timestamptz := make_timestamptz(y, m, 1, 0, 0, 0, 'UTC');
    hi timestamptz := make_timestamptz(y, m, 1, 0, 0, 0, 'UTC') + interval '1 month';
    moved bigint;
BEGIN
    IF to_regclass(name) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    -- Serializes partition makers (the beat task, the command, archive_partition).
    PERFORM pg_advisory_xact_lock(5842161);
    IF to_regclass(name) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE audit_auditevent INCLUDING DEFAULTS)', name);
    -- Rows of that month that went to the default partition are moved into the new one: the
    -- default partition must not hold rows of a range that gets its own partition.
    LOCK TABLE audit_auditevent_default IN ACCESS EXCLUSIVE MODE;
    EXECUTE format('INSERT INTO %I SELECT * FROM audit_auditevent_default WHERE created_at >= %L AND created_at < %L',
                   name, lo, hi);
    GET DIAGNOSTICS moved = ROW_COUNT;
    IF moved > 0 THEN
        ALTER TABLE audit_auditevent_default DISABLE TRIGGER USER;
        DELETE FROM audit_auditevent_default WHERE created_at >= lo AND created_at < hi;
        ALTER TABLE audit_auditevent_default ENABLE TRIGGER USER;
    END IF;
    EXECUTE format('ALTER TABLE audit_auditevent ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
    RETURN name;
END;
$$;

CREATE OR REPLACE FUNCTION quorum_audit_partitions_ensure(months_ahead integer) RETURNS SETOF text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    first date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
    made text;
BEGIN
    FOR i IN 0..greatest(months_ahead, 0) LOOP
        made := quorum_audit_partition_create(extract(year FROM first + make_interval(months => i))::int,
                                              extract(month FROM first + make_interval(months => i))::int);
        IF made IS NOT NULL THEN
            RETURN NEXT made;
        END IF;
    END LOOP;
END;
$$;
"""

CONVERT = r"""
ALTER TABLE audit_auditevent RENAME TO audit_auditevent_unpartitioned;
DROP TRIGGER audit_auditevent_no_update_delete ON audit_auditevent_unpartitioned;
DROP TRIGGER audit_auditevent_no_truncate ON audit_auditevent_unpartitioned;
ALTER TABLE audit_auditevent_unpartitioned RENAME CONSTRAINT audit_auditevent_pkey TO audit_auditevent_unpartitioned_pkey;
ALTER TABLE audit_auditevent_unpartitioned RENAME CONSTRAINT audit_event_stream_seq_unique TO audit_event_unpartitioned_stream_seq;
DROP INDEX audit_event_xid_idx, audit_event_created_idx, audit_event_actor_idx;
ALTER TABLE audit_auditevent_unpartitioned ALTER COLUMN id DROP IDENTITY;

CREATE TABLE audit_auditevent (LIKE audit_auditevent_unpartitioned INCLUDING DEFAULTS)
    PARTITION BY RANGE (created_at);
ALTER TABLE audit_auditevent ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY;
ALTER TABLE audit_auditevent ADD CONSTRAINT audit_auditevent_pkey PRIMARY KEY (id, created_at);
ALTER TABLE audit_auditevent ADD CONSTRAINT audit_event_stream_seq_unique UNIQUE (stream, seq, created_at);
CREATE INDEX audit_event_xid_idx ON audit_auditevent (xid, id);
CREATE INDEX audit_event_created_idx ON audit_auditevent (created_at);
CREATE INDEX audit_event_actor_idx ON audit_auditevent (actor_type, actor_id, created_at);
CREATE TABLE audit_auditevent_default PARTITION OF audit_auditevent DEFAULT;
"""

FILL = r"""
DO $$
DECLARE
    oldest date := date_trunc('month', coalesce((SELECT min(created_at) FROM audit_auditevent_unpartitioned), now())
                                       AT TIME ZONE 'UTC')::date;
    last date := date_trunc('month', now() AT TIME ZONE 'UTC')::date + interval '2 months';
    cur date := oldest;
BEGIN
    WHILE cur <= last LOOP
        PERFORM quorum_audit_partition_create(extract(year FROM cur)::int, extract(month FROM cur)::int);
        cur := cur + interval '1 month';
    END LOOP;
END $$;
INSERT INTO audit_auditevent OVERRIDING SYSTEM VALUE SELECT * FROM audit_auditevent_unpartitioned;
SELECT setval(pg_get_serial_sequence('audit_auditevent', 'id'),
              coalesce((SELECT max(id) FROM audit_auditevent_unpartitioned), 0) + 1, false);
DROP TABLE audit_auditevent_unpartitioned;
CREATE TRIGGER audit_auditevent_no_update_delete BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION quorum_audit_append_only();
CREATE TRIGGER audit_auditevent_no_truncate BEFORE TRUNCATE ON audit_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION quorum_audit_append_only();
"""

# Back to one plain table (every attached partition's rows; detached ones stay where they are).
REVERSE = r"""
ALTER TABLE audit_auditevent RENAME TO audit_auditevent_partitioned;
DROP TRIGGER audit_auditevent_no_update_delete ON audit_auditevent_partitioned;
DROP TRIGGER audit_auditevent_no_truncate ON audit_auditevent_partitioned;
ALTER TABLE audit_auditevent_partitioned RENAME CONSTRAINT audit_auditevent_pkey TO audit_auditevent_partitioned_pkey;
ALTER TABLE audit_auditevent_partitioned RENAME CONSTRAINT audit_event_stream_seq_unique TO audit_event_partitioned_stream_seq;
DROP INDEX audit_event_xid_idx, audit_event_created_idx, audit_event_actor_idx;
CREATE TABLE audit_auditevent (LIKE audit_auditevent_partitioned INCLUDING DEFAULTS);
ALTER TABLE audit_auditevent ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY;
INSERT INTO audit_auditevent OVERRIDING SYSTEM VALUE SELECT * FROM audit_auditevent_partitioned;
SELECT setval(pg_get_serial_sequence('audit_auditevent', 'id'),
              coalesce((SELECT max(id) FROM audit_auditevent), 0) + 1, false);
ALTER TABLE audit_auditevent_partitioned DISABLE TRIGGER USER;
DROP TABLE audit_auditevent_partitioned;
ALTER TABLE audit_auditevent ADD CONSTRAINT audit_auditevent_pkey PRIMARY KEY (id);
ALTER TABLE audit_auditevent ADD CONSTRAINT audit_event_stream_seq_unique UNIQUE (stream, seq);
CREATE INDEX audit_event_xid_idx ON audit_auditevent (xid, id);
CREATE INDEX audit_event_created_idx ON audit_auditevent (created_at);
CREATE INDEX audit_event_actor_idx ON audit_auditevent (actor_type, actor_id, created_at);
CREATE TRIGGER audit_auditevent_no_update_delete BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION quorum_audit_append_only();
CREATE TRIGGER audit_auditevent_no_truncate BEFORE TRUNCATE ON audit_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION quorum_audit_append_only();
DROP FUNCTION quorum_audit_partitions_ensure(integer);
DROP FUNCTION quorum_audit_partition_create(integer, integer);
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(CONVERT, None)
    schema_editor.execute(FUNCTIONS, None)
    schema_editor.execute(FILL, None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(REVERSE, None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0015_archives")]
    operations = [migrations.RunPython(forward, backward)]
