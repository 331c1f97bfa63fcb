import pytest


def test_healthz_answers_without_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_needs_the_database_the_broker_and_recent_sweeps(client, settings):
    from datetime import timedelta

    from django.utils import timezone

    from reviews.models import Heartbeat
    from reviews.sweeps import sweep_breaches, sweep_leases, sweep_warnings

    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["database"] == "ok" and response.json()["sla_breaches"] == "never ran"
    sweep_warnings(), sweep_breaches(), sweep_leases()
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["broker"] == "ok"
    Heartbeat.objects.filter(name="sla_breaches").update(
        last_run_at=timezone.now() - timedelta(seconds=settings.SWEEP_STALE_SECONDS + 5))
    response = client.get("/readyz")
    assert response.status_code == 503 and "ago" in response.json()["sla_breaches"]
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    Heartbeat.objects.update(last_run_at=timezone.now())
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["broker"].startswith("unreachable")


@pytest.mark.django_db
def test_metrics_are_protected_and_in_prometheus_format(client, settings, api, report_body):
    api.post("/api/v1/reports", report_body(), format="json")
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.5").status_code == 403
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain; version=0.0.4")
    text = response.content.decode()
    assert 'quorum_open_cases{queue="general",state="open"} 1' in text
    assert "quorum_reports_received_total 1" in text
    assert 'quorum_sweep_lag_seconds{sweep="sla_breaches"} 0' in text
    assert "# TYPE quorum_oldest_open_case_age_seconds gauge" in text
    settings.METRICS_TOKEN = "s3cret"
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.5", HTTP_AUTHORIZATION="Bearer s3cret").status_code == 200


@pytest.mark.django_db
def test_security_headers(client):
    response = client.get("/healthz")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
def test_request_id_is_echoed_and_recorded_in_the_audit_event(api, report_body):
    from audit.models import AuditEvent

    response = api.post("/api/v1/reports", report_body(), format="json", HTTP_X_REQUEST_ID="req-abc.123",
                        REMOTE_ADDR="203.0.113.9")
    assert response["X-Request-ID"] == "req-abc.123"
    event = AuditEvent.objects.get(action="case.opened")
    assert (event.request_id, event.ip) == ("req-abc.123", "203.0.113.9")
    assert (event.actor_type, event.actor_name) == ("api_client", api.api_client.name)


@pytest.mark.django_db
def test_an_unsafe_request_id_is_replaced(api, report_body):
    response = api.post("/api/v1/reports", report_body(), format="json", HTTP_X_REQUEST_ID="<script>" * 20)
    assert response["X-Request-ID"] != "<script>" * 20 and len(response["X-Request-ID"]) == 32


@pytest.mark.django_db
def test_metrics_add_up_what_each_process_recorded_in_multiprocess_mode(client, tmp_path, monkeypatch):
    """Under gunicorn (gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR) a scrape
    answered by any worker includes what every worker counted."""
    import subprocess
    import sys

    env = {"PATH": "/usr/bin:/bin", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    code = ("from prometheus_client import Counter; "
            "Counter('quorum_test_worker_events', 'test', ['kind']).labels(kind='x').inc(int(__import__('sys').argv[1]))")
    for amount in ("2", "3"):  # two processes, as two gunicorn workers
        subprocess.run([sys.executable, "-c", code, amount], env=env, check=True, timeout=60)
    assert len(list(tmp_path.glob("counter_*.db"))) == 2
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    text = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert 'quorum_test_worker_events_total{kind="x"} 5.0' in text
    assert "# TYPE quorum_open_cases gauge" in text
