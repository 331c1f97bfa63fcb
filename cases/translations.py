"""Admin-maintained translations of configured names (policies, queues, and in
reviews outcomes and stages): a JSON object {"de": "Spam", ...} next to the
name, which stays the fallback. Read by the console in its active language."""
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

MAX_TRANSLATED_NAME = 200

NAME_TRANSLATIONS_HELP = _(
    'Translations of the name per console language, as a JSON object, e.g. {"de": "Spam"}. '
    "A language without an entry shows the name.")


def validate_name_translations(value) -> None:
    """An object whose keys are languages the console offers and whose values are names."""
    languages = {code for code, _name in settings.LANGUAGES}
    if not isinstance(value, dict):
        raise ValidationError(_("Give a JSON object that maps a language code to a name."), code="not_object")
    for language, name in value.items():
        if language not in languages:
            raise ValidationError(_("“%(language)s” is not a console language (%(languages)s)."),
                                  params={"language": language, "languages": ", ".join(sorted(languages))},
                                  code="unknown_language")
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_TRANSLATED_NAME:
            raise ValidationError(_("The %(language)s name must be text of 1 to %(max)d characters."),
                                  params={"language": language, "max": MAX_TRANSLATED_NAME}, code="bad_name")


def translated_name(obj, language: str | None = None) -> str:
    """obj's name in `language` (default: the active one; "de-at" falls back to "de"), else its name.
    Works for model instances and for rows (dicts) that carry name and name_translations."""
    get = obj.get if isinstance(obj, dict) else lambda key, default=None: getattr(obj, key, default)
    name = get("name", "") or ""
    translations = get("name_translations", None)
    if not isinstance(translations, dict) or not translations:
        return name
    language = (language or get_language() or "").lower()
    for candidate in (language, language.split("-")[0]):
        value = translations.get(candidate)
        if isinstance(value, str) and value.strip():
            return value
    return name
