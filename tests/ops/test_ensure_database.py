"""`make run`'s database step (scripts/ensure_database.py): a PostgreSQL
database that does not exist is created; an unreachable server is one line
saying what to do, not a traceback."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def _run(database_url, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DJANGO_SETTINGS_MODULE"}}
    env.update(DATABASE_URL=database_url, DEBUG="true", QUORUM_ENV_FILE=os.devnull, QUORUM_VAR_DIR=str(tmp_path),
               CELERY_BROKER_URL="filesystem://")
    return subprocess.run([sys.executable, "scripts/ensure_database.py"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def server():
    s = connection.settings_dict
    return {"host": s["HOST"] or "127.0.0.1", "port": s["PORT"] or 5432, "user": s["USER"]}


@pytest.mark.django_db
def test_a_missing_postgresql_database_is_created(server, tmp_path):
    name = f"quorum_ensure_{secrets.token_hex(4)}"
    url = f"postgres://{server['user']}@{server['host']}:{server['port']}/{name}"
    try:
        result = _run(url, tmp_path)
        assert result.returncode == 0, result.stderr
        assert f"created database '{name}'" in result.stdout
        with psycopg.connect(dbname=name, **server) as conn:
            assert conn.execute("select current_database()").fetchone() == (name,)
        again = _run(url, tmp_path)
        assert again.returncode == 0 and "created" not in again.stdout
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **server) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def test_an_unreachable_server_is_one_line_with_what_to_do(tmp_path):
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    result = _run(f"postgres://nobody:secret-pw@127.0.0.1:{port}/quorum", tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "cannot connect to the database" in result.stderr
    assert "check DATABASE_URL" in result.stderr and "secret-pw" not in result.stdout + result.stderr
