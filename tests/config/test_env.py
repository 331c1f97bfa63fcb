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
        ({"DEBUG": "true", "DATABASE_REPLICA_URL": "mysql://x/y"}, "DATABASE_REPLICA_URL"),
        # the embedded SQLite default has no replica
        ({"DEBUG": "true", "DATABASE_REPLICA_URL": "postgres://127.0.0.1:5433/quorum"}, "DATABASE_REPLICA_URL"),
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


def _start_with_env_file(tmp_path, text, **env):
    env_file = tmp_path / "quorum.env"
    env_file.write_text(text)
    base = {k: v for k, v in os.environ.items()
            if k not in {"DEBUG", "SECRET_KEY", "DATABASE_URL", "LOG_LEVEL", "QUORUM_ENV_FILE", "QUORUM_VAR_DIR"}}
    base.update(env, QUORUM_ENV_FILE=str(env_file), DJANGO_SETTINGS_MODULE="config.settings")
    return subprocess.run(
        [sys.executable, "-c", "from django.conf import settings as s; print(s.DEBUG, s.LOG_LEVEL, s.VAR_DIR)"],
        cwd=ROOT, env=base, capture_output=True, text=True, timeout=60,
    )


def test_the_env_file_is_read_and_the_process_environment_wins(tmp_path):
    text = f"DEBUG=true\nLOG_LEVEL=warning\nQUORUM_VAR_DIR={tmp_path / 'var'}\n"
    result = _start_with_env_file(tmp_path, text)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "WARNING", str(tmp_path / "var")]
    result = _start_with_env_file(tmp_path, text, LOG_LEVEL="ERROR")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:2] == ["True", "ERROR"]


def test_a_bad_value_in_the_env_file_is_named_like_any_other(tmp_path):
    result = _start_with_env_file(tmp_path, f"DEBUG=true\nQUORUM_VAR_DIR={tmp_path}\nINTAKE_BATCH_MAX_ITEMS=lots\n")
    assert result.returncode == 2 and "INTAKE_BATCH_MAX_ITEMS" in result.stderr and "Traceback" not in result.stderr


def test_a_named_env_file_that_does_not_exist_stops_start_up(tmp_path):
    base = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}}
    base.update(QUORUM_ENV_FILE=str(tmp_path / "missing.env"), DEBUG="true", DJANGO_SETTINGS_MODULE="config.settings")
    result = subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, env=base,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "QUORUM_ENV_FILE" in result.stderr and "no such file" in result.stderr
