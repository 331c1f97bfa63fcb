"""G1 part C through the services on PostgreSQL: approvals that cannot be
shopped, escalation tiers with send-back, appeals with an end."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from audit.verify import verify_audit
from cases.models import Case, CaseState, Queue
from reviews.errors import AppealRefused, InvalidVote, NotAllowed, NotEligible, WorkflowInvalid
from reviews.models import (
    Appeal,
    Decision,
    Outcome,
    Review,
    ReviewNote,
    Stage,
    StageKind,
    Workflow,
)
from reviews.services import (
    appeal_file,
    case_escalate,
    case_send_back,
    claim_next,
    seat_assign,
    vote_cast,
)
from reviews.workflows import workflow_draft_from, workflow_publish

pytestmark = pytest.mark.django_db


def general():
    return Queue.objects.get(slug="general")


def active(case_id):
    return Review.objects.select_related("stage").get(case_id=case_id, state__in=["open", "on_hold"])


def outcome(code):
    return Outcome.objects.get(code=code)


def vote(user, case_id, code=None, policy=None, *, approved=None, rationale=None, days=None):
    seat = claim_next(moderator=user, queue=general())
    assert seat is not None, f"{user.username} got no seat"
    assert str(seat.review.case_id) == str(case_id)
    return vote_cast(review_id=seat.review_id, reviewer=user, outcome=outcome(code) if code else None, policy=policy,
                     approved=approved, duration_days=days,
                     rationale=rationale if rationale is not None else f"{user.username}: {code or approved}")


def split_to_senior(file_report, people, policy, **kw):
    case_id = file_report(**kw)
    m = people["moderators"]
    vote(m[0], case_id, "remove_content", policy)
    vote(m[1], case_id, "label", policy)
    vote(m[2], case_id, "no_violation", policy)
    assert active(case_id).stage.key == "senior"
    return case_id


# ---- approvals that cannot be shopped -------------------------------------------------------------------------------

def test_the_approver_shopping_attack_does_not_decide_the_ban(file_report, people, policy_book):
    """senior2 rejects senior1's ban_account; senior1 proposes the ban again; senior3 approves → no ban."""
    spam = policy_book["spam"]
    s1, s2, s3, s4 = people["seniors"]
    case_id = split_to_senior(file_report, people, spam, kind="account", external_id="acct-shop")
    vote(s1, case_id, "ban_account", spam)
    assert active(case_id).stage.key == "approval"
    vote(s2, case_id, approved=False, rationale="not enough evidence for a ban")

    lead_review = active(case_id)
    assert lead_review.stage.key == "lead"  # up a tier, not back to the senior stage that proposed it
    assert set(lead_review.barred_user_ids) >= {s1.pk, s2.pk}
    # senior1 cannot propose the ban again: no seat anywhere on this case, claimed or assigned
    assert claim_next(moderator=s1, queue=general()) is None
    with pytest.raises(NotEligible, match="cannot be shopped|earlier stage"):
        seat_assign(review_id=lead_review.pk, moderator=s1, lead=people["seniors"][3])
    assert claim_next(moderator=s2, queue=general()) is None
    assert not Decision.objects.filter(case_id=case_id).exists()

    # the lead tier (a senior who has not touched the case) may propose it; four eyes still apply,
    # and neither the first proposer nor the rejecter may be those eyes
    vote(s3, case_id, "ban_account", spam, rationale="repeat offender, see history")
    approval = active(case_id)
    assert approval.stage.key == "approval" and {s1.pk, s2.pk} <= set(approval.barred_user_ids)
    for barred in (s1, s2, s3):
        assert claim_next(moderator=barred, queue=general()) is None
    vote(s4, case_id, approved=True)
    decision = Decision.objects.get(case_id=case_id)
    assert decision.outcome.code == "ban_account"
    assert {r["username"] for r in decision.reviewers if r["outcome"] == "ban_account" or r["approved"]} == \
        {"senior3", "senior4"}
    rejected = AuditEvent.objects.get(action="review.approval_rejected")
    assert rejected.data["to_stage"] == "lead" and rejected.data["outcome"] == "ban_account"
    assert verify_audit().ok


