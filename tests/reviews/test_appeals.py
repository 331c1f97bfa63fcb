from datetime import timedelta

import pytest
from django.utils import timezone

from cases.models import Case, CaseState, Queue
from reviews.errors import AppealRefused
from reviews.models import Appeal, Decision, Outcome, Review
from reviews.services import appeal_file, claim_next, vote_cast

pytestmark = pytest.mark.django_db


def general():
    return Queue.objects.get(slug="general")


def decide(case_id, mods, code, policy):
    for mod in mods:
        seat = claim_next(moderator=mod, queue=general())
        assert str(seat.review.case_id) == str(case_id)
        vote_cast(review_id=seat.review_id, reviewer=mod, outcome=Outcome.objects.get(code=code), policy=policy,
                  rationale=f"{code} by {mod.username}")
    return Decision.objects.get(case_id=case_id, is_current=True)


@pytest.fixture
def decided(file_report, people, policy_book):
    case_id = file_report()
    decision = decide(case_id, people["moderators"][:2], "remove_content", policy_book["spam"])
    return case_id, decision


def appeal(case_id, system_actor, **kw):
    return appeal_file(case_id=case_id, appellant_kind="affected_user", statement="it was satire", actor=system_actor,
                       **kw)


def test_appeal_is_reviewed_by_people_who_did_not_decide(decided, people, system_actor):
    case_id, _decision = decided
    appeal(case_id, system_actor)
    review = Review.objects.get(case_id=case_id, state="open")
    assert review.stage.kind == "appeal" and review.stage.rule == "2 of 3, blind"
    assert Case.objects.get(pk=case_id).state == CaseState.IN_REVIEW
    mods = people["moderators"]
    assert claim_next(moderator=mods[0], queue=general()) is None  # voted on the original
    assert claim_next(moderator=mods[1], queue=general()) is None
    assert claim_next(moderator=mods[2], queue=general()) is not None


@pytest.mark.parametrize("code, result, action", [
    ("remove_content", "upheld", "decision.made"),
    ("no_violation", "overturned", "decision.reversed"),
    ("label", "modified", "decision.made"),
])
def test_appeal_results(decided, people, system_actor, policy_book, code, result, action):
    from audit.models import AuditEvent

    case_id, original = decided
    the_appeal = appeal(case_id, system_actor)
    new = decide(case_id, people["moderators"][2:4], code, policy_book["spam"])
    the_appeal.refresh_from_db()
    assert the_appeal.state == "decided" and the_appeal.result == result
    assert new.supersedes == original and new.kind == f"appeal_{result}"
    original.refresh_from_db()
    assert not original.is_current and new.is_current
    assert Decision.objects.filter(case_id=case_id).count() == 2  # history keeps every version
    assert new.automated_decision is False
    assert AuditEvent.objects.filter(action=action, target_id=str(new.pk)).exists()
    assert Case.objects.get(pk=case_id).state == CaseState.DECIDED


def test_one_open_appeal_per_decision(decided, system_actor):
    case_id, _ = decided
    appeal(case_id, system_actor)
    with pytest.raises(AppealRefused, match="already open"):
        appeal(case_id, system_actor)
    assert Appeal.objects.count() == 1


def test_the_window(decided, system_actor, settings):
    case_id, decision = decided
    late = decision.decided_at + timedelta(days=settings.APPEAL_WINDOW_DAYS, minutes=1)
    with pytest.raises(AppealRefused, match="window closed") as info:
        appeal(case_id, system_actor, now=late)
    assert info.value.code == "appeal_window_closed"
    just_in_time = decision.decided_at + timedelta(days=settings.APPEAL_WINDOW_DAYS) - timedelta(minutes=1)
    assert appeal(case_id, system_actor, now=just_in_time).state == "open"


def test_no_decision_no_appeal(file_report, system_actor):
    case_id = file_report()
    with pytest.raises(AppealRefused, match="no decision"):
        appeal(case_id, system_actor)


def test_statement_required(decided, system_actor):
    case_id, _ = decided
    with pytest.raises(AppealRefused):
        appeal_file(case_id=case_id, appellant_kind="reporter", statement="  ", actor=system_actor,
                    now=timezone.now())
