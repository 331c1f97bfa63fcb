import pytest


def test_healthz_answers_without_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_checks_the_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200 and response.json()["database"] == "ok"


@pytest.mark.django_db
def test_security_headers(client):
    response = client.get("/healthz")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "no-referrer"
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