def test_a_reproposal_from_below_goes_to_the_tier_the_rejection_went_to(file_report, people, policy_book):
    spam = policy_book["spam"]
    m = people["moderators"]
    s1, s2, s3, _s4 = people["seniors"]
    case_id = file_report(kind="account", external_id="acct-again")
    vote(m[0], case_id, "ban_account", spam)
    vote(m[1], case_id, "ban_account", spam)
    vote(s1, case_id, approved=False, rationale="suspend first")
    senior = active(case_id)
    assert senior.stage.key == "senior" and {m[0].pk, m[1].pk, s1.pk} <= set(senior.barred_user_ids)
    # the senior tier escalates to the lead, who sends it back down with guidance
    vote_seat = claim_next(moderator=s2, queue=general())
    case_escalate(case_id=case_id, actor_user=s2, reason="needs a lead", from_review_id=vote_seat.review_id)
    assert active(case_id).stage.key == "lead"
    claim_next(moderator=s3, queue=general())
    back = case_send_back(case_id=case_id, actor_user=s3, guidance="check the ban evasion report first")
    assert back.stage.key == "senior"
    # the senior tier is the tier the rejection named: a senior there may propose the ban again, through four eyes
    # that neither the first proposers nor the rejecter may be
    s4 = people["seniors"][3]
    vote(s4, case_id, "ban_account", spam)
    review = active(case_id)
    assert review.stage.key == "approval"
    assert {m[0].pk, m[1].pk, s1.pk} <= set(review.barred_user_ids)


def test_reproposal_below_the_required_tier_is_sent_up(file_report, people, policy_book, system_actor):
    """A proposal from the first stage after a rejection that went to the senior tier needs the senior tier."""
    spam = policy_book["spam"]
    m = people["moderators"]
    s1, s2, _s3, _s4 = people["seniors"]
    case_id = file_report(kind="account", external_id="acct-below")
    vote(m[0], case_id, "ban_account", spam)
    vote(m[1], case_id, "ban_account", spam)
    vote(s1, case_id, approved=False, rationale="no")
    claim_next(moderator=s2, queue=general())
    back = case_send_back(case_id=case_id, actor_user=s2, guidance="ask three fresh moderators")
    assert back.stage.key == "review" and Case.objects.get(pk=case_id).state == CaseState.IN_REVIEW
    vote(m[2], case_id, "ban_account", spam)
    vote(m[3], case_id, "ban_account", spam)
    review = active(case_id)
    assert review.stage.key == "senior", "a re-proposal from below the tier must not reach approval"
    assert {m[2].pk, m[3].pk, s1.pk} <= set(review.barred_user_ids)
    opened = AuditEvent.objects.filter(action="review.opened").order_by("-seq").first()
    assert opened.data["reproposal"] == "ban_account"
    assert not Decision.objects.filter(case_id=case_id).exists()


@pytest.mark.parametrize("days, stage", [(30, None), (31, "approval")])
def test_a_long_suspension_needs_approval(file_report, people, policy_book, days, stage):
    spam = policy_book["spam"]
    m = people["moderators"]
    case_id = file_report(kind="account", external_id=f"acct-susp-{days}")
    vote(m[0], case_id, "suspend_account", spam, days=days)
    vote(m[1], case_id, "suspend_account", spam, days=days)
    if stage is None:
        assert Decision.objects.get(case_id=case_id).duration_days == 30
    else:
        assert active(case_id).stage.key == "approval" and active(case_id).proposed_duration_days == days
        assert not Decision.objects.filter(case_id=case_id).exists()


# ---- escalation tiers ------------------------------------------------------------------------------------------------

