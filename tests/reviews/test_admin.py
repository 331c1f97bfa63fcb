"""The review-process admin: configuration saves through the audited
services, published workflow versions stay read-only, the publish and
new-draft actions, and the read-only history lists."""

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.models import AuditEvent
from cases.models import Queue
from reviews.admin import WorkflowVersionForm
from reviews.models import (
    DECIDE,
    Appeal,
    Decision,
    Outcome,
    Review,
    RoutingRule,
    Stage,
    StageKind,
    VersionState,
    Workflow,
    WorkflowVersion,
)
from reviews.services import appeal_file, claim_next, vote_cast
from reviews.workflows import _routing, choose_first_stage

pytestmark = pytest.mark.django_db

MODELS = ["outcome", "workflow", "workflowversion", "routingrule", "decision", "review", "appeal"]


def url(model, view="changelist", *args):
    return reverse(f"admin:reviews_{model}_{view}", args=args)


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


@pytest.fixture
def standard(workflows):
    return Workflow.objects.select_related("published_version").get(slug="standard").published_version


@pytest.fixture
def draft(standard, system_actor):
    from reviews.workflows import workflow_draft_from

    return workflow_draft_from(version=standard, actor=system_actor)


def post_action(client, action, versions):
    return client.post(url("workflowversion"), {"action": action, "_selected_action": [v.pk for v in versions]},
                       follow=True)


def version_form_data(version, **changes):
    """The change form of `version` as the admin posts it, stages included."""
    data = {n: getattr(version, n) for n in ("first_stage_key", "approval_stage_key", "escalation_stage_key",
                                            "appeal_stage_key")}
    stages = list(version.stages.prefetch_related("allowed_outcomes").order_by("position", "key"))
    data.update({"stages-TOTAL_FORMS": len(stages), "stages-INITIAL_FORMS": len(stages), "stages-MIN_NUM_FORMS": 0,
                 "stages-MAX_NUM_FORMS": 1000, "_save": "Save"})
    for i, s in enumerate(stages):
        for n in ("key", "name", "kind", "seats", "quorum", "on_consensus", "on_split", "on_timeout", "position"):
            data[f"stages-{i}-{n}"] = getattr(s, n)
        data[f"stages-{i}-sla_seconds_0"], rest = divmod(s.sla_seconds, 3600)  # entered as hours and minutes
        data[f"stages-{i}-sla_seconds_1"] = rest // 60
        data[f"stages-{i}-id"] = s.pk
        data[f"stages-{i}-version"] = version.pk
        data[f"stages-{i}-group"] = s.group_id
        data[f"stages-{i}-allowed_outcomes"] = [o.pk for o in s.allowed_outcomes.all()]
        if s.blind:
            data[f"stages-{i}-blind"] = "on"
        if s.exclude_earlier_reviewers:
            data[f"stages-{i}-exclude_earlier_reviewers"] = "on"
    data.update(changes)
    return data


# ---- every list loads -------------------------------------------------------------------

@pytest.mark.parametrize("model", MODELS)
def test_change_lists_load(admin_client, workflows, model):
    assert admin_client.get(url(model)).status_code == 200


def test_change_and_add_pages_load(admin_client, standard, draft):
    assert admin_client.get(url("workflowversion", "change", standard.pk)).status_code == 200
    assert admin_client.get(url("workflowversion", "change", draft.pk)).status_code == 200
    assert admin_client.get(url("workflowversion", "add") + f"?workflow={standard.workflow_id}").status_code == 200
    assert admin_client.get(url("workflow", "change", standard.workflow_id)).status_code == 200
    assert admin_client.get(url("outcome", "change", Outcome.objects.get(code="label").pk)).status_code == 200
    assert admin_client.get(url("routingrule", "change", RoutingRule.objects.first().pk)).status_code == 200
    assert admin_client.get(url("outcome", "add")).status_code == 200
    assert admin_client.get(url("routingrule", "add")).status_code == 200


def test_no_deletes_and_no_edits_of_history(admin_client, workflows):
    body = admin_client.get(url("outcome")).content.decode()
    assert "delete_selected" not in body
    assert admin_client.get(url("decision", "add")).status_code == 403
    assert admin_client.get(url("review", "add")).status_code == 403
    assert admin_client.get(url("appeal", "add")).status_code == 403
    rule = RoutingRule.objects.first()
    assert admin_client.post(url("routingrule", "delete", rule.pk), {"post": "yes"}).status_code == 403
    assert RoutingRule.objects.filter(pk=rule.pk).exists()


