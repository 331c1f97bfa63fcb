"""Sign-in and sign-out. Failed sign-ins are limited by django-axes (the
same limiter guards /admin/login/): LOGIN_FAILURE_LIMIT failures for one
(normalised user name, client address) pair within LOGIN_FAILURE_WINDOW_SECONDS
lock that pair, and the answer is 429 without checking the password
(access/signin.py). Sign-ins, failed sign-ins and sign-outs are audited."""
import logging

from django.conf import settings
from django.contrib.auth import login, logout
from django.contrib.auth.forms import AuthenticationForm
from django.db import transaction
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_POST

import audit
from audit.context import Actor

log = logging.getLogger(__name__)


def _safe_next(request):
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return settings.LOGIN_REDIRECT_URL


@never_cache
@csrf_protect
def sign_in(request):
    if request.user.is_authenticated and request.method == "GET":
        return redirect(_safe_next(request))
    form = AuthenticationForm(request, data=request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            user = form.get_user()
            with transaction.atomic():
                login(request, user)  # user_logged_in → audit (access/signals.py)
            return redirect(_safe_next(request))
        # A locked pair is answered with 429 by axes' middleware (access.signin.lockout_response).
        status = 400
    return render(request, "console/login.html",
                  {"form": form, "refused": None, "next": request.POST.get("next") or request.GET.get("next", "")},
                  status=status)


@require_POST
def sign_out(request):
    user = request.user
    with transaction.atomic():
        if user.is_authenticated:
            audit.record(stream="system", action="user.signed_out", actor=Actor.user(user),
                         target_type="user", target_id=user.pk, data={"username": user.get_username()})
        logout(request)
    return redirect(settings.LOGOUT_REDIRECT_URL)


def csrf_failure(request, reason=""):
    """Django's own CSRF page uses inline style, which the CSP blocks; this
    one explains what to do in the console's layout."""
    return render(request, "console/csrf_failure.html", {"reason": reason}, status=403)
