"""Rule effects on the review process: "require_reviewers" (raise M and/or N of the case's current review,
never lower them) and "route_workflow" (start a new case in another published workflow)."""

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from audit.services import case_stream
from cases.models import Queue
from reviews.models import Decision, Outcome, Review, ReviewState, Workflow, WorkflowVersion
from reviews.services import claim_next, vote_cast
from reviews.workflows import _stage
from rules.errors import RuleInvalid
from rules.models import RuleHit
from rules.services import rule_create, rule_draft_save

from .conftest import ADMIN

SPAM = 'report.policy == "spam"'


def _vote(moderators, policy_book, case_id, code="remove_content"):
    general = Queue.objects.get(slug="general")
    for mod in moderators:
        seat = claim_next(moderator=mod, queue=general)
        assert str(seat.review.case_id) == str(case_id)
        vote_cast(review_id=seat.review_id, reviewer=mod, outcome=Outcome.objects.get(code=code),
                  policy=policy_book["spam"], rationale="spam")


def test_a_rule_requiring_3_of_4_really_needs_3_votes(make_rule, file_report, people, policy_book):
    rule = make_rule(SPAM, effects=[{"type": "require_reviewers", "quorum": 3, "seats": 4}])
    case_id = file_report(external_id="three-of-four")
    review = Review.objects.select_related("stage").get(case_id=case_id)
    assert (review.stage.quorum, review.stage.seats) == (2, 3)  # the stage itself is unchanged
    assert review.requirement == (3, 4) and review.free_seats == 4
    raised = AuditEvent.objects.get(stream=case_stream(case_id), action="review.requirement_raised")
    assert raised.data["from"] == [2, 3] and raised.data["to"] == [3, 4] and raised.data["trigger"] == "rule"
    assert raised.actor_name == f"rule {rule.slug} v1"
    page = Client()
    page.force_login(people["admin"])
    html = page.get(reverse("console:case", args=[case_id])).content.decode()
    assert "3 of 4, blind" in html and "(more reviewers required by a rule)" in html
    assert "3 matching votes decide." in html
    _vote(people["moderators"][:2], policy_book, case_id)  # two agree: enough for the stage, not for this case
    assert Review.objects.get(pk=review.pk).state == ReviewState.OPEN
    assert not Decision.objects.filter(case_id=case_id).exists()
    _vote(people["moderators"][2:3], policy_book, case_id)  # the third matching vote decides
    assert Review.objects.get(pk=review.pk).state == ReviewState.CONSENSUS
    assert Decision.objects.get(case_id=case_id).outcome.code == "remove_content"
    # Another case of the same stage keeps 2 of 3: the requirement is this case's only.
    other = file_report(external_id="other", policy="harassment")
    assert Review.objects.get(case_id=other).requirement == (2, 3)


def test_a_rule_cannot_lower_the_bar(make_rule, file_report, workflows, people):
    make_rule(SPAM, effects=[{"type": "require_reviewers", "quorum": 1, "seats": 1}])
    case_id = file_report(external_id="lower")
    review = Review.objects.get(case_id=case_id)
    assert review.requirement == (2, 3) and review.free_seats == 3
    hit = RuleHit.objects.get(case_id=case_id)
    assert hit.effects[0]["raised"] is False and "2 of 3 already" in hit.effects[0]["reason"]
    assert not AuditEvent.objects.filter(stream=case_stream(case_id), action="review.requirement_raised").exists()


def test_a_rule_cannot_route_a_case_to_a_laxer_workflow(make_rule, file_report, workflows, people):
    lax = Workflow.objects.create(slug="lax", name="Lax")
    version = WorkflowVersion.objects.create(workflow=lax, number=1, first_stage_key="one", state="published")
    _stage(version, "one", "One", "review", people["moderators"][0].groups.get(), 1, 1)
    lax.published_version = version
    lax.save()
    make_rule(SPAM, effects=[{"type": "route_workflow", "workflow": "lax"}])
    case_id = file_report(external_id="laxer")
    review = Review.objects.select_related("stage__version__workflow").get(case_id=case_id)
    assert review.stage.version.workflow.slug == "standard" and review.state == ReviewState.OPEN
    effect = RuleHit.objects.get(case_id=case_id).effects[0]
    assert effect["routed"] is False and "fewer than the 2" in effect["reason"]


def test_more_seats_than_the_group_has_are_not_required(make_rule, file_report, people):
    make_rule(SPAM, effects=[{"type": "require_reviewers", "seats": 6}])  # five moderators
    case_id = file_report(external_id="too-many")
    assert Review.objects.get(case_id=case_id).requirement == (2, 3)
    assert "fewer than N=6" in RuleHit.objects.get(case_id=case_id).effects[0]["reason"]


