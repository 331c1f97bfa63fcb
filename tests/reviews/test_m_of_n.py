"""Consensus through the services for every (M, N) from (1, 1) to (3, 5)."""

import pytest
from django.contrib.auth.models import Group, User

from cases.models import Queue
from reviews.models import DECIDE, Decision, Outcome, Review, RoutingRule, Stage, Workflow, WorkflowVersion
from reviews.services import claim_next, vote_cast
from reviews.workflows import install_default_outcomes, invalidate_routing_cache, workflow_publish

pytestmark = pytest.mark.django_db

PAIRS = [(m, n) for n in range(1, 6) for m in range(1, 4) if m <= n]


@pytest.fixture
def m_of_n(db, policy_book, system_actor):
    def build(m, n):
        install_default_outcomes()
        group = Group.objects.create(name=f"g{m}{n}")
        users = []
        for i in range(n + 2):
            u = User.objects.create_user(f"r{m}{n}-{i}")
            u.groups.add(group)
            users.append(u)
        senior = Group.objects.get_or_create(name="senior_moderator")[0]
        User.objects.create_user(f"s{m}{n}").groups.add(senior)
        wf = Workflow.objects.create(slug=f"mn-{m}-{n}", name="mn")
        v = WorkflowVersion.objects.create(workflow=wf, number=1, first_stage_key="s", escalation_stage_key="esc")
        s = Stage.objects.create(version=v, key="s", name="s", group=group, seats=n, quorum=m, on_consensus=DECIDE,
                                 on_split="esc")
        s.allowed_outcomes.set(Outcome.objects.filter(requires_approval=False))
        e = Stage.objects.create(version=v, key="esc", name="esc", kind="escalation", group=senior, seats=1, quorum=1)
        e.allowed_outcomes.set(Outcome.objects.filter(requires_approval=False))
        workflow_publish(version=v, actor=system_actor)
        RoutingRule.objects.create(position=0, workflow=wf)
        invalidate_routing_cache()
        return users

    yield build
    invalidate_routing_cache()


@pytest.mark.parametrize("m, n", PAIRS)
def test_m_agreeing_votes_decide(m_of_n, file_report_plain, policy_book, m, n):
    users = m_of_n(m, n)
    case_id = file_report_plain()
    queue = Queue.objects.get(slug="general")
    label = Outcome.objects.get(code="label")
    for i, user in enumerate(users[:m]):
        seat = claim_next(moderator=user, queue=queue)
        assert not Decision.objects.filter(case_id=case_id).exists()
        vote_cast(review_id=seat.review_id, reviewer=user, outcome=label, policy=policy_book["spam"], rationale=f"v{i}")
    decision = Decision.objects.get(case_id=case_id)
    assert decision.outcome == label and len(decision.reviewers) == m
    review = Review.objects.get(case_id=case_id)
    assert review.state == "consensus" and review.seat_set.filter(state="claimed").count() == 0


@pytest.mark.parametrize("m, n", [p for p in PAIRS if p[0] > 1])
def test_disagreement_splits_as_soon_as_agreement_is_impossible(m_of_n, file_report_plain, policy_book, m, n):
    users = m_of_n(m, n)
    case_id = file_report_plain()
    queue = Queue.objects.get(slug="general")
    codes = ["label", "remove_content", "restrict_visibility", "no_violation", "suspend_account"]
    cast = 0
    while Review.objects.filter(case_id=case_id, state="split").count() == 0:
        user = users[cast]
        seat = claim_next(moderator=user, queue=queue)
        code = codes[cast]
        vote_cast(review_id=seat.review_id, reviewer=user, outcome=Outcome.objects.get(code=code),
                  policy=policy_book["spam"], rationale="x", duration_days=3 if code == "suspend_account" else None)
        cast += 1
    # all different votes: split once the remaining seats cannot lift any count (1) to M
    assert cast == n - m + 2 if n - m + 2 <= n else cast == n
    assert Review.objects.get(case_id=case_id, state="open").stage.key == "esc"
