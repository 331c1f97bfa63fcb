"""Rules at intake: shadow rules change nothing, active rules apply their effects through services, audited."""

from audit.models import AuditEvent
from audit.services import case_stream
from cases.models import Case
from reviews.models import Review
from rules.models import CaseLabel, RuleHit

SPAM = 'report.policy == "spam" && report.reporter_kind == "user"'


def case_state(case_id):
    case = Case.objects.get(pk=case_id)
    events = [(e.action, e.data.get("priority")) for e in AuditEvent.objects.filter(stream=case_stream(case_id))
              .order_by("seq")]
    reviews = list(Review.objects.filter(case_id=case_id).values_list("state", "priority", "queue_id"))
    return {"state": case.state, "priority": case.priority, "queue": case.queue_id, "events": events,
            "reviews": reviews, "labels": list(CaseLabel.objects.filter(case_id=case_id).values_list("label"))}


def test_shadow_rules_change_nothing_but_record_what_they_would_do(make_rule, file_report):
    without = [case_state(file_report(external_id=f"w-{i}", reporter=("user", f"r{i}"))) for i in range(2)]
    make_rule(SPAM, effects=[{"type": "raise_priority", "by": 200}, {"type": "label", "label": "spam-wave"}],
              mode="shadow")
    case_ids = [file_report(external_id=f"s-{i}", reporter=("user", f"r{i}")) for i in range(2)]
    with_shadow = [case_state(case_id) for case_id in case_ids]
    assert with_shadow == without
    hits = list(RuleHit.objects.filter(case_id__in=case_ids).order_by("created_at"))
    assert len(hits) == 2
    assert all(h.mode == "shadow" and not h.applied for h in hits)
    opened_priority = Case.objects.get(pk=case_ids[0]).priority
    assert hits[0].effects == [{"type": "raise_priority", "by": 200, "priority": opened_priority + 200},
                               {"type": "label", "label": "spam-wave"}]


def test_active_rule_effects_are_applied_and_audited(make_rule, file_report):
    rule = make_rule(SPAM, effects=[{"type": "raise_priority", "by": 150}, {"type": "label", "label": "spam-wave"}])
    baseline_id = file_report(external_id="base", policy="harassment")  # does not match
    case_id = file_report(external_id="hit")
    case = Case.objects.get(pk=case_id)
    base_priority = Case.objects.get(pk=baseline_id).priority
    assert not RuleHit.objects.filter(case_id=baseline_id).exists()
    events = list(AuditEvent.objects.filter(stream=case_stream(case_id)).order_by("seq"))
    changed = [e for e in events if e.action == "case.priority_changed"]
    assert len(changed) == 1
    before, after = changed[0].data["priority"]
    assert after == before + 150 == case.priority
    applied = [e for e in events if e.action == "rule.applied"]
    assert applied[0].data["rule"] == rule.slug
    assert applied[0].actor_type == "system" and applied[0].actor_name == f"rule {rule.slug} v1"
    assert list(CaseLabel.objects.filter(case_id=case_id).values_list("label", flat=True)) == ["spam-wave"]
    # The review carries the new priority too (claim order).
    assert Review.objects.get(case_id=case_id, state="open").priority == case.priority
    assert base_priority < case.priority


def test_a_replayed_request_runs_no_rule_twice(make_rule, api, report_body):
    make_rule('report.policy == "spam"', effects=[{"type": "label", "label": "x"}])
    body = report_body(external_id="idem")
    first = api.post("/api/v1/reports", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = api.post("/api/v1/reports", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201 and again.status_code == 201
    assert RuleHit.objects.filter(case_id=first.json()["case"]["id"]).count() == 1


def test_batch_intake_runs_rules_per_report(make_rule, api, report_body):
    make_rule('report.policy == "spam"', effects=[{"type": "label", "label": "batch"}])
    items = [report_body(external_id=f"b-{i}") for i in range(3)] + [report_body(external_id="b-h",
                                                                                  policy="harassment")]
    response = api.post("/api/v1/reports/batch", {"reports": items}, format="json")
    assert response.status_code in (200, 201, 207), response.content
    assert RuleHit.objects.count() == 3
    assert CaseLabel.objects.filter(label="batch").count() == 3


def test_rules_that_are_off_are_not_evaluated(make_rule, file_report):
    make_rule(SPAM, effects=[{"type": "label", "label": "never"}], mode="off")
    case_id = file_report(external_id="off")
    assert not RuleHit.objects.filter(case_id=case_id).exists()


def test_an_active_route_moves_the_case_and_its_review_audited(make_rule, file_report):
    from cases.models import Queue

    brigading = Queue.objects.create(slug="brigading", name="Brigading")
    make_rule(SPAM, effects=[{"type": "route", "queue": "brigading"}])
    case_id = file_report(external_id="routed")
    assert Case.objects.get(pk=case_id).queue_id == brigading.pk
    assert Review.objects.get(case_id=case_id, state="open").queue_id == brigading.pk
    routed = AuditEvent.objects.get(stream=case_stream(case_id), action="case.routed")
    assert routed.data["trigger"] == "rule" and routed.data["queue"] == "brigading"
    # A second report: already there, nothing more written.
    file_report(external_id="routed", reporter=("user", "r2"))
    assert AuditEvent.objects.filter(stream=case_stream(case_id), action="case.routed").count() == 1


def test_a_shadow_route_moves_nothing(make_rule, file_report):
    from cases.models import Queue

    Queue.objects.create(slug="brigading", name="Brigading")
    make_rule(SPAM, effects=[{"type": "route", "queue": "brigading"}], mode="shadow")
    case_id = file_report(external_id="not-routed")
    assert Case.objects.get(pk=case_id).queue.slug == "general"
    assert RuleHit.objects.get(case_id=case_id).effects == [{"type": "route", "queue": "brigading"}]


def test_a_route_to_a_queue_renamed_since_the_rule_was_saved_still_files_the_report(make_rule, file_report):
    from cases.models import Queue

    brigading = Queue.objects.create(slug="brigading", name="Brigading")
    make_rule(SPAM, effects=[{"type": "route", "queue": "brigading"}])
    brigading.slug = "coordinated"
    brigading.save(update_fields=["slug"])
    case_id = file_report(external_id="renamed-queue")
    assert Case.objects.get(pk=case_id).queue.slug == "general"
    hit = RuleHit.objects.get(case_id=case_id)
    assert hit.effects == [{"type": "route", "queue": "brigading", "moved": False,
                            "reason": "no queue 'brigading'"}]