def test_route_workflow_starts_a_new_case_elsewhere_and_only_at_open(make_rule, file_report):
    rule = make_rule(SPAM, effects=[{"type": "route_workflow", "workflow": "child-safety"},
                                    {"type": "require_reviewers", "quorum": 2, "seats": 3}])
    case_id = file_report(external_id="routed")
    reviews = list(Review.objects.filter(case_id=case_id).select_related("stage__version__workflow")
                   .order_by("opened_at", "state"))
    by_state = {r.state: r for r in reviews}
    assert set(by_state) == {ReviewState.CANCELLED, ReviewState.OPEN}
    assert by_state[ReviewState.CANCELLED].stage.version.workflow.slug == "standard"
    started = by_state[ReviewState.OPEN]
    assert started.stage.version.workflow.slug == "child-safety" and started.stage.key == "senior-review"
    assert started.requirement == (2, 3)  # required after the move: on the new stage (2 of 2 → 2 of 3)
    routed = AuditEvent.objects.get(stream=case_stream(case_id), action="case.routed")
    assert routed.data["trigger"] == "rule" and routed.data["to_workflow"] == "child-safety"
    assert routed.actor_name == f"rule {rule.slug} v1"
    file_report(external_id="routed", reporter=("user", "second"))  # joins: no new workflow
    last = RuleHit.objects.filter(case_id=case_id).order_by("-created_at").first()
    assert last.effects[0]["routed"] is False and "opens the case" in last.effects[0]["reason"]
    assert Review.objects.filter(case_id=case_id).count() == 2


def test_shadow_rules_neither_route_nor_require(make_rule, file_report):
    make_rule(SPAM, mode="shadow", effects=[{"type": "route_workflow", "workflow": "child-safety"},
                                            {"type": "require_reviewers", "quorum": 3, "seats": 4}])
    case_id = file_report(external_id="shadowed")
    review = Review.objects.select_related("stage__version__workflow").get(case_id=case_id)
    assert review.stage.version.workflow.slug == "standard"
    assert review.required_quorum is None and review.required_seats is None and review.free_seats == 3
    assert not AuditEvent.objects.filter(stream=case_stream(case_id),
                                         action__in=["case.routed", "review.requirement_raised"]).exists()
    hit = RuleHit.objects.get(case_id=case_id)
    assert hit.mode == "shadow" and not hit.applied
    assert [e["type"] for e in hit.effects] == ["route_workflow", "require_reviewers"]


@pytest.mark.parametrize("effects, problem", [
    ([{"type": "route_workflow", "workflow": "nope"}], "no published workflow with slug 'nope'"),
    ([{"type": "route_workflow", "workflow": "unpublished"}], "no published workflow with slug 'unpublished'"),
    ([{"type": "route_workflow", "workflow": "standard"}, {"type": "route_workflow", "workflow": "standard"}],
     "at most one"),
    ([{"type": "require_reviewers"}], "at least one of quorum, seats"),
    ([{"type": "require_reviewers", "quorum": 4, "seats": 3}], "need at least as many seats"),
    ([{"type": "require_reviewers", "quorum": 0}], "an integer from 1 to 50"),
    ([{"type": "require_reviewers", "seats": 51}], "an integer from 1 to 50"),
    ([{"type": "require_reviewers", "seats": True}], "an integer from 1 to 50"),
])
def test_invalid_new_effects_are_refused_when_saved(workflows, effects, problem):
    Workflow.objects.create(slug="unpublished", name="Unpublished")
    rule = rule_create(slug="bad-effects", name="Bad", actor=ADMIN)
    with pytest.raises(RuleInvalid) as caught:
        rule_draft_save(rule=rule, actor=ADMIN, expression=SPAM, effects=effects, predicts="remove_content")
    assert any(problem in reason for reason in caught.value.problems["effects"]), caught.value.problems


@pytest.mark.parametrize("stage, required, expected", [
    ((2, 3), (None, None), (2, 3)),
    ((2, 3), (3, 4), (3, 4)),
    ((2, 3), (1, 1), (2, 3)),  # never lower
    ((2, 3), (4, None), (4, 4)),  # N follows M
    ((2, 3), (None, 5), (2, 5)),
    ((1, 1), (1, 2), (1, 2)),
])
def test_a_reviews_requirement_is_the_stages_raised_never_lowered(stage, required, expected):
    from reviews.consensus import requirement

    assert requirement(stage_quorum=stage[0], stage_seats=stage[1], required_quorum=required[0],
                       required_seats=required[1]) == expected
