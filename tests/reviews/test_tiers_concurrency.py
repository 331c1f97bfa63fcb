"""Escalation and send-back racing each other, with real threads and PostgreSQL connections."""

import pytest

from audit.verify import verify_audit
from reviews.models import Review
from reviews.services import case_escalate, case_send_back

from .test_concurrency import together

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_two_leads_escalating_the_same_review_at_once_move_it_one_tier(file_report, people):
    for round_ in range(3):
        case_id = file_report(external_id=f"esc-race-{round_}")
        seen = Review.objects.get(case_id=case_id, state="open").pk
        s1, s2 = people["seniors"][:2]
        results = together([
            (lambda u=u, c=case_id, r=seen: case_escalate(case_id=c, actor_user=u, reason="both at once",
                                                          from_review_id=r))
            for u in (s1, s2)
        ])
        assert not any(isinstance(r, Exception) for r in results), results
        active = Review.objects.select_related("stage").get(case_id=case_id, state__in=["open", "on_hold"])
        assert active.stage.key == "senior"
        assert Review.objects.filter(case_id=case_id).count() == 2


def test_escalate_and_send_back_at_once_leave_one_active_review(file_report, people):
    case_id = file_report(external_id="esc-back")
    lead = people["seniors"][0]
    case_escalate(case_id=case_id, actor_user=lead, reason="up")
    seen = Review.objects.get(case_id=case_id, state="open").pk
    results = together([
        lambda: case_escalate(case_id=case_id, actor_user=lead, reason="further up", from_review_id=seen),
        lambda: case_send_back(case_id=case_id, actor_user=people["seniors"][1], guidance="back down",
                               from_review_id=seen),
    ])
    # exactly one of them acted on the senior review; the other found it gone (a no-op or a clear refusal)
    active = Review.objects.select_related("stage").filter(case_id=case_id, state__in=["open", "on_hold"])
    assert active.count() == 1 and active.get().stage.key in ("lead", "review")
    assert Review.objects.filter(case_id=case_id).count() == 3
    refused = [r for r in results if isinstance(r, Exception)]
    assert all(getattr(r, "code", "") == "review_changed" for r in refused), refused
    assert verify_audit().ok
