"""Settings are parsed strictly: a bad value stops start-up naming the variable."""

import os
import subprocess
import sys

import pytest

from config.env import ImproperlyConfiguredEnv, env_bool, env_int, env_list, env_url

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def start_settings(**env):
    base = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "DATABASE_URL"}}
    base.update(env)
    base["DJANGO_SETTINGS_MODULE"] = "config.settings"
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=ROOT, env=base, capture_output=True, text=True, timeout=60,
    )


@pytest.mark.parametrize(
    "env, variable",
    [
        ({"DEBUG": "maybe"}, "DEBUG"),
        ({"DEBUG": "true", "INTAKE_MAX_BODY_BYTES": "1MB"}, "INTAKE_MAX_BODY_BYTES"),
        ({"DEBUG": "true", "DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"DEBUG": "true", "CELERY_BROKER_URL": "nonsense"}, "CELERY_BROKER_URL"),
        ({"DEBUG": "true", "API_DEFAULT_RATE_PER_SECOND": "0"}, "API_DEFAULT_RATE_PER_SECOND"),
        ({"DEBUG": "true", "LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"DEBUG": "false"}, "SECRET_KEY"),
    ],
)
def test_bad_configuration_stops_start_up_naming_the_variable(env, variable):
    result = start_settings(**env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Quorum configuration error" in result.stderr
    assert variable in result.stderr
    assert "started" not in result.stdout


def test_debug_runs_on_embedded_defaults(tmp_path):
    result = start_settings(DEBUG="true", QUORUM_VAR_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout


def test_parsers(monkeypatch):
    monkeypatch.setenv("X_BOOL", "Yes")
    assert env_bool("X_BOOL") is True
    monkeypatch.setenv("X_INT", " 42 ")
    assert env_int("X_INT", 0, minimum=1) == 42
    monkeypatch.setenv("X_INT", "4.2")
    with pytest.raises(ImproperlyConfiguredEnv, match="X_INT"):
        env_int("X_INT", 0)
    monkeypatch.setenv("X_LIST", "a, b,,c ")
    assert env_list("X_LIST") == ["a", "b", "c"]
    monkeypatch.setenv("X_URL", "ftp://host")
    with pytest.raises(ImproperlyConfiguredEnv, match="X_URL"):
        env_url("X_URL", schemes={"http"})
