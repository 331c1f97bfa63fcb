import sys
from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.core.checks import CheckMessage, Warning, register
from django.db import DatabaseError

from .dbroles import connection_privilege_problems


@register("database", "security")
def check_application_role(app_configs: Sequence[AppConfig] | None = None, databases: Sequence[str] | None = None,
                           **kwargs: Any) -> list[CheckMessage]:
    """Warns when the application connects to PostgreSQL as a superuser or
    as the owner of its tables: then nothing stops it (or whoever takes it
    over) from disabling the audit triggers, truncating or altering tables.
    Runs with `manage.py check --database default` (scripts/run.sh does);
    `migrate`, which must run as the owner, is exempt."""
    if not databases or "default" not in databases or sys.argv[1:2] == ["migrate"]:
        return []
    try:
        problems = connection_privilege_problems("default")
    except DatabaseError:
        return []
    return [
        Warning(
            f"The application {problem}.",
            hint="Run migrations as the owner role and the application as a role that owns nothing "
                 "(DATABASE_APP_ROLE; docs/security.md, scripts/postgres-roles.sh).",
            id="quorum.W001",
        )
        for problem in problems
    ]
