"""Least privilege on PostgreSQL: what the application role may do.

Migrations run as the owner role (it owns every table). After `migrate`, the
owner grants the application role (settings.DATABASE_APP_ROLE) plain data
access to every table, except the evidence: on the audit events and
checkpoints only SELECT and INSERT. No TRUNCATE, REFERENCES or TRIGGER
anywhere; owning nothing, the application role cannot ALTER a table or
disable its triggers. docs/security.md has the role set-up
(scripts/postgres-roles.sh creates both roles).
"""

from typing import Any

from django.conf import settings
from django.db import connections

APPEND_ONLY_TABLES = ("audit_auditevent", "audit_auditcheckpoint")
# Written once by archive_partition (run as the owner); the application may only read them.
ARCHIVE_TABLES = ("audit_auditarchive", "audit_auditarchiveend")


def grant_statements(role: str) -> list[str]:
    quoted = '"' + role.replace('"', '""') + '"'
    tables = ", ".join(APPEND_ONLY_TABLES)
    return [
        f"GRANT USAGE ON SCHEMA public TO {quoted}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {quoted}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}",
        f"REVOKE UPDATE, DELETE ON {tables} FROM {quoted}",
        f"REVOKE INSERT, UPDATE, DELETE ON {', '.join(ARCHIVE_TABLES)} FROM {quoted}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}",
    ]


def grant_app_privileges(*, using: str = "default", **_signal_kwargs: Any) -> bool:
    """Grants DATABASE_APP_ROLE its privileges, when connected as another
    role (the owner). Returns whether it granted. A post_migrate receiver:
    every `migrate` re-applies the grants to the tables it created."""
    role = settings.DATABASE_APP_ROLE
    connection = connections[using]
    if not role or connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        if cursor.fetchone()[0] == role:
            return False  # the application itself (e.g. a test flush): it cannot grant, and need not
        for statement in grant_statements(role):
            cursor.execute(statement)
        # The application reaches audit events through the partitioned table only; the partitions
        # that exist at migrate time got the grants above (ALL TABLES), so take them back. Partitions
        # made later by quorum_audit_partition_create never had any.
        cursor.execute("SELECT c.oid::regclass::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                       "WHERE i.inhparent = to_regclass('audit_auditevent')")
        quoted = '"' + role.replace('"', '""') + '"'
        for (partition,) in cursor.fetchall():
            cursor.execute(f"REVOKE ALL ON {partition} FROM {quoted}")
    return True


def connection_privilege_problems(using: str = "default") -> list[str]:
    """Why the connection is more powerful than an application should be:
    superuser, owner of tables, or allowed to create in the schema."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return []
    problems = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_user, r.rolsuper, "
            "(SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            " WHERE n.nspname = current_schema() AND pg_has_role(current_user, c.relowner, 'USAGE')), "
            "has_schema_privilege(current_user, current_schema(), 'CREATE') "
            "FROM pg_roles r WHERE r.rolname = current_user"
        )
        user, superuser, owned, can_create = cursor.fetchone()
    if superuser:
        problems.append(f"connects as {user!r}, a superuser")
    if owned:
        problems.append(f"connects as {user!r}, which owns (or can act as the owner of) {owned} tables or sequences")
    if can_create:
        problems.append(f"connects as {user!r}, which may create objects in the schema")
    return problems
