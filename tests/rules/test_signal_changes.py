"""What intake tells the platform after the rules ran, and signal flags that change on an open case: audited
with their evidence, handed to the rules once per change (case.signals_changed)."""

import json

from django.utils import timezone

from audit.models import AuditEvent
from audit.services import case_stream
from cases.models import Case, Queue, Report
from cases.services import ReportInput, SubjectInput
from reviews.intake import report_intake
from reviews.models import Decision
from rules.models import RuleHit
from signals.models import ReporterReputation

BRIGADE_TEXT = "This user is a liar and must be banned!!"


def test_the_response_says_what_an_active_rule_did_in_the_same_request(make_rule, api, report_body):
    make_rule('report.policy == "spam"', effects=[{"type": "decide", "outcome": "label"}], predicts="label",
              sample_share=0.0)
    body = report_body(external_id="auto-decided")
    first = api.post("/api/v1/reports", body, format="json", HTTP_IDEMPOTENCY_KEY="auto-1")
    assert first.status_code == 201, first.content
    case = first.json()["case"]
    decision = Decision.objects.get(case_id=case["id"], is_current=True)
    assert case["state"] == "decided" == Case.objects.get(pk=case["id"]).state
    assert case["decision_id"] == str(decision.pk)
    replay = api.post("/api/v1/reports", body, format="json", HTTP_IDEMPOTENCY_KEY="auto-1")
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json()["case"] == case
    # A report no rule acted on is described as filed, without a decision.
    plain = api.post("/api/v1/reports", report_body(external_id="untouched", policy="harassment"), format="json")
    assert plain.json()["case"]["state"] == "open" and "decision_id" not in plain.json()["case"]


def _file(source, system_actor, policy_book, reporter, description):
    item = ReportInput(subject=SubjectInput(kind="content", external_id="critic-post", fields={"latest_text": "t"},
                                            as_received={"kind": "content", "external_id": "critic-post"}),
                       policy=policy_book["spam"], reporter_kind="user", reporter_external_id=reporter,
                       description=description)
    return report_intake(source=source, api_client_id=None, actor=system_actor, item=item)


def test_a_brigade_flag_set_on_a_joining_report_is_audited_and_acted_on_once(make_rule, workflows, source,
                                                                               system_actor, policy_book):
    brigading = Queue.objects.create(slug="brigading", name="Brigading")
    rule = make_rule('"coordinated_reporting" in case.signals_changed && signals.brigade_flagged',
                     effects=[{"type": "route", "queue": "brigading"}, {"type": "hold"}])
    results = [_file(source, system_actor, policy_book, f"fresh-{i}", BRIGADE_TEXT) for i in range(14)]
    case_id = results[0].case_id
    stream = case_stream(case_id)
    flagged = list(AuditEvent.objects.filter(stream=stream, action="case.signal_flag_changed"))
    assert len(flagged) == 1
    event = flagged[0]
    tripping = next(i for i, r in enumerate(results) if r.body["report_id"] == event.data["report_id"])
    assert 5 <= tripping < 14  # a report that joined the open case
    assert event.data["signal"] == "coordinated_reporting" and event.data["flagged"] is True
    evidence = event.data["evidence"]
    assert set(evidence) == {"reports", "burst_ratio", "weak_share", "near_duplicate_share", "co_report_share",
                             "tripped", "score", "damping"}
    assert evidence["reports"] == tripping + 1 and evidence["weak_share"] == 1.0
    assert {"burst", "weak_reporters", "near_duplicates"} <= set(evidence["tripped"])
    text = json.dumps(event.data)
    assert "fresh-" not in text and "liar" not in text  # counts and shares only
    # The rule acted once, on the report that set the flag, not on every report after it.
    hits = list(RuleHit.objects.filter(rule=rule, case_id=case_id))
    assert len(hits) == 1 and str(hits[0].report_id) == event.data["report_id"]
    case = Case.objects.get(pk=case_id)
    assert case.queue_id == brigading.pk and case.state == "on_hold"
    assert AuditEvent.objects.filter(stream=stream, action="rule.applied").count() == 1
    # The response of the report that tripped it says the case is on hold.
    assert results[tripping].body["case"]["state"] == "on_hold"

    # Reputable reporters with their own words dilute the shares: the flag is cleared, audited once.
    ReporterReputation.objects.bulk_create([
        ReporterReputation(source=source, reporter_kind="user", reporter_key=f"regular-{i}", upheld=8, rejected=0,
                           updated_at=timezone.now()) for i in range(16)])
    for i in range(16):
        _file(source, system_actor, policy_book, f"regular-{i}", f"order {i} never arrived, seller vanished ({i})")
    changes = [e.data["flagged"] for e in AuditEvent.objects.filter(stream=stream, action="case.signal_flag_changed")
               .order_by("seq")]
    assert changes == [True, False]
    assert RuleHit.objects.filter(rule=rule, case_id=case_id).count() == 1  # the condition needs the flag set
    assert Report.objects.filter(case_id=case_id).count() == 30


def test_an_organic_burst_records_no_flag(make_rule, workflows, source, system_actor, policy_book):
    ReporterReputation.objects.bulk_create([
        ReporterReputation(source=source, reporter_kind="user", reporter_key=f"regular-{i}", upheld=8, rejected=0,
                           updated_at=timezone.now()) for i in range(12)])
    results = [_file(source, system_actor, policy_book, f"regular-{i}", f"my order {i} never came ({i})")
               for i in range(12)]
    assert not AuditEvent.objects.filter(stream=case_stream(results[0].case_id),
                                         action="case.signal_flag_changed").exists()
