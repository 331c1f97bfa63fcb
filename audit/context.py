"""Who is acting, and on behalf of which request, for audit events."""

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Self

_request: contextvars.ContextVar[tuple[str, str]] = contextvars.ContextVar("quorum_audit_request", default=("", ""))


@dataclass(frozen=True)
class Actor:
    """An actor with a display name frozen at the time of the event."""

    type: str  # "user", "api_client" or "system"
    id: str
    name: str

    @classmethod
    def user(cls, user: Any) -> Self:
        return cls("user", str(user.pk), user.get_username())

    @classmethod
    def api_client(cls, client_id: object, name: str) -> Self:
        return cls("api_client", str(client_id), name)

    @classmethod
    def system(cls, name: str) -> Self:
        return cls("system", "", name)


@contextmanager
def bind_request(*, request_id: str, ip: str) -> Iterator[None]:
    token = _request.set((request_id[:64], ip[:45]))
    try:
        yield
    finally:
        _request.reset(token)


def current_request() -> tuple[str, str]:
    """(request id, client IP) of the request being served, or ("", "")."""
    return _request.get()
