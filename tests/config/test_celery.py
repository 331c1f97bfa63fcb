"""A real Celery worker and beat, as separate processes on Redis and
PostgreSQL, run the periodic audit checkpoint."""

import os
import signal
import subprocess
import sys
import time

import pytest
from django.db import connection

from audit.models import AuditCheckpoint
from audit.verify import verify_audit

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _db_url():
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def celery_processes(tmp_path):
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings", DATABASE_URL=_db_url(), AUDIT_CHECKPOINT_SECONDS="1",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/9", QUORUM_VAR_DIR=str(tmp_path), LOG_LEVEL="INFO",
    )
    celery = [sys.executable, "-m", "celery", "-A", "config"]
    started = []

    def start(*args, name):
        log = open(tmp_path / f"{name}.log", "w")
        started.append((subprocess.Popen([*celery, *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True), log, name))

    start("worker", "--pool", "solo", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
          "-n", f"test-{os.getpid()}@localhost", name="worker")
    start("beat", "--loglevel", "INFO", "-s", str(tmp_path / "beat-schedule"), name="beat")
    yield tmp_path
    for process, _log, _name in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process, log, _name in started:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        log.close()


def test_beat_and_worker_write_audit_checkpoints(api, report_body, celery_processes):
    response = api.post("/api/v1/reports", report_body(), format="json")
    assert response.status_code == 201
    case_stream = f"case:{response.json()['case']['id']}"

    deadline = time.monotonic() + 45
    while time.monotonic() < deadline and not AuditCheckpoint.objects.exists():
        time.sleep(0.5)
    logs = {p.name: p.read_text() for p in celery_processes.glob("*.log")}
    assert AuditCheckpoint.objects.exists(), logs
    checkpoint = AuditCheckpoint.objects.order_by("number").first()
    assert case_stream in checkpoint.heads
    assert checkpoint.heads[case_stream][0] == 1

    # A second report: the next checkpoint records the moved head, and only it.
    api.post("/api/v1/reports", report_body(), format="json")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not AuditCheckpoint.objects.filter(heads__has_key=case_stream,
                                                                             number__gt=checkpoint.number).exists():
        time.sleep(0.5)
    later = AuditCheckpoint.objects.filter(heads__has_key=case_stream, number__gt=checkpoint.number).first()
    assert later is not None and later.heads[case_stream][0] == 2
    assert "audit.tasks.audit_checkpoint_task" in logs["worker.log"] or "succeeded" in (
        celery_processes / "worker.log").read_text()
    assert verify_audit().ok
