"""Routes the console's heavy reads to a read replica (DATABASE_REPLICA_URL).

Only code that asks for it reads from the replica: a block inside
`replica_reads()` that is not inside a transaction on the primary. Every
write, every read in a transaction, and every read outside such a block goes
to the primary ("default"), so that a page which reads what it has just
written (a claim, a vote, a form) never sees a replica that lags behind.
Without DATABASE_REPLICA_URL the block changes nothing.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model

REPLICA = "replica"

_replica_reads: ContextVar[bool] = ContextVar("quorum_replica_reads", default=False)


@contextmanager
def replica_reads() -> Iterator[None]:
    """Reads of the ORM inside this block go to the replica when one is
    configured (see the module docstring for the exceptions)."""
    token = _replica_reads.set(True)
    try:
        yield
    finally:
        _replica_reads.reset(token)


def read_alias() -> str:
    """The database alias a read made here goes to."""
    if (_replica_reads.get() and REPLICA in settings.DATABASES
            and not connections[DEFAULT_DB_ALIAS].in_atomic_block):
        return REPLICA
    return DEFAULT_DB_ALIAS


def read_connection() -> BaseDatabaseWrapper:
    """The connection for raw SQL reads made here (the ORM's go through the router)."""
    return connections[read_alias()]


class ReplicaRouter:
    def db_for_read(self, model: type[Model], **hints: Any) -> str:
        return read_alias()

    def db_for_write(self, model: type[Model], **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool:
        return True  # the replica holds the same rows as the primary

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool:
        return db == DEFAULT_DB_ALIAS  # a replica receives the schema by replication
