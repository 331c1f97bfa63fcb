from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

from .roles import roles_of


def console_view(*, require=None):
    """Signed-in console users only; `require` names a Roles property
    (e.g. "is_lead", "can_review") the user must have, else 403."""

    def decorate(view):
        @login_required
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            roles = roles_of(request)
            if not roles.can_use_console:
                raise PermissionDenied("this account has no console role")
            if require and not getattr(roles, require):
                raise PermissionDenied(f"this page needs the {require} role")
            request.roles = roles
            return view(request, *args, **kwargs)

        return wrapped

    return decorate
