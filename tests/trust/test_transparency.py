"""The transparency report: its figures equal what the hand-built fixture
below puts in, and each figure names the cases behind it."""

import csv
import io
import json
import statistics
from datetime import UTC, datetime, time, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone as dj_timezone

from cases.models import Policy, Report, Source
from cases.services import ReportInput, SubjectInput
from dsa.models import PolicyMapping
from reviews.intake import report_intake
from reviews.models import Decision
from reviews.services import appeal_file
from trust.transparency import as_csv, audit_disagreements, audit_replay, decision_ground, transparency_report

from .conftest import decide

pytestmark = pytest.mark.django_db

OTHER_TC = "STATEMENT_CATEGORY_OTHER_VIOLATION_TC"
CYBER = "STATEMENT_CATEGORY_CYBER_VIOLENCE"
SPEECH = "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH"


@pytest.fixture
def world(workflows, people, policy_book, system_actor):
    """A: spam, two users and a trusted flagger, removed. B: harassment found by a classifier alone, labelled.
    C: hate from a user, no violation. D: harassment from staff, removed, reversed on appeal. E: a report
    from last year (outside the period)."""
    source = Source.objects.get_or_create(name="forum")[0]

    def file(external_id, policy, kind, reporter, score=None):
        item = ReportInput(subject=SubjectInput(kind="content", external_id=external_id, as_received={}),
                           policy=policy_book[policy], reporter_kind=kind, reporter_external_id=reporter,
                           classifier_score=score)
        return report_intake(source=source, api_client_id=None, actor=system_actor, item=item).case_id

    mods = people["moderators"]
    a = file("a1", "spam", "user", "u1")
    file("a1", "spam", "user", "u2")
    file("a1", "spam", "trusted_flagger", "tf")
    decide(a, mods[:2], "remove_content", policy_book["spam"])
    b = file("b1", "harassment", "automated", "clf", score=0.9)
    decide(b, mods[:2], "label", policy_book["harassment"])
    c = file("c1", "hate", "user", "u3")
    decide(c, mods[:2], "no_violation", policy_book["hate"])
    d = file("d1", "harassment", "staff", "s1")
    decide(d, mods[:2], "remove_content", policy_book["harassment"])
    appeal_file(case_id=d, appellant_kind="affected_user", statement="it was a quote", actor=system_actor)
    decide(d, mods[2:4], "no_violation", policy_book["harassment"])
    e = file("e1", "spam", "user", "u9")
    Report.objects.filter(case_id=e).update(received_at=dj_timezone.now() - timedelta(days=400))
    return {"a": str(a), "b": str(b), "c": str(c), "d": str(d), "e": str(e)}


def _today():
    today = dj_timezone.now().date()
    return (datetime.combine(today - timedelta(days=1), time.min, tzinfo=UTC),
            datetime.combine(today + timedelta(days=1), time.min, tzinfo=UTC))


def fig(count, *cases):
    return {"count": count, "case_ids": sorted(cases)}


def test_the_figures_equal_the_fixture(world):
    a, b, c, d = world["a"], world["b"], world["c"], world["d"]
    start, end = _today()
    report = transparency_report(start=start, end=end)

    notices = report["notices"]
    assert notices["total"] == fig(6, a, b, c, d)
    assert notices["by_category"] == {OTHER_TC: fig(3, a), CYBER: fig(2, b, d), SPEECH: fig(1, c)}
    assert notices["by_reporter_type"] == {"user": fig(3, a, c), "trusted_flagger": fig(1, a),
                                           "automated": fig(1, b), "staff": fig(1, d)}

    actions = report["actions"]
    assert actions["total"] == fig(3, a, b, d)  # C was no violation; D's appeal result is a complaint outcome
    assert actions["by_category"] == {OTHER_TC: fig(1, a), CYBER: fig(2, b, d)}
    assert actions["by_ground"] == {"unspecified": fig(3, a, b, d)}
    assert actions["by_outcome"] == {"remove_content": fig(2, a, d), "label": fig(1, b)}
    assert actions["own_initiative"] == fig(2, b, d)  # no notice from a user or trusted flagger
    assert actions["automated_detection"] == fig(1, b)
    assert actions["automated_decision"] == fig(0)
    originals = Decision.objects.filter(kind="original", outcome__is_violation=True).select_related("case")
    expected = statistics.median((o.decided_at - o.case.opened_at).total_seconds() for o in originals) / 3600
    assert actions["time_to_action"]["count"] == 3
    assert actions["time_to_action"]["median_hours"] == round(expected, 2)

    complaints = report["complaints"]
    assert complaints["received"] == fig(1, d) and complaints["decided"] == fig(1, d)
    assert complaints["by_basis"] == {"affected_user": fig(1, d)}
    assert complaints["outcomes"] == {"overturned": fig(1, d)}
    assert complaints["reversals"] == fig(1, d)
    assert report["article_23"] == {"reporter_sanctions": {}, "account_proposals": {}}


def test_a_period_without_events_is_empty(world):
    report = transparency_report(start=datetime(2020, 1, 1, tzinfo=UTC),
                                 end=datetime(2020, 2, 1, tzinfo=UTC))
    assert report["notices"]["total"] == fig(0) and report["actions"]["total"] == fig(0)
    assert report["actions"]["time_to_action"] == {"median_hours": None, "count": 0, "case_ids": []}


