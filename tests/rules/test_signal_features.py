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


def test_a_classifier_with_a_poor_record_gets_more_reviewers_through_a_rule(make_rule, make_api_client, source,
                                                                            system_actor, policy_book):
    """Automated reporters' reputation is kept per API client; rules read it (docs/rules.md)."""
    from django.utils import timezone

    from cases.services import ReportInput, SubjectInput
    from reviews.intake import report_intake
    from reviews.models import Review
    from signals.models import ReporterReputation

    make_rule('report.reporter_kind == "automated" && report.classifier_score >= 0.9 '
              "&& signals.reporter_reputation < 0.4",
              effects=[{"type": "require_reviewers", "quorum": 3, "seats": 4}])
    poor, _ = make_api_client(name="poor-classifier")
    good, _ = make_api_client(name="good-classifier")
    ReporterReputation.objects.bulk_create([
        ReporterReputation(source=source, reporter_kind="automated", reporter_key=str(client.pk), upheld=upheld,
                           rejected=rejected, updated_at=timezone.now())
        for client, upheld, rejected in ((poor, 0, 8), (good, 8, 0))])

    def file(client, external_id):
        item = ReportInput(subject=SubjectInput(kind="content", external_id=external_id, as_received={}),
                           policy=policy_book["spam"], reporter_kind="automated", classifier_score=0.95)
        return report_intake(source=source, api_client_id=client.pk, actor=system_actor, item=item).case_id

    doubted, trusted = file(poor, "by-poor"), file(good, "by-good")
    assert Review.objects.get(case_id=doubted).requirement == (3, 4)
    assert Review.objects.get(case_id=trusted).requirement == (2, 3)
    assert not RuleHit.objects.filter(case_id=trusted).exists()
