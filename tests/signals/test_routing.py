"""A routing rule can require a signal of the report that opens the case (e.g. ban evasion to its own workflow)."""

import pytest

from audit.models import AuditEvent
from reviews.models import Review, RoutingRule, Workflow
from reviews.services.configuration import routing_rule_save

pytestmark = pytest.mark.django_db(transaction=False)


def test_a_rule_with_a_signal_routes_only_cases_that_carry_it(file, decide, system_actor,
                                                             django_capture_on_commit_callbacks):
    rule = RoutingRule(position=0, workflow=Workflow.objects.get(slug="child-safety"), signal="possible_ban_evasion")
    with django_capture_on_commit_callbacks(execute=True):  # the routing cache is dropped on commit
        routing_rule_save(rule=rule, actor=system_actor)
    event = AuditEvent.objects.filter(action="routing_rule.changed").latest("id")
    assert event.data["changes"]["signal"][1] == "possible_ban_evasion"
    banned = file("acct-b", subject_kind="account", signals={"subject": {"email": "b@x.example"}})
    assert Review.objects.get(case_id=banned.case_id).stage.version.workflow.slug == "standard"
    decide(banned.case_id, "suspend_account", duration_days=7)
    evader = file("acct-e", subject_kind="account", signals={"subject": {"email": "B@X.example"}})
    plain = file("acct-p", subject_kind="account", signals={"subject": {"email": "p@x.example"}})
    assert Review.objects.get(case_id=evader.case_id).stage.version.workflow.slug == "child-safety"
    assert Review.objects.get(case_id=plain.case_id).stage.version.workflow.slug == "standard"
