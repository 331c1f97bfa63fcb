"""Strict parsing of settings from the environment.

A malformed value stops start-up with a message naming the variable, instead
of being silently replaced by a default.
"""

import os
from pathlib import Path
from urllib.parse import urlparse


class ImproperlyConfiguredEnv(Exception):
    pass


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def load_env_file(default_path: Path) -> Path | None:
    """Loads KEY=VALUE lines of an env file into the process environment, so
    that every process (manage.py, gunicorn, Celery) started in any shell sees
    the same configuration. The process environment wins over the file.

    QUORUM_ENV_FILE names the file (it must then exist); unset or empty means
    `default_path` if it exists (the project's `.env`); /dev/null reads none.
    Returns the file read, or None.
    """
    from dotenv import load_dotenv

    named = _raw("QUORUM_ENV_FILE")
    if named:
        path = Path(named)
        if not path.exists():
            raise ImproperlyConfiguredEnv(f"QUORUM_ENV_FILE={named!r}: no such file")
    elif default_path.is_file():
        path = default_path
    else:
        return None
    load_dotenv(path, override=False)
    return path


def _raw(name):
    value = os.environ.get(name)
    return None if value is None else value.strip()


def env_str(name, default=None, *, required=False):
    value = _raw(name)
    if value is None or value == "":
        if required:
            raise ImproperlyConfiguredEnv(f"{name} must be set")
        return default
    return value


def env_bool(name, default=False):
    value = _raw(name)
    if value is None or value == "":  # empty means "not set", as for every other type
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfiguredEnv(f"{name}={value!r} is not a boolean (use true/false, 1/0, yes/no, on/off)")


def env_int(name, default, *, minimum=None, maximum=None):
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfiguredEnv(f"{name}={value!r} is not an integer") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfiguredEnv(f"{name}={number} is below the minimum {minimum}")
    if maximum is not None and number > maximum:
        raise ImproperlyConfiguredEnv(f"{name}={number} is above the maximum {maximum}")
    return number


def env_float(name, default, *, minimum=None, maximum=None):
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfiguredEnv(f"{name}={value!r} is not a number") from None
    if number != number or (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise ImproperlyConfiguredEnv(f"{name}={value!r} is outside [{minimum}, {maximum}]")
    return number


def env_list(name, default=()):
    value = _raw(name)
    if value is None or value == "":
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_url(name, default=None, *, schemes):
    value = env_str(name, default)
    if value is None:
        return None
    parsed = urlparse(value)
    if parsed.scheme not in schemes:
        raise ImproperlyConfiguredEnv(
            f"{name} has scheme {parsed.scheme!r}; expected one of {', '.join(sorted(schemes))}"
        )
    return value
