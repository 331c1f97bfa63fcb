"""The console's rule pages for leads: list, new rule and draft with validation errors, publish, mode, backtest
results, shadow results, and "make a rule from this case"."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from reviews.models import Outcome
from reviews.services import claim_next, vote_cast
from rules.backtest_runs import backtest_run_execute
from rules.models import BacktestRun, Rule, RuleHit, RuleVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead(people, sign_in):
    return sign_in(people["seniors"][0])


def new_rule(lead, **overrides):
    data = {"slug": "casino", "name": "Casino spam", "expression": 'report.policy == "spam"',
            "effects": '[{"type": "label", "label": "casino"}]', "predicts": "remove_content",
            "agreement_threshold": "0.9", "sample_share": "0.1"}
    data.update(overrides)
    return lead.post(reverse("console:rule-new"), data)


def decide(case_id, people, policy_book, outcome="remove_content"):
    from cases.models import Queue

    for mod in people["moderators"][:2]:
        seat = claim_next(moderator=mod, queue=Queue.objects.get(slug="general"))
        assert str(seat.review.case_id) == str(case_id)
        vote_cast(review_id=seat.review_id, reviewer=mod, outcome=Outcome.objects.get(code=outcome),
                  policy=policy_book["spam"], rationale="decided")


def test_only_leads_see_the_rule_pages(people, sign_in, workflows):
    assert sign_in(people["moderators"][0]).get(reverse("console:rules")).status_code == 403
    assert sign_in(people["seniors"][0]).get(reverse("console:rules")).status_code == 200


def test_a_bad_new_rule_shows_each_problem_and_writes_nothing(lead, workflows):
    response = new_rule(lead, expression="report.nope > 1", effects='[{"type": "explode"}]')
    assert response.status_code == 400
    body = response.content.decode()
    assert "unknown field &#x27;nope&#x27;" in body
    assert "unknown effect type &#x27;explode&#x27;" in body
    assert not Rule.objects.exists()
    response = new_rule(lead, effects="[not json")
    assert response.status_code == 400 and "Not valid JSON" in response.content.decode()


def test_create_publish_activate_and_see_shadow_results(lead, workflows, file_case):
    response = new_rule(lead)
    assert response.status_code == 302
    rule = Rule.objects.get(slug="casino")
    assert lead.post(reverse("console:rule-publish", args=["casino"])).status_code == 302
    assert RuleVersion.objects.get(rule=rule).state == "published"
    assert lead.post(reverse("console:rule-mode", args=["casino"]), {"mode": "shadow"}).status_code == 302
    rule.refresh_from_db()
    assert rule.mode == "shadow"
    from rules import engine

    engine.invalidate()
    case_id = file_case(text="casino")
    assert RuleHit.objects.filter(case_id=case_id, mode="shadow").exists()
    page = lead.get(reverse("console:rule", args=["casino"])).content.decode()
    assert str(case_id) in page and "label casino" in page
    listing = lead.get(reverse("console:rules")).content.decode()
    assert "Casino spam" in listing
    users = AuditEvent.objects.filter(target_type="rule", target_id="casino", actor_type="user")
    assert {e.action for e in users} == {"rule.draft_saved", "rule.published", "rule.mode_changed"}


def test_saving_a_bad_draft_on_the_rule_page_is_refused_with_the_reason(lead, workflows):
    new_rule(lead)
    response = lead.post(reverse("console:rule-draft", args=["casino"]), {
        "expression": 're_find(report.description, "(")', "effects": "[]", "predicts": "remove_content",
        "agreement_threshold": "0.9", "sample_share": "0.1"})
    assert response.status_code == 400
    assert "invalid regular expression" in response.content.decode()
    assert RuleVersion.objects.get(rule__slug="casino").expression == 'report.policy == "spam"'


def test_a_backtest_is_started_as_a_job_and_its_page_shows_progress_then_results(lead, workflows, file_case,
                                                                                people, policy_book):
    case_id = file_case(text="casino")
    decide(case_id, people, policy_book)
    new_rule(lead)
    response = lead.post(reverse("console:rule-backtest-start", args=["casino"]), {"days": "30"})
    assert response.status_code == 302
    run = BacktestRun.objects.get()
    assert response["Location"] == reverse("console:rule-backtest", args=["casino", run.pk])
    assert (run.status, run.started_by) == ("queued", people["seniors"][0])
    page = lead.get(response["Location"]).content.decode()
    assert "0 of 0 cases evaluated" in page and 'hx-trigger="every 2s"' in page  # polls itself while queued
    assert backtest_run_execute(run_id=run.pk, attempt=1) == "done"  # what the worker does
    page = lead.get(response["Location"]).content.decode()
    assert "Of 1 decided cases the rule matches 1" in page and "Precision and recall per outcome" in page
    assert "hx-trigger" not in page
    rule_page = lead.get(reverse("console:rule", args=["casino"])).content.decode()
    assert "Recent backtests" in rule_page and response["Location"] in rule_page
    # Publishing now: the versions list links the backtest it was published after.
    lead.post(reverse("console:rule-publish", args=["casino"]))
    rule_page = lead.get(reverse("console:rule", args=["casino"])).content.decode()
    assert "published after a backtest: 1 matches of 1 decided cases" in rule_page


@pytest.mark.parametrize("days", ["0", "366", "x", ""])
def test_a_bad_backtest_period_is_refused_beside_the_field(lead, workflows, days):
    new_rule(lead)
    response = lead.post(reverse("console:rule-backtest-start", args=["casino"]), {"days": days})
    assert response.status_code == 400
    assert not BacktestRun.objects.exists()


def test_a_backtest_page_of_another_rule_is_not_found(lead, workflows):
    new_rule(lead)
    new_rule(lead, slug="other", name="Other")
    lead.post(reverse("console:rule-backtest-start", args=["casino"]), {"days": "30"})
    run = BacktestRun.objects.get()
    assert lead.get(reverse("console:rule-backtest", args=["other", run.pk])).status_code == 404


def test_only_leads_start_or_see_backtests(lead, people, sign_in, workflows):
    new_rule(lead)
    lead.post(reverse("console:rule-backtest-start", args=["casino"]), {"days": "30"})
    run = BacktestRun.objects.get()
    moderator = sign_in(people["moderators"][0])
    assert moderator.get(reverse("console:rule-backtest", args=["casino", run.pk])).status_code == 403
    assert moderator.post(reverse("console:rule-backtest-start", args=["casino"]), {"days": "7"}).status_code == 403
    assert BacktestRun.objects.count() == 1


def test_make_a_rule_from_a_decided_case(lead, workflows, file_case, people, policy_book):
    case_id = file_case(text="Visit the fabulous roulette palace", score=0.87)
    open_case = file_case(text="still open")
    page = lead.get(reverse("console:case", args=[case_id])).content.decode()
    assert "Make a rule from this case" not in page  # not decided yet
    decide(case_id, people, policy_book)
    page = lead.get(reverse("console:case", args=[case_id])).content.decode()
    assert "Make a rule from this case" in page
    response = lead.post(reverse("console:rule-from-case", args=[case_id]))
    rule = Rule.objects.get()
    run = BacktestRun.objects.get(rule=rule)
    assert response.status_code == 302 and response["Location"] == reverse("console:rule-backtest",
                                                                            args=[rule.slug, run.pk])
    assert run.period_end - run.period_start == timedelta(days=30)
    backtest_run_execute(run_id=run.pk, attempt=1)
    draft = rule.versions.get()
    assert draft.predicts == "remove_content"
    assert 'report.policy == "spam"' in draft.expression and 'subject.kind == "content"' in draft.expression
    assert '"fabulous"' in draft.expression and '"roulette"' in draft.expression
    assert "report.classifier_score >= 0.8" in draft.expression
    result = lead.get(response["Location"]).content.decode()
    assert "Of 1 decided cases the rule matches 1" in result
    refused = lead.post(reverse("console:rule-from-case", args=[open_case]))
    assert refused.status_code == 302 and Rule.objects.count() == 1
    assert rule.mode == "off" and rule.published_version is None  # nothing runs until a lead publishes it


def test_a_drift_alert_is_shown_to_leads_on_the_dashboard_and_rules_list(lead, workflows, people, sign_in):
    rule = Rule.objects.create(slug="drifty", name="Drifty rule", mode="shadow", drift_alert_at=timezone.now(),
                               drift_agreement=0.42)
    for url in (reverse("console:dashboard"), reverse("console:rules")):
        body = lead.get(url).content.decode()
        assert "Rules disagreeing with human reviews" in body and "Drifty rule" in body and "0.42" in body
    auditor_view = sign_in(people["auditor"]).get(reverse("console:dashboard")).content.decode()
    assert rule.name not in auditor_view
