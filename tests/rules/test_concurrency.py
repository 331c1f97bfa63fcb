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