# ---- workflow versions ------------------------------------------------------------------

def test_publish_action_publishes_a_valid_draft_and_audits_it(admin_client, admin_user, standard, draft):
    response = post_action(admin_client, "publish", [draft])
    assert response.status_code == 200
    draft.refresh_from_db()
    standard.refresh_from_db()
    assert draft.state == VersionState.PUBLISHED and standard.state == VersionState.SUPERSEDED
    assert Workflow.objects.get(slug="standard").published_version_id == draft.pk
    event = AuditEvent.objects.get(action="workflow.published", data__version=draft.number)
    assert event.actor_type == "user" and event.actor_id == str(admin_user.pk) and event.stream == "config"
    assert any("Published standard v2" in m for m in messages_of(response))


def test_publish_of_an_invalid_draft_shows_each_problem_and_publishes_nothing(admin_client, standard, draft):
    Stage.objects.filter(version=draft, key="review").update(quorum=4, seats=3)  # M > N
    empty = Group.objects.create(name="nobody")
    Stage.objects.filter(version=draft, key="senior").update(group=empty)
    published_before = AuditEvent.objects.filter(action="workflow.published").count()

    response = post_action(admin_client, "publish", [draft])

    shown = messages_of(response)
    assert any("M=4 must be between 1 and N=3" in m for m in shown), shown
    assert any("group 'nobody' has no active members" in m for m in shown), shown
    assert "Nothing was published." in shown
    draft.refresh_from_db()
    assert draft.state == VersionState.DRAFT
    assert Workflow.objects.get(slug="standard").published_version_id == standard.pk
    assert AuditEvent.objects.filter(action="workflow.published").count() == published_before


def test_publishing_several_drafts_is_all_or_nothing(admin_client, draft, system_actor):
    from reviews.workflows import workflow_draft_from

    child = Workflow.objects.get(slug="child-safety").published_version
    broken = workflow_draft_from(version=child, actor=system_actor)
    Stage.objects.filter(version=broken, key="senior-review").update(quorum=3, seats=2)
    post_action(admin_client, "publish", [draft, broken])
    assert set(WorkflowVersion.objects.filter(pk__in=[draft.pk, broken.pk]).values_list("state", flat=True)) == {"draft"}


def test_the_change_page_of_a_draft_shows_what_blocks_publishing(admin_client, draft):
    Stage.objects.filter(version=draft, key="review").update(quorum=4, seats=3)
    body = admin_client.get(url("workflowversion", "change", draft.pk)).content.decode()
    assert "Problems blocking publication" in body and "M=4 must be between 1 and N=3" in body


def test_publish_button_on_the_draft_page_shows_the_validation_result(admin_client, standard, draft, django_user_model):
    target = reverse("admin:reviews_workflowversion_publish", args=[draft.pk])
    page = admin_client.get(url("workflowversion", "change", draft.pk)).content.decode()
    assert "this draft can be published" in page and f'formaction="{target}"' in page
    assert admin_client.get(target).status_code == 405
    # a staff member without the change permission cannot publish
    staff = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    admin_client_2 = type(admin_client)()
    admin_client_2.force_login(staff)
    assert admin_client_2.post(target).status_code == 403
    # an invalid draft: no button, each problem shown, and a forged POST publishes nothing
    Stage.objects.filter(version=draft, key="review").update(quorum=4, seats=3)
    page = admin_client.get(url("workflowversion", "change", draft.pk)).content.decode()
    assert f'formaction="{target}"' not in page and "M=4 must be between 1 and N=3" in page
    response = admin_client.post(target, follow=True)
    shown = messages_of(response)
    assert any("M=4 must be between 1 and N=3" in m for m in shown) and "Nothing was published." in shown
    assert WorkflowVersion.objects.get(pk=draft.pk).state == VersionState.DRAFT
    # fixed: published from its page, audited, back on its page
    Stage.objects.filter(version=draft, key="review").update(quorum=2, seats=3)
    response = admin_client.post(target)
    assert response.status_code == 302 and response.url == url("workflowversion", "change", draft.pk)
    assert Workflow.objects.get(slug="standard").published_version_id == draft.pk
    assert AuditEvent.objects.filter(action="workflow.published", data__version=draft.number).count() == 1
    # a second click (or a replay) publishes nothing again
    admin_client.post(target)
    assert AuditEvent.objects.filter(action="workflow.published", data__version=draft.number).count() == 1
    # the superseded version cannot be published back through the button
    response = admin_client.post(reverse("admin:reviews_workflowversion_publish", args=[standard.pk]), follow=True)
    assert "Nothing was published." in messages_of(response)
    assert Workflow.objects.get(slug="standard").published_version_id == draft.pk


