"""Reporter reputation and brigading at intake (docs/rules.md, "Reputation and brigading formulas")."""

import pytest

from audit.models import AuditEvent
from audit.services import case_stream
from cases.models import Case, CaseState, RereviewRule
from cases.priority import case_priority
from signals import features
from signals.brigade import Counters, verdict
from signals.models import CoReportPair, ReporterReputation, SubjectSignals
from signals.reputation import accuracy, reputation_factor
from signals.selectors import case_signals
from signals.text import distance, simhash

pytestmark = pytest.mark.django_db


def test_a_new_reporter_is_worth_the_prior_and_the_record_moves_it():
    assert accuracy(0, 0) == 0.5 and reputation_factor(0, 0) == 1.0
    assert reputation_factor(8, 0) > 1.5 and reputation_factor(0, 8) < 0.35


def test_near_identical_texts_have_close_simhashes_and_different_ones_do_not():
    a = simhash("This account is spreading lies, report it now!!")
    assert distance(a, simhash("this account is spreading LIES — report it now")) <= 3
    assert distance(a, simhash("The seller never shipped my order and stopped answering")) > 3
    assert simhash("  ...  ") is None


def test_a_burst_alone_is_not_a_brigade():
    assert not verdict(Counters(reports=40, weak_reports=2, near_duplicate_reports=0, co_report_hits=0,
                                burst_ratio=40)).flagged
    assert verdict(Counters(reports=40, weak_reports=38, near_duplicate_reports=0, co_report_hits=0,
                            burst_ratio=40)).flagged


def test_a_brigade_is_flagged_and_damped_while_an_organic_surge_is_not(file, reputable, decide):
    reputable([f"regular-{i}" for i in range(30)])
    for i in range(30):
        brigade = file("critic-post", reporter=f"fresh-{i}", description="This user is a liar and must be banned!!")
        organic = file("scam-post", reporter=f"regular-{i}", description=f"order {i} never arrived, seller vanished ({i})")
    brigaded = Case.objects.get(pk=brigade.case_id)
    surged = Case.objects.get(pk=organic.case_id)
    flagged = case_signals(case_id=brigaded.pk, subject_id=brigaded.subject_id)
    calm = case_signals(case_id=surged.pk, subject_id=surged.subject_id)
    assert flagged.coordinated and set(flagged.brigade.evidence["tripped"]) >= {"burst", "weak_reporters",
                                                                                "near_duplicates"}
    assert not calm.coordinated and calm.brigade.evidence["tripped"] == ["burst"]
    # Damped: three of four signals keep 1 - 0.75 × 0.75 of the reporter points (66 of 150).
    undamped = case_priority(max_severity=brigaded.max_severity, reporter_weight=brigaded.reporter_weight,
                             max_classifier_score=None, reach=0)
    assert brigaded.priority == undamped - 150 + 66
    assert surged.priority > brigaded.priority
    # Reputation-weighted: 30 reliable reporters weigh more than 30 without record.
    assert surged.reporter_weight > 1.5 * brigaded.reporter_weight == 1.5 * 30
    assert features.for_case(brigaded.pk)["brigade_flagged"] is True
    assert features.for_case(surged.pk)["brigade_flagged"] is False

    # The organic case (worked first: it has the higher priority) decided as a violation: reliable reporters gain.
    decide(surged.pk, "remove_content")
    assert ReporterReputation.objects.get(reporter_key="regular-0").upheld == 9.0
    # Decided "no violation": every brigade reporter's record takes the double penalty, once.
    decide(brigaded.pk, "no_violation")
    records = ReporterReputation.objects.filter(reporter_key__startswith="fresh-")
    assert records.count() == 30 and {(r.upheld, r.rejected) for r in records} == {(0.0, 2.0)}
    event = AuditEvent.objects.filter(stream=case_stream(brigaded.pk), action="signals.reputation_updated").get()
    assert event.data["coordinated"] is True and event.data["reporters"] == 30
    assert features.for_report(brigade.body["report_id"])["reporter_reputation"] == pytest.approx(2 / 6)


def test_reporters_who_keep_reporting_together_are_counted(file):
    crew = [f"crew-{i}" for i in range(6)]
    for post in ("p1", "p2"):
        for name in crew:
            file(post, reporter=name, description=f"{name} on {post}")
    assert CoReportPair.objects.filter(reporter_a="user:crew-0", reporter_b="user:crew-1").get().count == 2
    second = SubjectSignals.objects.get(subject_id=Case.objects.get(subject__external_id="p2").subject_id)
    assert second.co_report_hits == 5  # every member after the first found a pair seen on p1
    first = SubjectSignals.objects.get(subject_id=Case.objects.get(subject__external_id="p1").subject_id)
    assert first.co_report_hits == 0 and len(first.recent_reporters) == 6


def test_fresh_accounts_cannot_reopen_a_decided_case_but_reputable_ones_can(file, reputable, decide, policy_book):
    RereviewRule.objects.create(new_reporters=5)
    case_id = file("post-r", reporter="first").case_id
    decide(case_id, "no_violation")
    for i in range(8):
        result = file("post-r", reporter=f"sock-{i}")
        assert result.body["effect"] == "post_decision"
    assert Case.objects.get(pk=case_id).state == CaseState.DECIDED
    reputable([f"known-{i}" for i in range(5)])
    effects = [file("post-r", reporter=f"known-{i}").body["effect"] for i in range(5)]
    assert effects == ["post_decision"] * 4 + ["reopened_review"]
