"""Rules at intake under real concurrency: threads with their own PostgreSQL connections file reports about one
subject at the same moment while active rules run."""

import pytest

from audit.verify import verify_audit
from cases.models import Case
from reviews.models import Decision
from rules.models import CaseLabel, RuleHit

from ..cases.test_intake_concurrency import _poster, run_concurrently

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

REPORTS = 16


def bodies(external_id):
    return [({"subject": {"kind": "content", "external_id": external_id, "text": "casino"}, "policy": "spam",
              "reporter": {"kind": "user", "external_id": f"r-{i}"}}, {}) for i in range(REPORTS)]


def test_concurrent_reports_apply_each_rule_once_per_report_and_label_once(make_rule, api):
    make_rule('report.policy == "spam"', effects=[{"type": "raise_priority", "by": 10},
                                                  {"type": "label", "label": "hot"}])
    results = run_concurrently(bodies("hot-1"), _poster(api.key))
    assert all(not isinstance(r, Exception) and r[0] in (200, 201) for r in results), results
    case = Case.objects.get(subject__external_id="hot-1")
    assert RuleHit.objects.filter(case=case, applied=True).count() == REPORTS
    assert list(CaseLabel.objects.filter(case=case).values_list("label", flat=True)) == ["hot"]
    assert verify_audit().ok


def test_concurrent_reports_get_at_most_one_automated_decision(make_rule, api):
    make_rule('report.policy == "spam"', effects=[{"type": "decide", "outcome": "label"}], predicts="label",
              sample_share=0.0)
    results = run_concurrently(bodies("auto-1"), _poster(api.key))
    assert all(not isinstance(r, Exception) and r[0] in (200, 201) for r in results), results
    case_ids = set(Case.objects.filter(subject__external_id="auto-1").values_list("pk", flat=True))
    assert len(case_ids) == 1
    assert Decision.objects.filter(case_id__in=case_ids, automated_decision=True).count() == 1
    assert verify_audit().ok


def test_concurrent_brigade_reports_flag_once_and_start_one_workflow(make_rule, api):
    """Sixteen reporters at once with one text: one case, started once in the rule's workflow, its bar raised
    once, the coordinated-reporting flag audited and acted on once (the subject lock orders them)."""
    from audit.models import AuditEvent
    from audit.services import case_stream
    from reviews.models import Review

    make_rule('report.policy == "spam"', slug="start-senior",
              effects=[{"type": "route_workflow", "workflow": "child-safety"},
                       {"type": "require_reviewers", "seats": 3}])
    flagged_rule = make_rule('"coordinated_reporting" in case.signals_changed', slug="on-flag",
                             effects=[{"type": "label", "label": "brigade"}])
    same_text = [({**body, "description": "ban this liar now!!"}, headers) for body, headers in bodies("brig-1")]
    results = run_concurrently(same_text, _poster(api.key))
    assert all(not isinstance(r, Exception) and r[0] in (200, 201) for r in results), results
    case = Case.objects.get(subject__external_id="brig-1")
    reviews = list(Review.objects.filter(case=case).select_related("stage__version__workflow"))
    assert sorted((r.state, r.stage.version.workflow.slug) for r in reviews) == [
        ("cancelled", "standard"), ("open", "child-safety")]
    assert next(r for r in reviews if r.state == "open").requirement == (2, 3)
    stream = case_stream(case.pk)
    assert AuditEvent.objects.filter(stream=stream, action="review.requirement_raised").count() == 1
    assert AuditEvent.objects.filter(stream=stream, action="case.routed").count() == 1
    assert [e.data["flagged"] for e in AuditEvent.objects.filter(stream=stream, action="case.signal_flag_changed")
            ] == [True]
    assert RuleHit.objects.filter(rule=flagged_rule, case=case).count() == 1
    assert list(CaseLabel.objects.filter(case=case).values_list("label", flat=True)) == ["brigade"]
    assert verify_audit().ok