def test_a_moderator_who_voted_in_the_split_is_never_seated_at_the_senior_stage(file_report, people, policy_book):
    from django.contrib.auth.models import Group

    m = people["moderators"]
    m[0].groups.add(Group.objects.get(name="senior_moderator"))  # a moderator who is also a senior
    case_id = split_to_senior(file_report, people, policy_book["spam"])
    senior = active(case_id)
    assert senior.stage.exclude_earlier_reviewers
    assert claim_next(moderator=m[0], queue=general()) is None
    with pytest.raises(NotEligible, match="earlier stage"):
        seat_assign(review_id=senior.pk, moderator=m[0], lead=people["seniors"][0])


def test_escalate_at_the_top_tier_is_refused_and_changes_nothing(file_report, people):
    case_id = file_report()
    lead = people["seniors"][0]
    case_escalate(case_id=case_id, actor_user=lead, reason="hard")
    case_escalate(case_id=case_id, actor_user=lead, reason="harder")
    top = active(case_id)
    assert top.stage.key == "lead"
    events = AuditEvent.objects.count()
    with pytest.raises(NotAllowed) as refused:
        case_escalate(case_id=case_id, actor_user=lead, reason="hardest")
    assert refused.value.code == "top_tier" and "Decide the case here, or put it on hold" in str(refused.value)
    assert active(case_id).pk == top.pk and AuditEvent.objects.count() == events


def test_send_back_is_for_the_higher_tier_with_guidance_and_is_audited(file_report, people, policy_book):
    m = people["moderators"]
    case_id = split_to_senior(file_report, people, policy_book["spam"])
    senior_review = active(case_id)
    with pytest.raises(NotAllowed):  # a moderator without a seat up there
        case_send_back(case_id=case_id, actor_user=m[3], guidance="redo")
    s1 = people["seniors"][0]
    claim_next(moderator=s1, queue=general())
    with pytest.raises(NotAllowed) as empty:
        case_send_back(case_id=case_id, actor_user=s1, guidance="   ")
    assert empty.value.field == "guidance"
    with pytest.raises(NotAllowed) as wrong:
        case_send_back(case_id=case_id, actor_user=s1, guidance="x", to_stage="approval")
    assert wrong.value.field == "to_stage"
    before = Case.objects.get(pk=case_id).priority
    lower = case_send_back(case_id=case_id, actor_user=s1, guidance="the link is a known phishing domain")
    assert lower.stage.key == "review" and lower.free_seats == 3 and lower.due_at > senior_review.due_at - \
        timedelta(days=365)
    case = Case.objects.get(pk=case_id)
    assert case.state == CaseState.IN_REVIEW and case.priority == before  # going down raises nothing
    note = ReviewNote.objects.get(review=lower)
    assert "known phishing domain" in note.text and note.author == s1
    opened = AuditEvent.objects.filter(action="review.opened", target_id=str(lower.pk)).get()
    assert opened.data["sent_back_from"] == "senior" and opened.data["guidance"] == "the link is a known phishing domain"
    # the moderators who split may take part again at their own tier
    assert claim_next(moderator=m[3], queue=general()).review_id == lower.pk
    # nothing below the first tier
    with pytest.raises(NotAllowed) as bottom:
        case_send_back(case_id=case_id, actor_user=m[3], guidance="down")
    assert bottom.value.code == "no_lower_tier"
    assert verify_audit().ok


def test_escalation_priority_is_capped_at_850(file_report, people):
    case_id = file_report()
    Case.objects.filter(pk=case_id).update(priority=800)
    lead = people["seniors"][0]
    case_escalate(case_id=case_id, actor_user=lead, reason="up")
    case_escalate(case_id=case_id, actor_user=lead, reason="up again")
    assert Case.objects.get(pk=case_id).priority == 850 == active(case_id).priority


