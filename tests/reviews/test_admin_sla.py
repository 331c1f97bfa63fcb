import pytest
from django.contrib.auth.models import User

from audit.models import AuditEvent
from reviews.models import BusinessCalendar, SlaPolicy

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_http(client):
    user = User.objects.create_superuser("root", "root@example.org", "pw")
    client.force_login(user)
    return client


def test_calendar_is_validated_and_audited(admin_http):
    bad = admin_http.post("/admin/reviews/businesscalendar/add/", {
        "name": "office", "timezone": "Mars/Olympus", "weekly_hours": '{"mon": [["09:00", "17:00"]]}',
        "holidays": "[]"})
    assert bad.status_code == 200 and not BusinessCalendar.objects.exists()
    ok = admin_http.post("/admin/reviews/businesscalendar/add/", {
        "name": "office", "timezone": "Europe/Berlin", "weekly_hours": '{"mon": [["09:00", "17:00"]]}',
        "holidays": '["2026-12-25"]'})
    assert ok.status_code == 302, ok.content[:2000]
    calendar = BusinessCalendar.objects.get()
    assert calendar.as_clock().tz == "Europe/Berlin"
    assert AuditEvent.objects.filter(action="sla_policy.changed", target_type="calendar").count() == 1


def test_sla_policy_changes_are_audited(admin_http):
    response = admin_http.post("/admin/reviews/slapolicy/add/", {
        "name": "trusted flaggers", "position": 1, "active": "on", "reporter_kind": "trusted_flagger",
        "factor": "0.5", "warn_fraction": "0.75", "stage_kind": ""})
    assert response.status_code == 302, response.content[:2000]
    policy = SlaPolicy.objects.get()
    assert policy.factor == 0.5
    event = AuditEvent.objects.get(action="sla_policy.changed", target_type="sla_policy")
    assert event.data["created"] is True and event.data["changes"]["factor"] == [None, 0.5]
    assert admin_http.get("/admin/reviews/slapolicy/").status_code == 200


def test_an_existing_sla_policy_is_edited_through_the_service(db, system_actor):
    """Editing locks the policy row only: FOR UPDATE over the nullable joins to its policy and
    calendar was refused by PostgreSQL (every edit of an existing SLA policy failed)."""
    from reviews.services import sla_policy_save

    policy = sla_policy_save(policy=SlaPolicy(name="edit me", stage_kind="review", duration_seconds=3600),
                             actor=system_actor)
    policy.duration_seconds = 7200
    sla_policy_save(policy=policy, actor=system_actor)
    assert SlaPolicy.objects.get(pk=policy.pk).duration_seconds == 7200
    changed = AuditEvent.objects.filter(action="sla_policy.changed").order_by("pk").last()
    assert changed.data["changes"]["duration_seconds"] == [3600, 7200], changed.data


def _policy_form(**changes):
    return {"name": "child safety", "position": 1, "active": "on", "reporter_kind": "", "warn_fraction": "0.75",
            "stage_kind": "", "factor": "", **changes}


def test_sla_policy_duration_is_entered_in_hours_and_minutes(admin_http):
    page = admin_http.get("/admin/reviews/slapolicy/add/").content.decode()
    assert 'name="duration_seconds_0"' in page and 'name="duration_seconds_1"' in page
    response = admin_http.post("/admin/reviews/slapolicy/add/",
                               _policy_form(duration_seconds_0="1", duration_seconds_1="30"))
    assert response.status_code == 302, response.content[:2000]
    policy = SlaPolicy.objects.get()
    assert policy.duration_seconds == 5400
    listing = admin_http.get("/admin/reviews/slapolicy/").content.decode()
    assert "1 h 30 min" in listing
    change = admin_http.get(f"/admin/reviews/slapolicy/{policy.pk}/change/").content.decode()
    assert 'name="duration_seconds_0" value="1"' in change and 'name="duration_seconds_1" value="30"' in change
    # both empty: no duration of its own (the stage's SLA applies)
    response = admin_http.post("/admin/reviews/slapolicy/add/", _policy_form(name="factor only", factor="0.5"))
    assert response.status_code == 302
    assert SlaPolicy.objects.get(name="factor only").duration_seconds is None


@pytest.mark.parametrize("hours, minutes, reason", [
    ("0", "0", "at least one minute"),
    ("-1", "0", "cannot be negative"),
    ("1", "60", "0 to 59"),
    ("abc", "", "whole hours"),
    ("9999999", "0", "At most"),
])
def test_bad_durations_are_form_errors_naming_the_reason(admin_http, hours, minutes, reason):
    response = admin_http.post("/admin/reviews/slapolicy/add/",
                               _policy_form(duration_seconds_0=hours, duration_seconds_1=minutes))
    assert response.status_code == 200 and not SlaPolicy.objects.exists()
    errors = str(response.context["adminform"].form.errors["duration_seconds"])
    assert reason in errors
