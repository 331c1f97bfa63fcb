"""Rules read the signals app's features (rules/signals_adapter.py → signals.features)."""

import pytest

from rules.errors import RuleInvalid
from rules.models import CaseLabel, RuleHit
from rules.services import rule_create, rule_draft_save

from .conftest import ADMIN


def test_conditions_over_signals_are_type_checked_when_saved(workflows):
    rule = rule_create(slug="sig", name="Signals", actor=ADMIN)
    ok = rule_draft_save(rule=rule, actor=ADMIN, predicts="remove_content", sample_share=0.1,
                         expression="signals.brigade_flagged || signals.reporter_reputation < 0.3",
                         effects=[{"type": "label", "label": "x"}])
    assert ok.pk is not None
    with pytest.raises(RuleInvalid) as unknown:
        rule_draft_save(rule=rule, actor=ADMIN, predicts="remove_content", sample_share=0.1,
                        expression="signals.no_such_signal", effects=[{"type": "label", "label": "x"}])
    assert "no_such_signal" in unknown.value.problems["expression"][0]
    with pytest.raises(RuleInvalid) as mistyped:
        rule_draft_save(rule=rule, actor=ADMIN, predicts="remove_content", sample_share=0.1,
                        expression='signals.brigade_flagged + 1 > 0', effects=[{"type": "label", "label": "x"}])
    assert "expression" in mistyped.value.problems


def test_an_active_rule_acts_on_a_signal_at_intake(make_rule, file_report):
    make_rule("signals.reporter_is_new && signals.hash_list_matches == 0",
              effects=[{"type": "label", "label": "new-reporter"}])
    case_id = file_report(external_id="sig-1", reporter=("user", "fresh-1"))
    assert list(CaseLabel.objects.filter(case_id=case_id).values_list("label", flat=True)) == ["new-reporter"]
    assert RuleHit.objects.get(case_id=case_id).applied
