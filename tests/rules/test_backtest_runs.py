"""Backtests as jobs (rules/backtest_runs.py): stored and audited runs, one
run per rule at a time and a global cap, results equal to the hand count of
tests/rules/test_backtest.py, and no run left "running" by a lost worker.

The worker test runs a real Celery worker process on a private redis-server;
the other tests call the job's function in this process, as the worker does."""

from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from audit.context import Actor
from audit.models import AuditEvent
from rules import backtest_runs
from rules.backtest import NO_MATCH
from rules.backtest_runs import BacktestBusy, backtest_run_execute, backtest_run_start, backtest_runs_sweep
from rules.errors import RuleInvalid
from rules.models import BacktestRun, BacktestStatus
from rules.selectors import backtest_published_after, versions_with_backtests
from rules.services import rule_create, rule_draft_save, rule_publish
from tests.processes import database_url, wait_for

from . import test_backtest
from .test_backtest import EFFECTS, RULE

decided_fixture = test_backtest.decided_fixture  # the fixture of decided cases counted by hand there

LEAD = Actor.system("tests-lead")


@pytest.fixture
def draft(workflows):
    rule = rule_create(slug="casino", name="Casino spam", actor=LEAD)
    return rule_draft_save(rule=rule, actor=LEAD, expression=RULE, effects=EFFECTS, predicts="remove_content")


def assert_hand_count(results, fixture):
    """The figures of test_backtest.test_backtest_equals_a_hand_count, as the run stored them."""
    assert (results["decided"], results["matched"], results["errors"]) == (7, 4, 0)
    assert results["matrix_columns"] == ["remove_content", NO_MATCH]
    assert results["matrix_rows"] == [["label", [0, 1]], ["no_violation", [1, 1]], ["remove_content", [3, 1]]]
    figures = {f["outcome"]: f for f in results["outcomes"]}
    assert (figures["remove_content"]["precision"], figures["remove_content"]["recall"]) == (0.75, 0.75)
    assert figures["no_violation"]["precision"] is None and figures["no_violation"]["recall"] == 0
    assert [d["case_id"] for d in results["disagreements"]] == [fixture["c4"]]
    assert [d["case_id"] for d in results["misses"]] == [fixture["c5"]]
    assert results["reviewer_hours_saved"] == pytest.approx(2.0)
    assert (results["open_cases"], results["open_matched"]) == (2, 1)
    assert results["open_effects"] == {"raise_priority": 1}
    assert results["open_examples"][0]["case_id"] == fixture["o1"]


def events(action):
    return AuditEvent.objects.filter(stream="config", action=action).order_by("seq")


# ---- in this process ------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_a_run_is_stored_audited_and_its_results_equal_the_hand_count(decided_fixture, draft, people):
    lead = people["seniors"][0]
    run = backtest_run_start(version=draft, days=1, actor=LEAD, user=lead)
    assert (run.status, run.attempt, run.results) == (BacktestStatus.QUEUED, 1, None)
    assert run.period_end - run.period_start == timedelta(days=1)
    [started] = events("rule.backtest_started")
    assert started.data["backtest"] == str(run.pk) and started.data["definition"]["expression"] == RULE
    # The draft changes after the start: the run measures what was started.
    rule_draft_save(rule=draft.rule, actor=LEAD, expression='report.policy == "nope"', effects=[],
                    predicts="remove_content")
    assert backtest_run_execute(run_id=run.pk, attempt=1) == "done"
    run.refresh_from_db()
    assert run.status == BacktestStatus.DONE and run.finished_at is not None and run.started_by == lead
    assert run.processed == run.total == 9  # 7 decided in the period + 2 open
    assert_hand_count(run.results, decided_fixture)
    [finished] = events("rule.backtest_finished")
    assert finished.data["status"] == "done" and finished.data["matched"] == 4
    # A second delivery of the same job changes nothing.
    assert backtest_run_execute(run_id=run.pk, attempt=1) == "skipped"
    assert events("rule.backtest_finished").count() == 1


@pytest.mark.django_db
def test_one_run_per_rule_at_a_time_and_a_global_cap(draft, workflows):
    first = backtest_run_start(version=draft, days=30, actor=LEAD)
    assert backtest_run_start(version=draft, days=7, actor=LEAD) == first  # no second job for the same rule
    for n in range(backtest_runs.MAX_ACTIVE - 1):
        rule = rule_create(slug=f"other-{n}", name="Other", actor=LEAD)
        version = rule_draft_save(rule=rule, actor=LEAD, expression="true", effects=[], predicts="remove_content")
        backtest_run_start(version=version, days=1, actor=LEAD)
    rule = rule_create(slug="one-too-many", name="One too many", actor=LEAD)
    version = rule_draft_save(rule=rule, actor=LEAD, expression="true", effects=[], predicts="remove_content")
    with pytest.raises(BacktestBusy):
        backtest_run_start(version=version, days=1, actor=LEAD)
    assert BacktestRun.objects.count() == backtest_runs.MAX_ACTIVE
    assert events("rule.backtest_started").count() == backtest_runs.MAX_ACTIVE


@pytest.mark.django_db
@pytest.mark.parametrize("days", [0, -1, 366, "30", True, 2.5])
def test_a_bad_period_is_refused_naming_the_field(draft, days):
    with pytest.raises(RuleInvalid) as refused:
        backtest_run_start(version=draft, days=days, actor=LEAD)
    assert list(refused.value.problems) == ["days"]
    assert not BacktestRun.objects.exists() and not events("rule.backtest_started").exists()