def test_a_published_version_cannot_be_changed_by_post(admin_client, standard):
    before = (standard.first_stage_key, list(standard.stages.values_list("key", "quorum", "seats").order_by("key")))
    data = version_form_data(standard, first_stage_key="senior", **{"stages-0-quorum": 3})
    response = admin_client.post(url("workflowversion", "change", standard.pk), data)
    assert response.status_code == 403
    standard.refresh_from_db()
    assert standard.state == VersionState.PUBLISHED
    assert (standard.first_stage_key, list(standard.stages.values_list("key", "quorum", "seats").order_by("key"))) == before


def test_the_version_form_itself_refuses_a_non_draft(standard):
    form = WorkflowVersionForm(data={"workflow": standard.workflow_id, "first_stage_key": "senior"}, instance=standard)
    assert not form.is_valid()
    assert "cannot change" in str(form.non_field_errors())


def test_a_published_version_page_is_read_only_and_points_to_a_new_draft(admin_client, standard):
    body = admin_client.get(url("workflowversion", "change", standard.pk)).content.decode()
    assert 'name="first_stage_key"' not in body and 'name="stages-0-quorum"' not in body
    assert "Edits happen in a new draft" in body
    assert reverse("admin:reviews_workflowversion_new_draft", args=[standard.pk]) in body


def test_a_draft_is_edited_in_the_admin_stages_included(admin_client, draft):
    data = version_form_data(draft, **{"stages-0-quorum": 3})
    response = admin_client.post(url("workflowversion", "change", draft.pk), data)
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    assert draft.stages.get(key="review").quorum == 3


def test_new_draft_action_creates_the_next_version_with_copied_stages(admin_client, standard):
    response = post_action(admin_client, "new_draft", [standard])
    assert response.status_code == 200
    new = WorkflowVersion.objects.get(workflow=standard.workflow, number=standard.number + 1)
    assert new.state == VersionState.DRAFT
    def stages(v):
        return [(s.key, s.kind, s.group_id, s.seats, s.quorum, s.on_consensus, s.on_split,
                 sorted(s.allowed_outcomes.values_list("code", flat=True))) for s in v.stages.order_by("key")]
    assert stages(new) == stages(standard) and stages(new)
    assert AuditEvent.objects.filter(action="workflow.draft_created", data__version=new.number).exists()
    assert response.redirect_chain[-1][0] == url("workflowversion", "change", new.pk)


def test_new_draft_button_on_a_published_version(admin_client, standard):
    target = reverse("admin:reviews_workflowversion_new_draft", args=[standard.pk])
    assert admin_client.get(target).status_code == 405
    response = admin_client.post(target)
    new = WorkflowVersion.objects.get(workflow=standard.workflow, number=standard.number + 1)
    assert response.status_code == 302 and response.url == url("workflowversion", "change", new.pk)
    assert new.stages.count() == standard.stages.count()


def test_adding_an_empty_draft_numbers_and_audits_it(admin_client, standard):
    response = admin_client.post(url("workflowversion", "add"), {
        "workflow": standard.workflow_id, "first_stage_key": "one", "approval_stage_key": "",
        "escalation_stage_key": "", "appeal_stage_key": "",
        "stages-TOTAL_FORMS": 0, "stages-INITIAL_FORMS": 0, "stages-MIN_NUM_FORMS": 0, "stages-MAX_NUM_FORMS": 1000,
    })
    assert response.status_code == 302
    new = WorkflowVersion.objects.get(workflow=standard.workflow, number=standard.number + 1)
    assert new.state == VersionState.DRAFT
    assert AuditEvent.objects.filter(action="workflow.draft_created", data__version=new.number,
                                     data__copied_from=None).exists()


# ---- outcomes and routing rules -----------------------------------------------------------

def test_outcome_edit_is_audited_with_the_diff(admin_client, admin_user, workflows):
    label = Outcome.objects.get(code="label")
    response = admin_client.post(url("outcome", "change", label.pk), {
        "name": "Label as misleading", "description": "", "is_violation": "on", "active": "on",
        "position": label.position,
    })
    assert response.status_code == 302
    label.refresh_from_db()
    assert label.name == "Label as misleading" and label.code == "label"
    event = AuditEvent.objects.get(action="outcome.changed", target_id="label")
    assert event.stream == "config" and event.actor_id == str(admin_user.pk)
    assert event.data == {"changes": {"name": ["Label", "Label as misleading"]}, "created": False}