def test_the_ground_comes_from_the_policys_dsa_mapping(policy_book):
    policy = policy_book["hate"]
    PolicyMapping.objects.filter(policy=policy).delete()
    assert decision_ground(Policy.objects.get(pk=policy.pk)) == "unspecified"
    PolicyMapping.objects.create(policy=policy, decision_ground="DECISION_GROUND_ILLEGAL_CONTENT",
                                 illegal_content_legal_ground="StGB § 130", territorial_scope=["DE"])
    assert decision_ground(Policy.objects.get(pk=policy.pk)) == "DECISION_GROUND_ILLEGAL_CONTENT"


def test_the_command_writes_json_and_csv(world, tmp_path):
    today = dj_timezone.now().date()
    out = tmp_path / "report.json"
    call_command("transparency_report", "--from", str(today - timedelta(days=1)), "--to", str(today),
                 "--format", "json", "--output", str(out))
    data = json.loads(out.read_text())
    assert data["notices"]["total"]["count"] == 6 and data["complaints"]["reversals"]["count"] == 1

    buffer = io.StringIO()
    call_command("transparency_report", "--from", str(today), "--to", str(today), "--format", "csv", stdout=buffer)
    table = {(row["figure"], row["key"]): row for row in csv.DictReader(io.StringIO(buffer.getvalue()))}
    assert table[("notices.total", "")]["count"] == "6"
    assert table[("notices.by_reporter_type", "trusted_flagger")]["case_ids"] == world["a"]
    assert set(table[("actions.own_initiative", "")]["case_ids"].split()) == {world["b"], world["d"]}


@pytest.mark.parametrize("args, message", [
    (["--from", "2026-13-01", "--to", "2026-12-31"], "--from must be a date"),
    (["--from", "2026-02-01", "--to", "2026-01-01"], "is before --from"),
])
def test_the_command_refuses_bad_dates(db, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("transparency_report", *args)


def test_csv_cells_never_start_a_formula(world, policy_book):
    Policy = type(policy_book["spam"])
    Policy.objects.filter(code="spam").update(dsa_category="=HYPERLINK(\"http://evil\")")
    start, end = _today()
    table = list(csv.reader(io.StringIO(as_csv(transparency_report(start=start, end=end)))))
    keys = {row[1] for row in table if row[0] == "notices.by_category"}
    assert "'=HYPERLINK(\"http://evil\")" in keys
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in table for cell in row)


def test_each_registered_flagger_has_its_notices_accuracy_and_handling_time(world, register_flagger):
    source = Source.objects.get(name="forum")
    hotline = f"Hotline e.V. (#{register_flagger('Hotline e.V.', expertise=('spam',), identities=[(source, 'tf')]).pk})"
    quiet = f"count (#{register_flagger('count', expertise=('spam',), identities=[(source, 'quiet')]).pk})"
    start, end = _today()
    report = transparency_report(start=start, end=end)
    flaggers = report["trusted_flaggers"]

    a = world["a"]
    notice = Report.objects.get(case_id=a, reporter_kind="trusted_flagger")
    decision = Decision.objects.get(case_id=a, is_current=True)
    hours = round((decision.decided_at - notice.received_at).total_seconds() / 3600, 1)
    assert flaggers["notices"] == {hotline: fig(1, a), quiet: fig(0)}
    assert flaggers["decided"][hotline] == fig(1, a)
    assert flaggers["upheld"][hotline] == {**fig(1, a), "accuracy": 1.0}
    assert flaggers["upheld"][quiet]["accuracy"] is None  # a flagger named "count" is still a breakdown entry
    assert flaggers["handling_time"][hotline] == {"count": 1, "median_hours": hours, "case_ids": [a]}
    table = {(row[0], row[1]): row for row in csv.reader(io.StringIO(as_csv(report)))}
    assert table[("trusted_flaggers.upheld", hotline)][2:] == ["1", "", a]


def test_the_figures_agree_with_a_replay_of_the_audit_trail_and_a_silent_rewrite_is_caught(world):
    start, end = _today()
    assert audit_disagreements(transparency_report(start=start, end=end), audit_replay(start=start, end=end)) == []
    today = dj_timezone.now().date()
    err = io.StringIO()
    call_command("transparency_report", "--from", str(today), "--to", str(today), "--check", stdout=io.StringIO(),
                 stderr=err)
    assert "agree with the audit trail" in err.getvalue()

    # a table rewritten behind the services' back (no audit event): the replay disagrees and names the figure
    Decision.objects.filter(case_id=world["b"], is_current=True).update(automated_decision=True)
    lines = audit_disagreements(transparency_report(start=start, end=end), audit_replay(start=start, end=end))
    assert len(lines) == 1 and lines[0].startswith("actions.automated_decision:") and world["b"] in lines[0]
    with pytest.raises(CommandError, match="1 figure"):
        call_command("transparency_report", "--from", str(today), "--to", str(today), "--check",
                     stdout=io.StringIO(), stderr=io.StringIO())


def test_unconfirmed_staff_claims_are_counted_apart_from_flagger_claims(world):
    start, end = _today()
    Report.objects.filter(case_id=world["c"]).update(claimed_reporter_kind="staff")
    notices = transparency_report(start=start, end=end)["notices"]
    assert notices["staff_claims_not_confirmed"] == fig(1, world["c"])
    assert notices["trusted_flagger_claims_not_confirmed"] == fig(0)
