"""`make run` serves the console from SQLite, where some PostgreSQL-only
lookups (JSON containment, percentile_cont) do not exist: every page, filter
and sort must still answer there."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_console_page_answers_on_sqlite(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "DJANGO_"))}
    env.update(DEBUG="true", QUORUM_VAR_DIR=str(tmp_path), CELERY_BROKER_URL="filesystem://", LOG_LEVEL="WARNING",
               ALLOWED_HOSTS="testserver")
    result = subprocess.run([sys.executable, str(Path(__file__).with_name("sqlite_smoke.py"))], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert result.stdout.count("ok ") > 40 and "BAD" not in result.stdout
