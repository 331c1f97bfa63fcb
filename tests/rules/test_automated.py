"""Rules that act automatically: honest automated flags, a sampled share left to people, appeals to people."""

import pytest
from django.conf import settings

from audit.models import AuditEvent
from audit.services import case_stream
from cases.models import Case
from reviews.models import AppellantKind, Decision, Review
from reviews.services import appeal_file
from rules import engine
from rules.errors import RuleInvalid
from rules.models import RuleHit
from rules.services import rule_create, rule_draft_save

from .conftest import ADMIN

LABEL_SPAM = [{"type": "decide", "outcome": "label"}]


def test_an_automated_decision_is_flagged_and_audited(make_rule, file_report):
    rule = make_rule('report.policy == "spam"', effects=LABEL_SPAM, predicts="label", sample_share=0.0)
    case_id = file_report(external_id="auto")
    decision = Decision.objects.get(case_id=case_id)
    assert decision.automated_decision is True and decision.outcome.code == "label"
    assert decision.reviewers == [] and decision.decided_by is None
    assert f"rule {rule.slug}" in decision.facts_and_reasons and "appealed" in decision.facts_and_reasons
    assert Case.objects.get(pk=case_id).state == "decided"
    assert Review.objects.get(case_id=case_id).state == "cancelled"
    made = AuditEvent.objects.get(stream=case_stream(case_id), action="decision.made")
    assert made.data["automated"] is True and made.actor_name == f"rule {rule.slug} v1"
    hit = RuleHit.objects.get(case_id=case_id)
    assert hit.effects == [{"type": "decide", "outcome": "label", "decided": True, "decision_id": str(decision.pk)}]


def test_people_decide_the_sampled_share(make_rule, file_report):
    make_rule('report.policy == "spam"', effects=LABEL_SPAM, predicts="label", sample_share=0.5)
    case_ids = [file_report(external_id=f"s-{i}", reporter=("user", f"r{i}")) for i in range(40)]
    hits = {str(h.case_id): h for h in RuleHit.objects.filter(case_id__in=case_ids)}
    version_id = next(iter(hits.values())).version_id
    expected_sampled = {str(c) for c in case_ids if engine.sampled(
        seed=settings.RULES_SAMPLING_SEED, version_id=version_id, case_id=c, share=0.5)}
    assert {c for c, h in hits.items() if h.sampled} == expected_sampled
    assert 8 <= len(expected_sampled) <= 32  # Binomial(40, 0.5) within 4 sd, with this fixed seed
    automated = {str(c) for c in Decision.objects.filter(case_id__in=case_ids, automated_decision=True)
                 .values_list("case_id", flat=True)}
    assert automated == set(hits) - expected_sampled
    for case_id in expected_sampled:
        assert Review.objects.get(case_id=case_id).state == "open"  # waiting for people


def test_appeals_of_automated_decisions_go_to_people_and_rules_do_not_decide_again(make_rule, file_report,
                                                                                   system_actor):
    make_rule('report.policy == "spam"', effects=LABEL_SPAM, predicts="label", sample_share=0.0)
    case_id = file_report(external_id="appealed")
    appeal = appeal_file(case_id=case_id, appellant_kind=AppellantKind.AFFECTED_USER, statement="not spam",
                         actor=system_actor)
    review = Review.objects.select_related("stage__group").get(appeal=appeal)
    assert review.state == "open" and review.stage.kind == "appeal"
    assert review.stage.group.name != ""  # a group of people reviews it
    file_report(external_id="appealed", reporter=("user", "someone-else"))  # the rule matches again
    assert Decision.objects.filter(case_id=case_id).count() == 1
    assert Review.objects.get(pk=review.pk).state == "open"
    last = RuleHit.objects.filter(case_id=case_id).order_by("-created_at").first()
    assert last.effects[0]["decided"] is False


@pytest.mark.parametrize("outcome", ["ban_account", "suspend_account", "no_such_outcome"])
def test_rules_may_not_decide_what_needs_approval_a_duration_or_does_not_exist(workflows, outcome):
    rule = rule_create(slug=f"d-{outcome.replace('_', '-')}", name="D", actor=ADMIN)
    with pytest.raises(RuleInvalid) as caught:
        rule_draft_save(rule=rule, actor=ADMIN, expression='report.policy == "spam"',
                        effects=[{"type": "decide", "outcome": outcome}], predicts="label")
    assert "effects" in caught.value.problems


def test_two_decide_effects_are_refused(workflows):
    rule = rule_create(slug="twice-decide", name="D", actor=ADMIN)
    with pytest.raises(RuleInvalid) as caught:
        rule_draft_save(rule=rule, actor=ADMIN, expression='report.policy == "spam"', predicts="label",
                        effects=LABEL_SPAM + [{"type": "decide", "outcome": "no_violation"}])
    assert "at most one" in caught.value.problems["effects"][0]


def test_hold_and_decide_together_are_refused(workflows):
    rule = rule_create(slug="hold-decide", name="D", actor=ADMIN)
    with pytest.raises(RuleInvalid) as caught:
        rule_draft_save(rule=rule, actor=ADMIN, expression='report.policy == "spam"', predicts="label",
                        effects=LABEL_SPAM + [{"type": "hold"}])
    assert "exclude each other" in caught.value.problems["effects"][0]


def test_a_case_people_are_working_on_is_not_decided_automatically(make_rule, file_report, people):
    from cases.models import Queue
    from reviews.services import claim_next

    case_id = file_report(external_id="claimed")
    seat = claim_next(moderator=people["moderators"][0], queue=Queue.objects.get(slug="general"))
    assert str(seat.review.case_id) == str(case_id)
    make_rule('report.policy == "spam"', effects=LABEL_SPAM, predicts="label", sample_share=0.0)
    file_report(external_id="claimed", reporter=("user", "r2"))
    assert not Decision.objects.filter(case_id=case_id).exists()
    assert RuleHit.objects.get(case_id=case_id).effects[0]["decided"] is False


def test_an_active_hold_stops_the_case_until_a_lead_resumes_it(make_rule, file_report, people):
    from reviews.services import case_resume

    make_rule('report.policy == "spam"', effects=[{"type": "hold"}])
    case_id = file_report(external_id="held")
    assert Case.objects.get(pk=case_id).state == "on_hold"
    assert Review.objects.get(case_id=case_id).state == "on_hold"
    held = AuditEvent.objects.get(stream=case_stream(case_id), action="case.state_changed")
    assert held.data["trigger"] == "rule" and held.data["to"] == "on_hold"
    file_report(external_id="held", reporter=("user", "r2"))  # already on hold: nothing more
    assert AuditEvent.objects.filter(stream=case_stream(case_id), action="case.state_changed").count() == 1
    case_resume(case_id=case_id, lead=people["seniors"][0], reason="checked")
    assert Case.objects.get(pk=case_id).state == "open"
