"""Every environment variable Quorum's settings read reaches the containers
of docker-compose.yml, as `docker-compose config` resolves it (no Docker
engine needed), when it is set in .env as .env.example tells operators to."""

import ast
import os
import re
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("migrate", "web", "worker", "beat")
# Set by docker-compose.yml on purpose, whatever .env says.
FORCED = {"DEBUG": "false"}
# `migrate` connects as the owner role (docs/security.md): its DATABASE_URL comes from DATABASE_OWNER_URL.
OWNER_SERVICES = {"migrate": "DATABASE_URL"}
_READERS = {"env_str", "env_bool", "env_int", "env_float", "env_list", "env_url", "_raw"}


def variables_read_by_config():
    """Names passed as a string literal to config/env.py's readers, os.environ.get/[]
    or os.getenv anywhere in config/ (settings and what they import)."""
    names = set()
    for path in (ROOT / "config").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            target = None
            if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
                func = node.func
                called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
                environ_get = called == "get" and isinstance(func, ast.Attribute) and \
                    isinstance(func.value, ast.Attribute) and func.value.attr == "environ"
                if called in _READERS or called == "getenv" or environ_get:
                    target = node.args[0].value
            elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) \
                    and node.value.attr == "environ" and isinstance(node.slice, ast.Constant):
                target = node.slice.value
            if isinstance(target, str) and target.isupper():
                names.add(target)
    # Set by Quorum's own entry points, not by operators.
    return names - {"DJANGO_SETTINGS_MODULE", "PROMETHEUS_MULTIPROC_DIR"}


def test_the_scan_finds_the_settings_the_issue_named():
    names = variables_read_by_config()
    assert {"SECRET_KEY", "WEBHOOK_PUBLIC_URL", "WEBHOOK_ALLOWED_HOSTS", "CONSOLE_MEDIA_ORIGINS",
            "LOGIN_FAILURE_LIMIT", "LOGIN_FAILURE_WINDOW_SECONDS", "SESSION_COOKIE_AGE",
            "WEBHOOK_LEASE_SECONDS", "QUORUM_VAR_DIR", "QUORUM_ENV_FILE"} <= names
    assert len(names) > 50


def test_every_documented_variable_is_one_the_settings_read():
    """.env.example lists every variable (commented or not) and no stale one."""
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    head, _, compose_only = text.partition("# ---- docker-compose only")
    documented = set(re.findall(r"^#?([A-Z][A-Z0-9_]*)=", head, re.M))
    read = variables_read_by_config()
    assert read - documented == set(), "settings read these, .env.example does not list them"
    assert documented - read == set(), ".env.example lists these, no setting reads them"


def test_every_variable_the_settings_read_reaches_every_app_container(tmp_path):
    names = sorted(variables_read_by_config())
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    sentinel = {name: f"from-dotenv-{name.lower()}" for name in names}
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in sentinel.items()) + "POSTGRES_PASSWORD=pw\n")
    # A clean environment: the shell's variables would win over .env, as they should.
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    result = subprocess.run(["docker-compose", "-f", str(tmp_path / "docker-compose.yml"), "config"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    for service in APP_SERVICES:
        environment = services[service]["environment"]
        owner_override = OWNER_SERVICES.get(service)
        missing = [n for n in names if n not in FORCED and n != owner_override and environment.get(n) != sentinel[n]]
        assert missing == [], f"{service} does not get {missing}"
        if owner_override:
            assert environment[owner_override].startswith("postgres://quorum_owner@"), environment[owner_override]
        for name, value in FORCED.items():
            assert environment[name] == value
