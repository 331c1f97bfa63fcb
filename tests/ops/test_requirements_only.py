"""requirements.txt alone (what the Dockerfile installs) runs the system: a
fresh virtualenv with nothing else starts the web server (gunicorn), a Celery
worker and beat on Redis and PostgreSQL, and /readyz answers 200.

The same processes show three operational promises: gunicorn opens no control
socket (gunicorn.conf.py, read from the project directory), it serves the
console's CSS without a collectstatic step, /metrics comes from
prometheus_client in multiprocess mode, and routine ticks stay out of the
worker's and beat's logs.
"""

import os
import secrets
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.processes import Processes, database_url, free_port, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def _get(url, timeout=5):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read().decode()
    except OSError:
        return None, None, ""


def _sockets_under(directory):
    return [str(p) for p in Path(directory).rglob("*") if stat.S_ISSOCK(p.lstat().st_mode)]


@pytest.fixture
def fresh_venv(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    result = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", "-r",
         str(ROOT / "requirements.txt")], capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # Nothing from requirements-dev.txt came along.
    probe = subprocess.run([str(venv / "bin" / "python"), "-c", "import pytest"], capture_output=True)
    assert probe.returncode != 0
    return venv


def test_requirements_txt_alone_runs_web_worker_and_beat(fresh_venv, tmp_path):
    home, runtime = tmp_path / "home", tmp_path / "runtime"
    home.mkdir(), runtime.mkdir()
    port = free_port()
    env = {
        "PATH": f"{fresh_venv / 'bin'}:/usr/bin:/bin", "HOME": str(home), "XDG_RUNTIME_DIR": str(runtime),
        "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1", "DJANGO_SETTINGS_MODULE": "config.settings",
        "QUORUM_ENV_FILE": os.devnull, "QUORUM_VAR_DIR": str(tmp_path / "var"),
        "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "false",
        # Production settings refuse to start without an audit key (docs/security.md).
        "AUDIT_HMAC_KEYS": f"reqonly:{secrets.token_hex(32)}",
        "DATABASE_URL": database_url(), "REDIS_URL": os.environ["REDIS_URL"],
        "CELERY_BROKER_URL": os.environ["CELERY_BROKER_URL"], "LOG_LEVEL": "INFO",
        # Many routine ticks while the test watches the logs.
        "SLA_SWEEP_SECONDS": "1", "WEBHOOK_DISPATCH_SECONDS": "0.2",
    }
    bin_dir = fresh_venv / "bin"
    processes = Processes(tmp_path / "logs")
    try:
        # No --no-control-socket here: gunicorn.conf.py must turn it off (HOME and
        # XDG_RUNTIME_DIR are private to this test, so a socket would land there).
        web = processes.start([bin_dir / "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
                               "--workers", "2", "--timeout", "60"], name="web", env=env)
        worker = processes.start([bin_dir / "celery", "-A", "config", "worker", "--pool", "solo", "--loglevel",
                                  "INFO", "--without-gossip", "--without-mingle", "-n",
                                  f"reqonly-{os.getpid()}@localhost"], name="worker", env=env)
        beat = processes.start([bin_dir / "celery", "-A", "config", "beat", "--loglevel", "INFO", "-s",
                                tmp_path / "beat-schedule"], name="beat", env=env)
        base = f"http://127.0.0.1:{port}"

        def logs():
            return "\n".join(f"--- {p.name}\n{p.output()}" for p in (web, worker, beat))

        def ready():
            assert web.alive() and worker.alive() and beat.alive(), logs()
            return _get(f"{base}/readyz")[0] == 200

        wait_for(ready, timeout=240, interval=0.5, what="/readyz to answer 200", details=logs)

        assert _sockets_under(home) == [] and _sockets_under(runtime) == []

        status, headers, body = _get(f"{base}/static/console/console.css")
        assert status == 200 and headers["Content-Type"].startswith("text/css") and body.strip()

        status, headers, body = _get(f"{base}/metrics")
        assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4"), body
        assert "# TYPE quorum_open_cases gauge" in body and "quorum_reports_received_total 0.0" in body
        assert 'quorum_sweep_last_run_timestamp_seconds{sweep="sla_breaches"}' in body

        # The ticks run (readyz needs fresh sweeps) yet leave no routine lines behind.
        wait_for(ready, timeout=60, what="/readyz still 200", details=logs)
        beat_log, worker_log = beat.output(tail=10**7), worker.output(tail=10**7)
        assert "beat: Starting" in beat_log and " ready." in worker_log
        for routine in ("webhook_tick_task", "sweep_breaches_task", "sweep_leases_task", "sweep_warnings_task"):
            assert routine not in beat_log and f"{routine}[" not in worker_log, routine
        assert "ModuleNotFoundError" not in logs()
    finally:
        processes.stop_all()