def test_publish_refuses_broken_tiers(workflows, system_actor):
    standard = Workflow.objects.get(slug="standard").published_version
    draft = workflow_draft_from(version=standard, actor=system_actor)
    Stage.objects.filter(version=draft, key="lead").update(next_tier="senior")  # senior → lead → senior
    with pytest.raises(WorkflowInvalid, match="cycle"):
        workflow_publish(version=draft, actor=system_actor)
    Stage.objects.filter(version=draft, key="lead").update(next_tier="approval")
    with pytest.raises(WorkflowInvalid, match="must be an escalation stage"):
        workflow_publish(version=draft, actor=system_actor)
    Stage.objects.filter(version=draft, key="lead").update(next_tier="nowhere")
    with pytest.raises(WorkflowInvalid, match="not a stage"):
        workflow_publish(version=draft, actor=system_actor)
    Stage.objects.filter(version=draft, key="lead").update(next_tier="")
    assert workflow_publish(version=draft, actor=system_actor).state == "published"


def test_a_long_suspension_without_an_approval_stage_is_refused(file_report, people, policy_book, system_actor):
    standard = Workflow.objects.get(slug="standard")
    draft = workflow_draft_from(version=standard.published_version, actor=system_actor)
    draft.approval_stage_key = ""
    draft.save(update_fields=["approval_stage_key"])
    Stage.objects.filter(version=draft, key="approval").delete()
    for stage in Stage.objects.filter(version=draft).exclude(kind=StageKind.APPROVAL):
        stage.allowed_outcomes.remove(outcome("ban_account"), outcome("refer_to_law_enforcement"))
    workflow_publish(version=draft, actor=system_actor)
    case_id = file_report(kind="account", external_id="acct-noapp")
    seat = claim_next(moderator=people["moderators"][0], queue=general())
    with pytest.raises(InvalidVote) as refused:
        vote_cast(review_id=seat.review_id, reviewer=people["moderators"][0], outcome=outcome("suspend_account"),
                  policy=policy_book["spam"], rationale="long", duration_days=90)
    assert refused.value.field == "duration_days"
    assert str(seat.review.case_id) == str(case_id)


# ---- appeals with an end ---------------------------------------------------------------------------------------------

def _decide(case_id, users, code, policy, now=None):
    for user in users:
        seat = claim_next(moderator=user, queue=general(), now=now)
        assert seat is not None and str(seat.review.case_id) == str(case_id)
        vote_cast(review_id=seat.review_id, reviewer=user, outcome=outcome(code), policy=policy, rationale=code,
                  now=now)
    return Decision.objects.get(case_id=case_id, is_current=True)


def _appeal(case_id, actor, kind="affected_user", who="", now=None):
    return appeal_file(case_id=case_id, appellant_kind=kind, appellant_external_id=who, statement="please look again",
                       actor=actor, now=now)


def test_one_appeal_per_decision_per_appellant_then_a_final_tier_then_an_end(file_report, people, policy_book,
                                                                             system_actor):
    spam = policy_book["spam"]
    m, s = people["moderators"], people["seniors"]
    case_id = file_report()
    first = _decide(case_id, m[:2], "remove_content", spam)
    _appeal(case_id, system_actor, who="author-1")
    second = _decide(case_id, m[2:4], "remove_content", spam)  # upheld
    assert second.kind == "appeal_upheld" and not second.appeals_exhausted
    # the same appellant appeals the appeal decision: only the final tier hears it
    final_appeal = _appeal(case_id, system_actor, who="author-1")
    assert final_appeal.level == 2 and active(case_id).stage.key == "appeal-final"
    for earlier in m[:4]:  # nobody who decided before may sit in the final tier
        assert claim_next(moderator=earlier, queue=general()) is None
    third = _decide(case_id, s[:1], "no_violation", spam)
    assert third.kind == "appeal_overturned" and third.appeals_exhausted
    assert "Art. 21" in third.facts_and_reasons and "out-of-court dispute settlement" in third.facts_and_reasons
    with pytest.raises(AppealRefused) as refused:
        _appeal(case_id, system_actor, kind="reporter", who="reporter-9")
    assert refused.value.code == "appeals_exhausted" and "Art. 21" in str(refused.value)
    assert Appeal.objects.filter(case_id=case_id).count() == 2
    assert first.pk != third.pk


