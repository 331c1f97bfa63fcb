"""Who is acting, and on behalf of which request, for audit events."""

import contextvars
from contextlib import contextmanager
from dataclasses import dataclass

_request = contextvars.ContextVar("quorum_audit_request", default=("", ""))


@dataclass(frozen=True)
class Actor:
    """An actor with a display name frozen at the time of the event."""

    type: str  # "user", "api_client" or "system"
    id: str
    name: str

    @classmethod
    def user(cls, user):
        return cls("user", str(user.pk), user.get_username())

    @classmethod
    def api_client(cls, client_id, name):
        return cls("api_client", str(client_id), name)

    @classmethod
    def system(cls, name):
        return cls("system", "", name)


@contextmanager
def bind_request(*, request_id, ip):
    token = _request.set((request_id[:64], ip[:45]))
    try:
        yield
    finally:
        _request.reset(token)


def current_request():
    return _request.get()
