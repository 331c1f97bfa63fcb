import pytest
from django.contrib.auth.models import Group, User
from django.db import IntegrityError, transaction

from audit.models import AuditEvent
from reviews.errors import WorkflowInvalid
from reviews.models import DECIDE, Outcome, Stage, StageKind, VersionState, Workflow, WorkflowVersion
from reviews.workflows import install_default_outcomes, workflow_draft_from, workflow_publish

pytestmark = pytest.mark.django_db


@pytest.fixture
def group(db):
    g = Group.objects.create(name="team")
    for i in range(3):
        User.objects.create_user(f"u{i}").groups.add(g)
    return g


@pytest.fixture
def draft(group):
    install_default_outcomes()
    wf = Workflow.objects.create(slug="w", name="W")
    return WorkflowVersion.objects.create(workflow=wf, number=1, first_stage_key="one")


def stage(version, key, group, *, m=1, n=1, kind=StageKind.REVIEW, on_consensus=DECIDE, on_split="", outcomes=None):
    s = Stage.objects.create(version=version, key=key, name=key, kind=kind, group=group, seats=n, quorum=m,
                             on_consensus=on_consensus, on_split=on_split)
    if kind != StageKind.APPROVAL:
        s.allowed_outcomes.set(outcomes if outcomes is not None else Outcome.objects.filter(requires_approval=False))
    return s


def refused(version, fragment):
    with pytest.raises(WorkflowInvalid) as info:
        workflow_publish(version=version, actor=None)
    assert any(fragment in p for p in info.value.problems), info.value.problems


def test_a_valid_version_publishes_with_an_audited_definition(draft, group, system_actor):
    stage(draft, "one", group, m=2, n=3, on_split="two")
    stage(draft, "two", group)
    workflow_publish(version=draft, actor=system_actor)
    draft.refresh_from_db()
    assert draft.state == VersionState.PUBLISHED and draft.workflow.published_version == draft
    event = AuditEvent.objects.get(action="workflow.published")
    assert event.data["before"] is None and [s["key"] for s in event.data["after"]["stages"]] == ["one", "two"]


def test_m_greater_than_n_is_refused(draft, group):
    s = stage(draft, "one", group, m=1, n=1)
    with pytest.raises(IntegrityError), transaction.atomic():  # M < 1 never reaches the database
        Stage.objects.filter(pk=s.pk).update(quorum=0)
    Stage.objects.filter(pk=s.pk).update(quorum=3, seats=2)
    refused(draft, "M=3 must be between 1 and N=2")


def test_unknown_target_is_refused(draft, group):
    stage(draft, "one", group, m=2, n=3, on_split="nowhere")
    refused(draft, "'nowhere' is not a stage")


def test_empty_group_is_refused(draft):
    empty = Group.objects.create(name="empty")
    stage(draft, "one", empty)
    refused(draft, "has no active members")


def test_split_needs_a_target(draft, group):
    stage(draft, "one", group, m=2, n=3)
    refused(draft, "no split target")


def test_a_cycle_with_no_way_out_is_refused(draft, group):
    stage(draft, "one", group, m=2, n=3, on_consensus="two", on_split="two")
    stage(draft, "two", group, m=2, n=2, on_consensus="one", on_split="one")
    refused(draft, "cycle with no way out")


def test_a_cycle_with_a_way_out_is_fine(draft, group, system_actor):
    stage(draft, "one", group, m=2, n=3, on_consensus=DECIDE, on_split="two")
    stage(draft, "two", group, m=2, n=2, on_consensus=DECIDE, on_split="one")
    workflow_publish(version=draft, actor=system_actor)


def test_approval_outcomes_need_an_approval_stage(draft, group):
    stage(draft, "one", group, outcomes=Outcome.objects.all())
    refused(draft, "requires approval but the version has no approval stage")


def test_published_versions_are_immutable_and_edits_make_drafts(draft, group, system_actor):
    stage(draft, "one", group)
    workflow_publish(version=draft, actor=system_actor)
    with pytest.raises(WorkflowInvalid):
        workflow_publish(version=WorkflowVersion.objects.create(workflow=draft.workflow, number=5, first_stage_key="x",
                                                                state=VersionState.SUPERSEDED), actor=system_actor)
    new = workflow_draft_from(version=draft, actor=system_actor)
    assert new.number == 6 and new.state == VersionState.DRAFT and new.stages.count() == 1
    Stage.objects.filter(version=new).update(seats=3, quorum=1)
    workflow_publish(version=new, actor=system_actor)
    draft.refresh_from_db()
    assert draft.state == VersionState.SUPERSEDED
    event = AuditEvent.objects.filter(action="workflow.published").latest("seq")
    assert event.data["before"]["stages"][0]["seats"] == 1 and event.data["after"]["stages"][0]["seats"] == 3
