"""Who is acting when Django's auth models change, for the audit trail."""

from __future__ import annotations

import contextvars
import getpass
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.http import HttpRequest, HttpResponse

from audit.context import Actor

_request: contextvars.ContextVar[Any] = contextvars.ContextVar("quorum_access_request", default=None)


@contextmanager
def bind_request(request: Any) -> Iterator[None]:
    token = _request.set(request)
    try:
        yield
    finally:
        _request.reset(token)


def current_actor() -> Actor:
    """The signed-in user of the current request; outside a request (a
    management command, a shell, a worker) the operating-system account and
    the program, which is what an investigator can trace."""
    request = _request.get()
    user = getattr(request, "user", None) if request is not None else None
    if user is not None and getattr(user, "is_authenticated", False) and getattr(user, "pk", None):
        return Actor.user(user)
    if request is not None:
        return Actor.system("anonymous web request")
    try:
        account = getpass.getuser()
    except Exception:  # no passwd entry in a container
        account = "unknown"
    program = " ".join(sys.argv[:2])[-120:] if sys.argv else "python"
    return Actor.system(f"{account}: {program}")


class ActingUserMiddleware:
    """After AuthenticationMiddleware: makes the request's user the actor of
    privilege changes that Django's admin makes during the request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with bind_request(request):
            return self.get_response(request)
