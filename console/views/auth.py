"""Sign-in and sign-out. Failed sign-ins are counted per account name and
per client address in the cache; past LOGIN_FAILURE_LIMIT within
LOGIN_FAILURE_WINDOW_SECONDS the form refuses (429) without checking the
password, so guessing is slow whichever of the two an attacker varies."""
import hashlib
import logging

from django.conf import settings
from django.contrib.auth import login, logout
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.db import transaction
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_POST

import audit
from audit.context import Actor

log = logging.getLogger(__name__)


def _keys(request, username):
    name = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    return [f"console:login-fail:user:{name}", f"console:login-fail:ip:{request.META.get('REMOTE_ADDR', '')}"]


def _locked(keys):
    counts = cache.get_many(keys)
    return any(v >= settings.LOGIN_FAILURE_LIMIT for v in counts.values())


def _count_failure(keys):
    for key in keys:
        if not cache.add(key, 1, timeout=settings.LOGIN_FAILURE_WINDOW_SECONDS):
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.add(key, 1, timeout=settings.LOGIN_FAILURE_WINDOW_SECONDS)


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
    refused = None
    if request.method == "POST":
        keys = _keys(request, request.POST.get("username", ""))
        if _locked(keys):
            form = AuthenticationForm(request, initial={"username": request.POST.get("username", "")})
            refused = _("Too many failed sign-ins. Wait %(minutes)d minutes and try again.") % {
                "minutes": max(1, settings.LOGIN_FAILURE_WINDOW_SECONDS // 60)}
            log.warning("sign-in refused: too many failures for %s", request.META.get("REMOTE_ADDR", ""))
            status = 429
        elif form.is_valid():
            user = form.get_user()
            with transaction.atomic():
                login(request, user)
                audit.record(stream="system", action="user.signed_in", actor=Actor.user(user),
                             target_type="user", target_id=user.pk, data={"username": user.get_username()})
            cache.delete_many(keys[:1])
            return redirect(_safe_next(request))
        else:
            _count_failure(keys)
            status = 400
    return render(request, "console/login.html",
                  {"form": form, "refused": refused, "next": request.POST.get("next") or request.GET.get("next", "")},
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
