"""Re-review rules: the pure core, the configuration service and admin
(audited, validated), and intake under concurrency: two reports at once
about a decided subject open at most one new round."""

import threading

import pytest
from django.db import connection

from audit.context import Actor
from audit.models import AuditEvent
from audit.services import CONFIG_STREAM
from audit.verify import verify_audit
from cases.models import Case, RereviewRule
from cases.rereview import DEFAULT_SETTINGS, ReporterFacts, content_changed, content_hash, reopen_reasons
from cases.services import ReportInput, SubjectInput, rereview_rule_save
from reviews.intake import report_intake
from reviews.models import Review

FACTS = ReporterFacts(new_reporters=1, reporter_is_known=False, reporter_was_judged=False)


def test_reasons_follow_the_enabled_conditions():
    base = dict(settings=DEFAULT_SETTINGS, report_severity=2, decided_severity=2, reporter_kind="user", changed=False)
    assert reopen_reasons(facts=FACTS, **base) == []
    assert reopen_reasons(facts=FACTS, **{**base, "report_severity": 5}) == ["more_severe"]
    assert reopen_reasons(facts=FACTS, **{**base, "reporter_kind": "trusted_flagger"}) == ["trusted_flagger"]
    judged = ReporterFacts(new_reporters=0, reporter_is_known=True, reporter_was_judged=True)
    assert reopen_reasons(facts=judged, **{**base, "reporter_kind": "trusted_flagger"}) == []
    assert reopen_reasons(facts=ReporterFacts(5, False, False), **base) == ["new_reporters"]
    off = DEFAULT_SETTINGS.__class__(new_reporters=0)
    assert reopen_reasons(facts=ReporterFacts(50, False, False), **{**base, "settings": off}) == []


def test_content_change_is_judged_on_what_the_report_carries():
    decided = content_hash("hello", [{"url": "a"}])
    assert not content_changed(decided, {})
    assert not content_changed(decided, {"latest_text": "hello"})
    assert content_changed(decided, {"latest_text": "hello!"})
    assert content_changed(decided, {"latest_media": [{"url": "b"}]})
    assert not content_changed("", {"latest_text": "x"})


def test_rule_changes_are_audited_and_a_second_default_is_refused(db, policy_book):
    actor = Actor.system("tests")
    rule = rereview_rule_save(rule=RereviewRule(new_reporters=3), actor=actor)
    rule.window_hours = 48
    rereview_rule_save(rule=rule, actor=actor)
    events = list(AuditEvent.objects.filter(stream=CONFIG_STREAM, target_type="rereview_rule").order_by("seq"))
    assert [e.data.get("created") for e in events] == [True, False]
    assert events[1].data["changes"] == {"window_hours": [24, 48]}
    from django.core.exceptions import ValidationError
    with pytest.raises(ValidationError):
        rereview_rule_save(rule=RereviewRule(new_reporters=9), actor=actor)
    assert RereviewRule.objects.count() == 1


def test_admin_creates_a_rule_through_the_service_and_refuses_bad_input(client, people, policy_book):
    client.force_login(people["admin"])
    people["admin"].is_superuser = True
    people["admin"].save()
    url = "/admin/cases/rereviewrule/add/"
    form = {"policy": policy_book["spam"].pk, "on_more_severe": "on", "on_content_change": "on",
            "new_reporters": "10", "window_hours": "12"}
    assert client.post(url, form).status_code == 302
    rule = RereviewRule.objects.get(policy=policy_book["spam"])
    assert (rule.on_trusted_flagger, rule.new_reporters, rule.window_hours) == (False, 10, 12)
    assert AuditEvent.objects.filter(target_type="rereview_rule", target_id="spam").count() == 1
    bad = client.post(url, {**form, "policy": policy_book["hate"].pk, "window_hours": "0"})
    assert bad.status_code == 200 and b"window_hours" in bad.content
    duplicate = client.post(url, form)
    assert duplicate.status_code == 200
    assert RereviewRule.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_reports_at_once_about_a_decided_subject_open_at_most_one_round(workflows, people, policy_book):
    from cases.services import source_get_or_create
    from reviews.models import Outcome
    from reviews.services import seat_assign, vote_cast

    actor = Actor.system("tests")
    source = source_get_or_create(name="platform", actor=actor)

    def file(policy, reporter):
        item = ReportInput(subject=SubjectInput(kind="account", external_id="acct-9", fields={"latest_text": "hi"},
                                                as_received={}),
                           policy=policy_book[policy], reporter_kind=reporter[0], reporter_external_id=reporter[1])
        return report_intake(source=source, api_client_id=None, actor=actor, item=item)

    case_id = file("spam", ("user", "u0")).case_id
    review = Review.objects.get(case_id=case_id, state="open")
    for moderator in people["moderators"][:2]:
        seat_assign(review_id=review.pk, moderator=moderator, lead=people["seniors"][0])
        vote_cast(review_id=review.pk, reviewer=moderator, outcome=Outcome.objects.get(code="no_violation"),
                  policy=policy_book["spam"], rationale="fine")
    assert Case.objects.get(pk=case_id).state == "decided"

    results, errors = [], []
    barrier = threading.Barrier(4)

    def worker(n):
        try:
            barrier.wait(timeout=60)
            results.append(file("hate", ("trusted_flagger", f"tf-{n}")).body["effect"])
        except Exception as exc:  # asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert not errors, errors
    assert sorted(results) == ["joined_case"] * 3 + ["reopened_review"]
    assert Review.objects.filter(case_id=case_id, state__in=["open", "on_hold"]).count() == 1
    case = Case.objects.get(pk=case_id)
    assert case.reopen_count == 1 and case.report_count == 5
    assert verify_audit().ok
