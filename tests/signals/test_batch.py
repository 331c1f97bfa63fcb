"""Batch intake runs the signals once per batch (one statement, the function
signals_reports_batch) with the results of one statement per report in order:
the same batch filed under one source and, report by report, under another
source gives the same counters, pairs, links, matches, verdicts and
per-report snapshots — including reports of one batch about one subject."""

import pytest
from django.utils import timezone

from cases.models import Case, Report, Source
from cases.services import ReportInput, SubjectInput
from reviews.intake import report_intake, report_intake_batch
from signals.models import (
    CoReportPair,
    HashList,
    HashListEntry,
    IdentifierLink,
    ReporterReputation,
    ReportSignals,
    SubjectSignals,
)

pytestmark = pytest.mark.django_db

LISTED = "ab" * 32

# (subject, reporter, description, extra): three reporters twice on "hot" with near-identical words, a pair that
# reports two subjects together (co-reporting), two accounts sharing a device, listed media, a classifier.
ITEMS = [
    ("hot", "new1", "this account posts spam links all day long", {}),
    ("hot", "new2", "this account posts spam links all day long!", {}),
    ("other", "x", "spam", {}),
    ("other", "y", "spam too", {}),
    ("hot", "x", "this account posts spam links all day", {}),
    ("hot", "y", "spam", {}),
    ("acct-1", "z", "ban evader", {"kind": "account", "signals": {"subject": {"device": "dev-42"}}}),
    ("acct-2", "z", "ban evader again", {"kind": "account", "signals": {"subject": {"device": "dev-42"}}}),
    ("pic", "good", "known image", {"media": [{"sha256": LISTED}]}),
    ("hot", "new1", "this account posts spam links all day long", {}),
    ("hot", None, "classifier", {"reporter_kind": "automated"}),
]


def items(policy_book):
    made = []
    for external_id, reporter, description, extra in ITEMS:
        kind = extra.get("kind", "content")
        fields = {"latest_text": "text"}
        if "media" in extra:
            fields["latest_media"] = extra["media"]
        made.append(ReportInput(
            subject=SubjectInput(kind=kind, external_id=external_id, fields=fields,
                                 as_received={"kind": kind, "external_id": external_id}),
            policy=policy_book["spam"], reporter_kind=extra.get("reporter_kind", "user"),
            reporter_external_id=reporter or "", description=description, signals=extra.get("signals", {}),
            classifier_score=0.7 if extra.get("reporter_kind") == "automated" else None))
    return made


def state(source):
    """Everything the signals wrote for a source, in a form comparable across sources."""
    subjects = {s.subject_id: s for s in SubjectSignals.objects.all()}
    reports = list(Report.objects.filter(source=source).select_related("subject").order_by("received_at", "id"))
    snapshots = {s.report_id: s for s in ReportSignals.objects.filter(report_id__in=[r.pk for r in reports])}
    per_subject = {}
    for report in reports:
        row = subjects[report.subject_id]
        per_subject[report.subject.external_id] = (
            row.reports, row.weak_reports, row.near_duplicate_reports, row.co_report_hits,
            pytest.approx(row.burst_ratio), pytest.approx(row.rate_fast, rel=1e-3), len(row.recent_reporters),
            row.recent_simhashes, [m["list"] for m in row.hash_matches])
    cases = {c.subject.external_id: (c.report_count, c.reporter_count, pytest.approx(c.reporter_weight), c.priority)
             for c in Case.objects.filter(source=source).select_related("subject")}
    snapshot_rows = [
        (r.subject.external_id, r.discounted, s.reports, s.weak_reports, s.near_duplicate_reports, s.co_report_hits,
         s.upheld, s.rejected, [m["list"] for m in s.hash_matches])
        for r in reports for s in [snapshots[r.pk]]]
    pairs = sorted((p.reporter_a, p.reporter_b, p.count) for p in CoReportPair.objects.filter(source=source))
    links = sorted((link.kind, link.subject_id in {r.subject_id for r in reports})
                   for link in IdentifierLink.objects.filter(source=source))
    return per_subject, cases, snapshot_rows, pairs, links


def test_a_batch_gives_what_its_reports_filed_one_by_one_give(workflows, policy_book, system_actor):
    hash_list = HashList.objects.create(name="known")
    HashListEntry.objects.create(hash_list=hash_list, algorithm="sha256", value=LISTED)
    batched, single = Source.objects.create(name="batched"), Source.objects.create(name="one-by-one")
    # x and y already reported something together once; "good" has a record.
    for source in (batched, single):
        CoReportPair.objects.create(source=source, reporter_a="user:x", reporter_b="user:y", count=1,
                                    last_at=timezone.now())
        ReporterReputation.objects.create(source=source, reporter_kind="user", reporter_key="good", upheld=8,
                                          rejected=1, updated_at=timezone.now())

    results = report_intake_batch(source=batched, api_client_id=None, actor=system_actor, items=items(policy_book))
    assert all(r.status in (200, 201) for r in results)
    for item in items(policy_book):
        report_intake(source=single, api_client_id=None, actor=system_actor, item=item)

    got, expected = state(batched), state(single)
    per_subject, cases, snapshots, pairs, links = got
    assert per_subject == expected[0]
    assert cases == expected[1]
    assert snapshots == expected[2]
    assert pairs == expected[3]
    assert links == expected[4]
    # What makes the comparison mean something: reports of the batch saw the ones before them.
    hot = [row for row in snapshots if row[0] == "hot"]
    assert [row[2] for row in hot] == [1, 2, 3, 4, 5, 6]
    assert hot[1][4] == 1  # the second near-identical description
    assert per_subject["hot"][3] >= 1 and ("user:x", "user:y", 3) in pairs  # 1 before, + "other", + "hot"
    assert [row for row in snapshots if row[0] == "pic"][0][6:] == (8.0, 1.0, ["known"])
    assert links == [("device", True), ("device", True)]
    assert len(ReportSignals.objects.filter(report_id__in=[r.body["report_id"] for r in results])) == len(ITEMS)
