"""Rule drafts, publishing, retiring and modes: validated, versioned, audited."""

import pytest

from audit.models import AuditEvent
from audit.services import CONFIG_STREAM
from rules.errors import RuleInvalid, RuleNotAllowed
from rules.models import Rule, RuleVersion, RuleVersionState
from rules.services import rule_create, rule_draft_save, rule_mode_set, rule_publish, rule_retire

from .conftest import ADMIN

GOOD = 'report.policy == "spam"'


def config_events(slug):
    return list(AuditEvent.objects.filter(stream=CONFIG_STREAM, target_type="rule", target_id=slug).order_by("seq"))


def test_draft_publish_new_version_and_retire_are_versioned_and_audited(workflows):
    rule = rule_create(slug="spam-casino", name="Casino spam", actor=ADMIN)
    v1 = rule_draft_save(rule=rule, actor=ADMIN, expression=GOOD, effects=[{"type": "label", "label": "casino"}],
                         predicts="remove_content")
    assert (v1.number, v1.state) == (1, RuleVersionState.DRAFT)
    rule_publish(version=v1, actor=ADMIN)
    v2 = rule_draft_save(rule=rule, actor=ADMIN, expression=GOOD + " && report.classifier_score > 0.5",
                         effects=[], predicts="remove_content")
    assert v2.number == 2
    rule_publish(version=v2, actor=ADMIN)
    v1.refresh_from_db()
    assert v1.state == RuleVersionState.RETIRED
    assert Rule.objects.get(pk=rule.pk).published_version_id == v2.pk
    with pytest.raises(RuleNotAllowed):
        rule_publish(version=v1, actor=ADMIN)
    rule_mode_set(rule=rule, mode="shadow", actor=ADMIN, reason="try it")
    rule_retire(rule=rule, actor=ADMIN)
    assert Rule.objects.get(pk=rule.pk).published_version_id is None

    actions = [e.action for e in config_events("spam-casino")]
    assert actions == ["rule.draft_saved", "rule.draft_saved", "rule.published", "rule.draft_saved", "rule.published",
                       "rule.mode_changed", "rule.retired"]
    second_publish = config_events("spam-casino")[4].data
    assert second_publish["before"]["expression"] == GOOD
    assert second_publish["after"]["expression"].endswith("> 0.5")
    assert config_events("spam-casino")[5].data["mode"] == ["off", "shadow"]


def test_publishing_twice_changes_nothing(workflows):
    rule = rule_create(slug="twice", name="Twice", actor=ADMIN)
    v1 = rule_draft_save(rule=rule, actor=ADMIN, expression=GOOD, effects=[], predicts="label")
    rule_publish(version=v1, actor=ADMIN)
    rule_publish(version=v1, actor=ADMIN)
    assert [e.action for e in config_events("twice")].count("rule.published") == 1


def test_a_bad_draft_names_each_field_and_writes_nothing(workflows):
    rule = rule_create(slug="bad", name="Bad", actor=ADMIN)
    before = AuditEvent.objects.count()
    with pytest.raises(RuleInvalid) as caught:
        rule_draft_save(rule=rule, actor=ADMIN, expression="report.nope > 1",
                        effects=[{"type": "delete_everything"}, {"type": "raise_priority", "by": -5}],
                        predicts="no_such_outcome", sample_share=1.5)
    problems = caught.value.problems
    assert set(problems) == {"expression", "effects", "predicts", "sample_share"}
    assert "unknown field 'nope'" in problems["expression"][0]
    assert "unknown effect type 'delete_everything'" in problems["effects"][0]
    assert "effects[1].by" in problems["effects"][1]
    assert RuleVersion.objects.filter(rule=rule).count() == 0
    assert AuditEvent.objects.count() == before


def test_an_unknown_mode_is_refused(workflows):
    rule = rule_create(slug="modes", name="Modes", actor=ADMIN)
    with pytest.raises(RuleInvalid) as caught:
        rule_mode_set(rule=rule, mode="turbo", actor=ADMIN)
    assert "mode" in caught.value.problems


def test_a_route_to_an_unknown_queue_is_refused(workflows):
    rule = rule_create(slug="route-nowhere", name="R", actor=ADMIN)
    with pytest.raises(RuleInvalid) as caught:
        rule_draft_save(rule=rule, actor=ADMIN, expression=GOOD, effects=[{"type": "route", "queue": "nowhere"}],
                        predicts="label")
    assert "no queue with slug 'nowhere'" in caught.value.problems["effects"][0]
