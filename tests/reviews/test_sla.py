"""SLA deadlines, warnings, breaches and lease expiry, driven with explicit
times (the sweeps take `now`)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from audit.verify import verify_audit
from cases.models import Case, CaseState, Queue
from reviews.models import Review, ReviewState, Seat, SlaPolicy, Stage
from reviews.services import case_hold, case_resume, claim_next, lease_renew
from reviews.sla import invalidate_sla_cache
from reviews.sweeps import sweep_breaches, sweep_leases, sweep_warnings

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_sla_cache():
    invalidate_sla_cache()
    yield
    invalidate_sla_cache()


def review_of(case_id):
    return Review.objects.select_related("stage").get(case_id=case_id, state__in=["open", "on_hold"])


def test_a_stage_gets_its_deadlines_when_it_opens(file_report):
    review = review_of(file_report())
    assert review.sla_seconds == review.stage.sla_seconds == 24 * 3600
    assert review.due_at - review.opened_at == timedelta(hours=24)
    assert review.warn_at - review.opened_at == timedelta(hours=18)  # 75 %


def test_sla_policies_refine_by_policy_reporter_kind_and_priority(file_report, policy_book):
    SlaPolicy.objects.create(name="child safety: 1 hour", position=1, policy=policy_book["child_safety"],
                             duration_seconds=3600)
    SlaPolicy.objects.create(name="trusted flaggers: half", position=2, reporter_kind="trusted_flagger", factor=0.5,
                             warn_fraction=0.5)
    SlaPolicy.objects.create(name="high priority: 2 hours", position=3, min_priority=500, duration_seconds=7200)
    invalidate_sla_cache()
    child = review_of(file_report("c", policy="child_safety"))
    assert child.due_at - child.opened_at == timedelta(hours=1)
    flagged = review_of(file_report("f", reporter=("trusted_flagger", "tf")))
    assert flagged.due_at - flagged.opened_at == timedelta(hours=12)
    assert flagged.warn_at - flagged.opened_at == timedelta(hours=6)
    hate = review_of(file_report("h", policy="hate"))  # severity 4 → priority ≥ 400 + …
    assert Case.objects.get(pk=hate.case_id).priority >= 500 or hate.due_at - hate.opened_at == timedelta(hours=24)
    plain = review_of(file_report("p"))
    assert plain.due_at - plain.opened_at == timedelta(hours=24)


def test_warning_marks_the_case_at_risk_once(file_report):
    case_id = file_report()
    review = review_of(case_id)
    assert sweep_warnings(now=review.warn_at - timedelta(seconds=1)) == 0
    assert sweep_warnings(now=review.warn_at) == 1
    assert sweep_warnings(now=review.warn_at + timedelta(minutes=1)) == 0
    assert Case.objects.get(pk=case_id).at_risk_since == review.warn_at
    assert AuditEvent.objects.filter(action="case.sla_warning", target_id=str(review.pk)).count() == 1


def test_breach_runs_the_timeout_action_once(file_report):
    case_id = file_report()
    review = review_of(case_id)
    before = Case.objects.get(pk=case_id).priority
    assert sweep_breaches(now=review.due_at - timedelta(seconds=1)) == 0
    assert sweep_breaches(now=review.due_at) == 1
    assert sweep_breaches(now=review.due_at + timedelta(seconds=5)) == 0
    old = Review.objects.get(pk=review.pk)
    assert old.state == ReviewState.TIMED_OUT and old.breached_at == review.due_at
    new = review_of(case_id)
    assert new.stage.key == "senior"  # Standard: review → senior on timeout
    case = Case.objects.get(pk=case_id)
    assert case.state == CaseState.ESCALATED and case.breach_count == 1 and case.priority == before + 100
    assert AuditEvent.objects.filter(action="case.sla_breached").count() == 1
    assert verify_audit().ok


def test_breach_can_raise_priority_or_only_record(file_report):
    case_id = file_report()
    review = review_of(case_id)
    Stage.objects.filter(pk=review.stage_id).update(on_timeout="raise_priority")
    before = Case.objects.get(pk=case_id).priority
    sweep_breaches(now=review.due_at)
    same = review_of(case_id)
    assert same.pk == review.pk and same.breached_at is not None and same.priority == before + 100
    other = review_of(file_report("other"))
    Stage.objects.filter(pk=other.stage_id).update(on_timeout="")
    sweep_breaches(now=other.due_at)
    assert review_of(other.case_id).pk == other.pk
    assert Case.objects.get(pk=other.case_id).breach_count == 1


def test_hold_pauses_the_clock(file_report, people):
    case_id = file_report()
    review = review_of(case_id)
    lead = people["seniors"][0]
    held = review.opened_at + timedelta(hours=1)
    case_hold(case_id=case_id, lead=lead, reason="waiting", now=held)
    assert sweep_breaches(now=review.due_at + timedelta(days=3)) == 0  # on hold: the clock is stopped
    case_resume(case_id=case_id, lead=lead, now=held + timedelta(hours=5))
    resumed = review_of(case_id)
    assert resumed.due_at == review.due_at + timedelta(hours=5)
    assert resumed.warn_at == review.warn_at + timedelta(hours=5)


def test_expired_leases_are_released_once(file_report, people):
    case_id = file_report()
    mod = people["moderators"][0]
    seat = claim_next(moderator=mod, queue=Queue.objects.get(slug="general"))
    assert review_of(case_id).free_seats == 2
    assert sweep_leases(now=seat.lease_expires_at - timedelta(seconds=1)) == 0
    assert sweep_leases(now=seat.lease_expires_at) == 1
    assert sweep_leases(now=seat.lease_expires_at) == 0
    assert Seat.objects.get(pk=seat.pk).state == "released"
    assert review_of(case_id).free_seats == 3
    event = AuditEvent.objects.get(action="review.seat_released")
    assert event.data["reason"] == "lease expired" and event.actor_name == "claim leases"


def test_renewing_keeps_the_seat_and_queues_set_their_own_lease(file_report, people):
    queue = Queue.objects.get(slug="general")
    queue.lease_seconds = 60
    queue.save()
    file_report()
    mod = people["moderators"][0]
    seat = claim_next(moderator=mod, queue=queue)
    assert seat.lease_expires_at - seat.claimed_at == timedelta(seconds=60)
    later = seat.claimed_at + timedelta(seconds=50)
    new_expiry = lease_renew(seat_id=seat.pk, moderator=mod, now=later)
    assert sweep_leases(now=seat.lease_expires_at + timedelta(seconds=1)) == 0
    assert sweep_leases(now=new_expiry) == 1


def test_sweeps_record_heartbeats(file_report):
    from reviews.models import Heartbeat

    file_report()
    now = timezone.now()
    sweep_warnings(now=now)
    sweep_breaches(now=now)
    sweep_leases(now=now)
    assert set(Heartbeat.objects.values_list("name", flat=True)) == {"sla_warnings", "sla_breaches", "claim_leases"}


def test_business_hours_calendar_from_the_admin_model(workflows, policy_book):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from reviews import sla
    from reviews.models import BusinessCalendar

    berlin = ZoneInfo("Europe/Berlin")
    office = BusinessCalendar.objects.create(
        name="office", timezone="Europe/Berlin",
        weekly_hours={d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
        holidays=["2026-12-28"])
    SlaPolicy.objects.create(name="office hours", position=1, duration_seconds=2 * 3600, calendar=office)
    invalidate_sla_cache()
    stage = Stage.objects.get(version__workflow__slug="standard", key="review")
    rule = sla.resolve(stage=stage, policy_id=policy_book["spam"].pk, priority=200, reporter_kinds={"user"})
    assert rule.seconds == 7200 and rule.calendar_id == office.pk
    friday_4pm = datetime(2026, 12, 25, 16, 0, tzinfo=berlin)  # a Friday; Monday the 28th is a holiday
    warn_at, due_at = sla.deadlines(rule, friday_4pm)
    assert due_at == datetime(2026, 12, 29, 10, 0, tzinfo=berlin)
    assert warn_at == datetime(2026, 12, 29, 9, 30, tzinfo=berlin)
    # A hold from Friday 16:30 to Tuesday 09:00 consumes no open time: 1.5 h were left.
    resumed = sla.resume_deadline(datetime(2026, 12, 25, 16, 30, tzinfo=berlin), due_at,
                                  datetime(2026, 12, 29, 9, 0, tzinfo=berlin), office.as_clock())
    assert resumed == datetime(2026, 12, 29, 10, 30, tzinfo=berlin)


def test_a_breach_that_comes_first_still_sends_the_warning_once(file_report):
    case_id = file_report()
    review = review_of(case_id)
    assert sweep_breaches(now=review.due_at) == 1  # no warning sweep ran in between
    warnings = AuditEvent.objects.filter(action="case.sla_warning", target_id=str(review.pk))
    assert warnings.count() == 1 and warnings.get().data["late"] is True
    assert sweep_warnings(now=review.due_at) == 0
    events = list(AuditEvent.objects.filter(stream=f"case:{case_id}").order_by("seq").values_list("action", flat=True))
    assert events.index("case.sla_warning") < events.index("case.sla_breached")
