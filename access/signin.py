"""The sign-in limiter's key and its lockout answer (django-axes does the counting)."""

from __future__ import annotations

import unicodedata

from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _


def normalise_username(raw: str) -> str:
    """The name as Django's auth matches it (NFKC, like UsernameField and
    AbstractBaseUser.normalize_username), case-folded so that look-alike and
    differently-cased spellings of one account share one failure counter:
    `ｍoderator3` (full-width m) and `Moderator3` count against `moderator3`."""
    return unicodedata.normalize("NFKC", raw or "").strip().casefold()


def limiter_username(request: HttpRequest | None, credentials: dict | None) -> str:
    field = get_user_model().USERNAME_FIELD
    raw = None
    if credentials:
        raw = credentials.get(field, credentials.get("username"))
    if raw is None and request is not None:
        raw = request.POST.get("username", "")
    return normalise_username(str(raw or ""))[:255]


def lockout_response(request: HttpRequest, original_response: HttpResponse | None = None,
                     credentials: dict | None = None) -> HttpResponse:
    """429 on the page that was posted to: the console's sign-in form for the
    console, a plain page for the admin. Neither says whether the name exists."""
    minutes = max(1, settings.LOGIN_FAILURE_WINDOW_SECONDS // 60)
    message = _("Too many failed sign-ins. Wait %(minutes)d minutes and try again.") % {"minutes": minutes}
    if request.path.startswith("/admin/"):
        response = HttpResponse(message + "\n", status=429, content_type="text/plain; charset=utf-8")
    else:
        from django.contrib.auth.forms import AuthenticationForm

        username = (credentials or {}).get("username") or request.POST.get("username", "")
        form = AuthenticationForm(request, initial={"username": username})
        response = render(request, "console/login.html",
                          {"form": form, "refused": message, "next": request.POST.get("next", "")}, status=429)
    response["Retry-After"] = str(settings.LOGIN_FAILURE_WINDOW_SECONDS)
    return response