@pytest.mark.django_db
def test_a_failing_run_is_marked_failed_with_its_reason(draft):
    run = backtest_run_start(version=draft, days=1, actor=LEAD)
    # A condition that no longer compiles (saved before a stricter check, say) fails the job, not the worker.
    BacktestRun.objects.filter(pk=run.pk).update(expression="report.nope(")
    assert backtest_run_execute(run_id=run.pk, attempt=1) == "failed"
    run.refresh_from_db()
    assert run.status == BacktestStatus.FAILED and "ExpressionError" in run.error
    assert events("rule.backtest_finished").get().data["status"] == "failed"


@pytest.mark.django_db
def test_a_run_lost_on_its_last_attempt_is_failed_and_a_stale_attempt_does_nothing(draft):
    run = backtest_run_start(version=draft, days=1, actor=LEAD)
    # What a worker killed mid-run leaves behind: "running", and nobody holding the run's lock.
    BacktestRun.objects.filter(pk=run.pk).update(status=BacktestStatus.RUNNING, attempt=backtest_runs.MAX_ATTEMPTS,
                                                 started_at=timezone.now())
    assert backtest_runs_sweep() == 1
    run.refresh_from_db()
    assert run.status == BacktestStatus.FAILED and "worker lost" in run.error
    assert backtest_runs_sweep() == 0  # nothing left to do
    # The redelivered message of the first attempt finds the run finished.
    assert backtest_run_execute(run_id=run.pk, attempt=1) == "skipped"
    assert BacktestRun.objects.get(pk=run.pk).status == BacktestStatus.FAILED


@pytest.mark.django_db
def test_a_run_nobody_started_is_failed_after_the_timeout(draft):
    run = backtest_run_start(version=draft, days=1, actor=LEAD)
    assert backtest_runs_sweep() == 0
    assert backtest_runs_sweep(now=timezone.now() + backtest_runs.QUEUED_TIMEOUT + timedelta(seconds=1)) == 1
    run.refresh_from_db()
    assert run.status == BacktestStatus.FAILED and run.error == "no worker started it"


@pytest.mark.django_db
def test_the_publish_page_keeps_the_backtest_the_version_was_published_after(decided_fixture, draft):
    run = backtest_run_start(version=draft, days=1, actor=LEAD)
    backtest_run_execute(run_id=run.pk, attempt=1)
    published = rule_publish(version=draft, actor=LEAD)
    assert backtest_published_after(published) == run
    assert events("rule.published").get().data["backtest"] == str(run.pk)
    [version] = versions_with_backtests(draft.rule)
    assert version.published_after == run and version.published_after.results["matched"] == 4
    # A version edited after its backtest was not published after it.
    other = rule_create(slug="edited", name="Edited", actor=LEAD)
    version = rule_draft_save(rule=other, actor=LEAD, expression=RULE, effects=[], predicts="remove_content")
    tested = backtest_run_start(version=version, days=1, actor=LEAD)
    backtest_run_execute(run_id=tested.pk, attempt=1)
    version = rule_draft_save(rule=other, actor=LEAD, expression="true", effects=[], predicts="remove_content")
    assert backtest_published_after(rule_publish(version=version, actor=LEAD)) is None
    assert events("rule.published").last().data["backtest"] is None


# ---- a real worker ----------------------------------------------------------------------------------------

@pytest.fixture
def web_broker(redis_server):
    """This process (the web side) sends its jobs to the test's private redis-server, where its worker listens."""
    from config.celery import app

    names = ("broker_url", "broker_write_url", "broker_read_url")
    saved = [app.conf[name] for name in names], app._pool, app.amqp._producer_pool
    for name in names:
        app.conf[name] = redis_server.url(0)
    app._pool = app.amqp._producer_pool = None
    yield redis_server.url(0)
    if app._pool is not None:
        app._pool.force_close_all()
    for name, value in zip(names, saved[0], strict=True):
        app.conf[name] = value
    app._pool, app.amqp._producer_pool = saved[1], saved[2]


@pytest.mark.slow
def test_a_worker_killed_mid_run_leaves_a_run_that_is_retried_and_finishes(decided_fixture, draft, procs,
                                                                           web_broker):
    """~10 s: two worker processes start. The first is held mid-run by a lock this test takes on the votes
    table (the job reads it after scanning the decided cases), then killed with its process group."""
    env = procs.celery_env(database_url=database_url(), broker_url=web_broker)
    holder = psycopg.connect(database_url().replace("postgres://", "postgresql://"), autocommit=False)
    try:
        holder.execute("LOCK TABLE reviews_vote IN ACCESS EXCLUSIVE MODE")
        run = backtest_run_start(version=draft, days=1, actor=LEAD)  # sent on commit (autocommit here)
        worker = procs.worker(env, name="doomed")
        held = wait_for(lambda: BacktestRun.objects.filter(pk=run.pk, status="running", processed=7).first(),
                        timeout=60, what="the run to reach the votes", details=procs.logs)
        assert held.total == 9
        assert backtest_runs_sweep() == 0  # its worker is alive: nothing to do
        worker.kill()
    finally:
        holder.rollback()
        holder.close()
    # The killed worker's database session ends once its query finds the client gone; then the sweep can tell.
    wait_for(lambda: backtest_runs_sweep() == 1, timeout=60, what="the sweep to find the lost run")
    run.refresh_from_db()
    assert (run.status, run.attempt) == (BacktestStatus.QUEUED, 2)
    assert events("rule.backtest_retried").get().data["reason"] == "worker lost"
    procs.worker(env, name="second")
    wait_for(lambda: BacktestRun.objects.filter(pk=run.pk, status__in=["done", "failed"]).exists(), timeout=60,
             what="the retried run to finish", details=procs.logs)
    run.refresh_from_db()
    assert run.status == BacktestStatus.DONE, run.error
    assert_hand_count(run.results, decided_fixture)
    assert connection.vendor == "postgresql"
