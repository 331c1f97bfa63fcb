"""Sampling of automated actions and drift against the sampled human reviews."""

import uuid

from audit.models import AuditEvent
from audit.services import CONFIG_STREAM
from reviews.models import Decision, Outcome
from rules import engine
from rules.drift import rule_drift_check, rules_drift_sweep
from rules.models import Rule, RuleHit

from .test_backtest import decided_fixture as decided_fixture  # noqa: F401  (fixture)


def test_the_sampled_share_is_honoured_with_a_fixed_seed():
    case_ids = [uuid.UUID(int=i) for i in range(4000)]
    drawn = [engine.sampled(seed="fixed", version_id=7, case_id=c, share=0.25) for c in case_ids]
    # Binomial(4000, 0.25): mean 1000, sd 27.4; four sd either side.
    assert 890 <= sum(drawn) <= 1110
    # The same seed draws the same cases; another seed draws others.
    assert drawn == [engine.sampled(seed="fixed", version_id=7, case_id=c, share=0.25) for c in case_ids]
    other = [engine.sampled(seed="other", version_id=7, case_id=c, share=0.25) for c in case_ids]
    assert other != drawn
    assert not any(engine.sampled(seed="fixed", version_id=7, case_id=c, share=0.0) for c in case_ids[:100])
    assert all(engine.sampled(seed="fixed", version_id=7, case_id=c, share=1.0) for c in case_ids[:100])


def test_intake_marks_hits_sampled_by_the_share(make_rule, file_report):
    make_rule('report.policy == "spam"', effects=[{"type": "label", "label": "s"}], sample_share=1.0)
    make_rule('report.policy == "spam"', effects=[{"type": "label", "label": "n"}], sample_share=0.0)
    case_id = file_report(external_id="sampled")
    hits = {h.rule.slug: h.sampled for h in RuleHit.objects.filter(case_id=case_id).select_related("rule")}
    assert hits == {"rule-1": True, "rule-2": False}


def _sampled_hits(rule, case_ids):
    for case_id in case_ids:
        RuleHit.objects.create(rule=rule, version=rule.published_version, case_id=case_id, mode="active",
                               applied=True, sampled=True, created_at=rule.published_version.created_at)


def test_agreement_below_threshold_alerts_once_and_falls_back_to_shadow(make_rule, decided_fixture):
    # Decided in the fixture: remove_content ×4 (c1 c2 c3 c5), no_violation ×2, label ×1.
    rule = make_rule('report.policy == "nothing"', predicts="remove_content", agreement_threshold=0.9,
                     fallback_to_shadow=True)
    decided = [decided_fixture[k] for k in ("c1", "c2", "c3", "c4", "c6")]
    _sampled_hits(rule, decided)
    agreement = rule_drift_check(rule=rule, min_sample=5)
    assert (agreement.sampled, agreement.agreed) == (5, 3)
    rule.refresh_from_db()
    assert rule.mode == "shadow" and rule.drift_alert_at is not None and rule.drift_agreement == 0.6
    events = [e for e in AuditEvent.objects.filter(stream=CONFIG_STREAM, target_id=rule.slug).order_by("seq")]
    assert [e.action for e in events][-2:] == ["rule.drift_alert", "rule.mode_changed"]
    assert events[-2].data["agreement"] == 0.6 and events[-2].data["threshold"] == 0.9
    # In shadow it is no longer measured; no second alert.
    assert rules_drift_sweep() == 0


def test_too_few_human_decisions_do_not_alert(make_rule, decided_fixture):
    rule = make_rule('report.policy == "nothing"', predicts="remove_content", agreement_threshold=0.9)
    _sampled_hits(rule, [decided_fixture["c4"], decided_fixture["o1"]])  # o1 is still open: not counted
    agreement = rule_drift_check(rule=rule)
    assert (agreement.sampled, agreement.agreed) == (1, 0)
    assert Rule.objects.get(pk=rule.pk).drift_alert_at is None


def test_automated_decisions_do_not_count_as_human_agreement(make_rule, decided_fixture):
    rule = make_rule('report.policy == "nothing"', predicts="remove_content")
    _sampled_hits(rule, [decided_fixture["c1"], decided_fixture["c2"]])
    Decision.objects.filter(case_id=decided_fixture["c1"]).update(automated_decision=True)
    assert Outcome.objects.filter(code="remove_content").exists()
    assert rule_drift_check(rule=rule).sampled == 1