def test_outcome_creation_is_audited(admin_client, workflows):
    response = admin_client.post(url("outcome", "add"), {"code": "warn", "name": "Warn", "description": "",
                                                         "is_violation": "on", "active": "on", "position": 9})
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="outcome.changed", target_id="warn")
    assert event.data["created"] is True and event.data["changes"]["name"] == [None, "Warn"]


def test_requiring_approval_is_refused_where_a_published_version_has_no_approval_stage(admin_client, workflows,
                                                                                        system_actor):
    from reviews.workflows import workflow_publish

    wf = Workflow.objects.create(slug="plain", name="Plain")
    version = WorkflowVersion.objects.create(workflow=wf, number=1, first_stage_key="one")
    s = Stage.objects.create(version=version, key="one", name="One", group=Group.objects.get(name="moderator"),
                             on_consensus=DECIDE)
    label = Outcome.objects.get(code="label")
    s.allowed_outcomes.set([label])
    workflow_publish(version=version, actor=system_actor)
    response = admin_client.post(url("outcome", "change", label.pk), {
        "name": "Label", "description": "", "is_violation": "on", "requires_approval": "on", "active": "on",
        "position": label.position,
    })
    assert response.status_code == 200
    assert "plain v1 allows label but has no approval stage" in response.content.decode()
    assert not Outcome.objects.get(pk=label.pk).requires_approval


def test_outcome_list_deactivation_is_audited(admin_client, workflows):
    outcomes = list(Outcome.objects.order_by("position", "code"))
    data = {"form-TOTAL_FORMS": len(outcomes), "form-INITIAL_FORMS": len(outcomes), "form-MIN_NUM_FORMS": 0,
            "form-MAX_NUM_FORMS": 1000, "_save": "Save"}
    for i, o in enumerate(outcomes):
        data[f"form-{i}-id"] = o.pk
        data[f"form-{i}-position"] = o.position
        if o.active and o.code != "label":
            data[f"form-{i}-active"] = "on"
    response = admin_client.post(url("outcome"), data)
    assert response.status_code == 302
    assert not Outcome.objects.get(code="label").active
    events = AuditEvent.objects.filter(action="outcome.changed")
    assert [(e.target_id, e.data["changes"]) for e in events] == [("label", {"active": [True, False]})]


def test_routing_rule_change_is_audited_and_takes_effect(admin_client, admin_user, workflows, policy_book,
                                                        django_capture_on_commit_callbacks):
    rule = RoutingRule.objects.get(workflow__slug="standard")
    choose_first_stage(policy_id=None, queue_id=None, jurisdictions=(), priority=0)  # warm the cache
    assert _routing["rules"] is not None
    general = Queue.objects.get(slug="general")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url("routingrule", "change", rule.pk), {
            "position": 500, "workflow": Workflow.objects.get(slug="child-safety").pk, "policy": "",
            "queue": general.pk, "jurisdiction": "", "min_priority": "", "active": "on",
        })
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="routing_rule.changed")
    assert event.stream == "config" and event.target_id == str(rule.pk) and event.actor_id == str(admin_user.pk)
    assert event.data == {"created": False, "changes": {"position": [1000, 500], "workflow": ["standard", "child-safety"],
                                                        "queue": [None, "general"]}}
    assert _routing["rules"] is None  # dropped on commit
    first = choose_first_stage(policy_id=policy_book["spam"].pk, queue_id=general.pk, jurisdictions=(), priority=0)
    assert first.version.workflow.slug == "child-safety"


def test_routing_rule_list_is_ordered_by_position(admin_client, workflows):
    RoutingRule.objects.create(position=5, workflow=Workflow.objects.get(slug="standard"))
    response = admin_client.get(url("routingrule"))
    positions = [r.position for r in response.context["cl"].result_list]
    assert positions == sorted(positions) and positions[0] == 5


# ---- read-only history --------------------------------------------------------------------

def _decide(case_id, mods, policy):
    queue = Queue.objects.get(slug="general")
    for mod in mods:
        seat = claim_next(moderator=mod, queue=queue)
        assert str(seat.review.case_id) == str(case_id)
        vote_cast(review_id=seat.review_id, reviewer=mod, outcome=Outcome.objects.get(code="remove_content"),
                  policy=policy, rationale="spam")


