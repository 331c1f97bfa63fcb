"""Template helpers shared by console pages. Everything reported is
untrusted: URLs pass through `http_url` before they reach an href or src."""
import re
from urllib.parse import urlsplit

from django import template
from django.conf import settings
from django.utils import timezone
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from cases.references import case_reference
from cases.translations import translated_name

register = template.Library()

_SCHEMES = {"http", "https"}


@register.filter
def case_ref(value):
    """The short human reference of a case id (cases.references), "" for anything else."""
    try:
        return case_reference(value)
    except (ValueError, TypeError, AttributeError):
        return ""


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


# A BCP 47 language tag as far as `lang` needs it (language, optional script/region/variants).
_LANG_TAG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8}){0,4}$")


@register.filter
def lang_tag(value) -> str:
    """The subject's language if it is a well-formed tag (it is reported, so untrusted), else ""."""
    value = str(value or "").strip()
    return value if _LANG_TAG.fullmatch(value) else ""


# Unicode's explicit directional formatting characters: the names moderators see in their place.
BIDI_CONTROLS = {
    "\u202a": "LRE", "\u202b": "RLE", "\u202c": "PDF", "\u202d": "LRO", "\u202e": "RLO",
    "\u2066": "LRI", "\u2067": "RLI", "\u2068": "FSI", "\u2069": "PDI",
    "\u200e": "LRM", "\u200f": "RLM", "\u061c": "ALM",
}
_BIDI_RE = re.compile("[" + "".join(BIDI_CONTROLS) + "]")


@register.filter(is_safe=True)
def bidi_visible(value) -> str:
    """Escapes `value` and wraps every directional control character in a span that isolates it
    (so an unclosed RLO reverses nothing around it) and shows its name (CSS ::before, from
    data-bidi). Direction overrides are a spoofing technique ("admin\u202egnp.exe" reads
    "adminexe.png"): moderators must see them. The characters themselves stay in the text."""
    escaped = str(conditional_escape(value))
    if not _BIDI_RE.search(escaped):
        return mark_safe(escaped)  # noqa: S308 - escaped above
    return mark_safe(_BIDI_RE.sub(  # noqa: S308 - escaped above; the inserted markup is fixed
        lambda m: f'<span class="bidi-control" data-bidi="{BIDI_CONTROLS[m.group(0)]}">{m.group(0)}</span>', escaped))


@register.filter
def in_language(name, translations) -> str:
    """`name` in the console's language, given its translations (rows that carry both as columns)."""
    return translated_name({"name": name or "", "name_translations": translations})


@register.filter
def local_name(obj) -> str:
    """A configured name (outcome, policy, stage, queue) in the console's language: the admin's
    translation for it (name_translations), else the name."""
    return translated_name(obj) if obj is not None else ""


@register.filter
def statement_value(value) -> str:
    """A DSA statement field for people: lists joined, null as a dash."""
    if value is None:
        return "—"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


@register.simple_tag
def correction_form(statement, bound=None):
    """The lead's correction form for `statement`: the refused one when it is for it, else a fresh one."""
    from ..forms import StatementCorrectionForm

    if getattr(bound, "is_bound", False) and str(bound.data.get("correct-statement")) == str(statement.pk):
        return bound
    return StatementCorrectionForm.for_statement(statement)


_NO_MAPPING = re.compile(r"^(outcome|policy) '(.+)' has no DSA (outcome|policy) mapping$")


@register.filter
def statement_problem(message: str) -> str:
    """A held statement's problem for a lead, in the console's language where
    the console knows it: a missing mapping names what the admin must add.
    The schema's own field rules stay as dsa.validation words them (the
    Commission's schema is English)."""
    found = _NO_MAPPING.match(str(message))
    if found is None:
        return message
    if found.group(1) == "outcome":
        return _("outcome “%(code)s” has no DSA outcome mapping") % {"code": found.group(2)}
    return _("policy “%(code)s” has no DSA policy mapping") % {"code": found.group(2)}
