"""Per-user console preferences: the time zone times are shown in.

The zone in force for a request is, in order: the user's saved zone (kept in
the session after sign-in or a change, so pages read no extra row), the
browser's zone (the quorum_tz cookie console.js sets), the site's TIME_ZONE."""
import zoneinfo
from functools import lru_cache
from urllib.parse import unquote

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from .models import ConsolePreference

SESSION_KEY = "console_time_zone"
COOKIE = "quorum_tz"


@lru_cache(maxsize=1)
def known_time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def valid_time_zone(name: str | None) -> str:
    """`name` if it is a known IANA zone, else ""."""
    name = (name or "").strip()
    return name if len(name) <= 64 and name in known_time_zones() else ""


def time_zone_saved(*, user) -> str:
    """The user's saved zone, "" when none."""
    return ConsolePreference.objects.filter(user=user).values_list("time_zone", flat=True).first() or ""


def time_zone_for(request) -> str:
    """The zone to show this request's times in (see the module docstring)."""
    session = getattr(request, "session", None)
    saved = valid_time_zone(session.get(SESSION_KEY)) if session is not None else ""
    return saved or valid_time_zone(unquote(request.COOKIES.get(COOKIE, ""))) or settings.TIME_ZONE


def preference_time_zone_set(*, user, time_zone: str) -> ConsolePreference:
    """Saves `user`'s zone ("" = follow the browser). Raises ValidationError
    (field time_zone) for a zone that is not a known IANA name. A personal
    display setting: it changes no moderation data, so it is not audited."""
    time_zone = (time_zone or "").strip()
    if time_zone and not valid_time_zone(time_zone):
        raise ValidationError({"time_zone": _("“%(zone)s” is not a known time zone.") % {"zone": time_zone[:64]}})
    with transaction.atomic():
        preference, _created = ConsolePreference.objects.select_for_update().get_or_create(user=user)
        if preference.time_zone != time_zone:
            preference.time_zone = time_zone
            preference.save(update_fields=["time_zone", "updated_at"])
    return preference


def remember_saved_time_zone(sender, request, user, **kwargs) -> None:
    """user_logged_in receiver: puts the user's saved zone (if any) into the new session."""
    if request is None or not hasattr(request, "session"):
        return
    saved = valid_time_zone(time_zone_saved(user=user))
    if saved:
        request.session[SESSION_KEY] = saved
    else:
        request.session.pop(SESSION_KEY, None)