def _history(n, file_report, people, policy_book, system_actor):
    for i in range(n):
        case_id = file_report(f"post-h{Decision.objects.count()}-{i}")
        _decide(case_id, people["moderators"][:2], policy_book["spam"])
        appeal_file(case_id=case_id, appellant_kind="affected_user", statement="satire", actor=system_actor)


def test_history_lists_run_a_fixed_number_of_queries(admin_client, file_report, people, policy_book, system_actor):
    def count(model):
        with CaptureQueriesContext(connection) as ctx:
            assert admin_client.get(url(model)).status_code == 200
        return len(ctx.captured_queries)

    _history(1, file_report, people, policy_book, system_actor)
    few = {m: count(m) for m in ("decision", "review", "appeal", "routingrule", "workflowversion", "workflow")}
    _history(3, file_report, people, policy_book, system_actor)
    assert Decision.objects.count() == 4 and Appeal.objects.count() == 4 and Review.objects.count() >= 8
    many = {m: count(m) for m in few}
    assert many == few


def test_history_is_read_only(admin_client, file_report, people, policy_book, system_actor):
    _history(1, file_report, people, policy_book, system_actor)
    decision = Decision.objects.get()
    page = admin_client.get(url("decision", "change", decision.pk))
    assert page.status_code == 200 and 'name="facts_and_reasons"' not in page.content.decode()
    assert admin_client.post(url("decision", "change", decision.pk), {"facts_and_reasons": "x"}).status_code == 403
    assert admin_client.get(url("decision") + f"?q={decision.case_id}").context["cl"].result_count == 1
    assert admin_client.get(url("review") + "?q=not-a-uuid").status_code == 200
    assert admin_client.get(url("review") + f"?stage__kind={StageKind.APPEAL}").context["cl"].result_count == 1


def test_a_stage_sla_is_entered_in_hours_and_minutes(admin_client, draft):
    stages = list(draft.stages.order_by("position", "key"))
    page = admin_client.get(url("workflowversion", "change", draft.pk)).content.decode()
    assert 'name="stages-0-sla_seconds_0"' in page and 'name="stages-0-sla_seconds_1"' in page
    data = version_form_data(draft, **{"stages-0-sla_seconds_0": "2", "stages-0-sla_seconds_1": "15"})
    response = admin_client.post(url("workflowversion", "change", draft.pk), data)
    assert response.status_code == 302, response.content[:3000]
    assert Stage.objects.get(pk=stages[0].pk).sla_seconds == 2 * 3600 + 15 * 60
    # a stage must have an SLA: empty is an error, nothing is saved
    data = version_form_data(draft, **{"stages-0-sla_seconds_0": "", "stages-0-sla_seconds_1": ""})
    response = admin_client.post(url("workflowversion", "change", draft.pk), data)
    assert response.status_code == 200 and "Enter the time in hours and minutes." in response.content.decode()
    assert Stage.objects.get(pk=stages[0].pk).sla_seconds == 2 * 3600 + 15 * 60


def test_stage_targets_are_chosen_from_the_versions_stages(admin_client, draft):
    page = admin_client.get(url("workflowversion", "change", draft.pk)).content.decode()
    keys = list(draft.stages.values_list("key", flat=True))
    assert '<select name="stages-0-on_timeout"' in page and '<select name="stages-0-on_consensus"' in page
    for key in keys:
        assert f'<option value="{key}"' in page
    assert '<option value="raise_priority"' in page and '<option value="decide"' in page
    assert '<select name="first_stage_key"' in page and '<select name="escalation_stage_key"' in page
    response = admin_client.post(url("workflowversion", "change", draft.pk),
                                 version_form_data(draft, first_stage_key="typo"))
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    # a stage that is not in this version cannot be typed in: a form error, nothing saved
    before = {s.pk: s.on_timeout for s in draft.stages.all()}
    response = admin_client.post(url("workflowversion", "change", draft.pk),
                                 version_form_data(draft, **{"stages-0-on_timeout": "no-such-stage"}))
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert {s.pk: s.on_timeout for s in draft.stages.all()} == before
    # choosing another stage of the version works
    target = keys[-1]
    response = admin_client.post(url("workflowversion", "change", draft.pk),
                                 version_form_data(draft, **{"stages-0-on_timeout": target}))
    assert response.status_code == 302, response.content[:3000]
    first = draft.stages.order_by("position", "key").first()
    assert first.on_timeout == target
