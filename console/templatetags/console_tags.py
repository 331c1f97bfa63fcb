"""Template helpers shared by console pages. Everything reported is
untrusted: URLs pass through `http_url` before they reach an href or src."""
from urllib.parse import urlsplit

from django import template
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

register = template.Library()

_SCHEMES = {"http", "https"}


@register.filter
def http_url(value):
    """The URL if it is an absolute http(s) URL without credentials or
    control characters, else "" (javascript:, data:, relative paths ...)."""
    if not isinstance(value, str) or len(value) > 2048:
        return ""
    if any(ord(c) < 0x21 or ord(c) == 0x7f for c in value):
        return ""
    try:
        parts = urlsplit(value)
    except ValueError:
        return ""
    if parts.scheme.lower() not in _SCHEMES or not parts.hostname or parts.username or parts.password:
        return ""
    return value


@register.filter
def media_loadable(value):
    """True when the browser may load this media URL as a (blurred)
    thumbnail: http(s) and on a host in CONSOLE_MEDIA_ORIGINS."""
    url = http_url(value)
    if not url:
        return False
    parts = urlsplit(url)
    origin = f"{parts.scheme.lower()}://{parts.netloc.lower()}"
    return origin in {o.lower().rstrip("/") for o in settings.CONSOLE_MEDIA_ORIGINS}


@register.simple_tag
def sla_state(review, now=None):
    """(key, text) for a review's SLA: breached, at risk, on time or none.
    The text is always shown; colour only repeats it."""
    if review is None or getattr(review, "due_at", None) is None:
        return ("none", _("No deadline"))
    now = now or timezone.now()
    if review.breached_at or review.due_at <= now:
        return ("breached", _("Breached"))
    if review.warned_at or (review.warn_at and review.warn_at <= now):
        return ("at-risk", _("At risk"))
    return ("ok", _("On time"))