def test_the_same_appellant_cannot_appeal_a_decision_twice(file_report, people, policy_book, system_actor):
    spam = policy_book["spam"]
    m = people["moderators"]
    case_id = file_report()
    decision = _decide(case_id, m[:2], "remove_content", spam)
    appeal = _appeal(case_id, system_actor, who="author-1")
    assert appeal.decision_id == decision.pk
    with pytest.raises(AppealRefused) as open_one:
        _appeal(case_id, system_actor, who="author-1")
    assert open_one.value.code == "appeal_already_open"
    # The services never end an appeal without a new decision; the limit guards the decision itself, so set up an
    # appeal that ended without one (as an operator's data repair would leave it).
    Appeal.objects.filter(pk=appeal.pk).update(state="decided")
    Review.objects.filter(case_id=case_id, state="open").update(state="cancelled")
    Case.objects.filter(pk=case_id).update(state=CaseState.DECIDED)
    with pytest.raises(AppealRefused) as limit:
        _appeal(case_id, system_actor, who="author-1")
    assert limit.value.code == "appeal_limit_reached"
    # another appellant (the reporter) still has their one appeal
    assert _appeal(case_id, system_actor, kind="reporter", who="reporter-1").level == 1
    assert Appeal.objects.filter(decision=decision, appellant_external_id="author-1").count() == 1


def test_the_window_is_counted_from_the_original_decision(file_report, people, policy_book, system_actor, settings):
    spam = policy_book["spam"]
    m = people["moderators"]
    case_id = file_report()
    original = _decide(case_id, m[:2], "remove_content", spam, now=timezone.now() - timedelta(days=100))
    _appeal(case_id, system_actor, who="author-1")
    appeal_decision = _decide(case_id, m[2:4], "label", spam)
    assert appeal_decision.kind == "appeal_modified"
    late = original.decided_at + timedelta(days=settings.APPEAL_WINDOW_DAYS, minutes=1)
    assert late < appeal_decision.decided_at + timedelta(days=settings.APPEAL_WINDOW_DAYS)  # would be in time
    with pytest.raises(AppealRefused) as refused:
        _appeal(case_id, system_actor, who="author-1", now=late)
    assert refused.value.code == "appeal_window_closed" and "original decision" in str(refused.value)
    in_time = original.decided_at + timedelta(days=settings.APPEAL_WINDOW_DAYS) - timedelta(minutes=1)
    assert _appeal(case_id, system_actor, who="author-1", now=in_time).level == 2


@pytest.mark.parametrize("original, appealed, kind, result", [
    ("no_violation", "remove_content", "appeal_overturned", "overturned"),  # a reporter's successful appeal
    ("no_violation", "no_violation", "appeal_upheld", "upheld"),
    ("remove_content", "label", "appeal_modified", "modified"),
])
def test_reporter_appeal_outcomes_are_labelled_for_what_they_are(file_report, people, policy_book, system_actor,
                                                                 original, appealed, kind, result):
    spam = policy_book["spam"]
    m = people["moderators"]
    case_id = file_report()
    _decide(case_id, m[:2], original, spam)
    appeal = _appeal(case_id, system_actor, kind="reporter", who="r1")
    decision = _decide(case_id, m[2:4], appealed, spam)
    appeal.refresh_from_db()
    assert decision.kind == kind and appeal.result == result
    action = "decision.reversed" if result == "overturned" else "decision.made"
    assert AuditEvent.objects.filter(action=action, target_id=str(decision.pk)).exists()
