"""SLA enforcement with the real thing: Celery workers and beat as separate
processes on Redis and PostgreSQL, and what happens when they fail.

Every test runs its processes on a private redis-server (so no other
engineer's worker can take its tasks, nor its worker theirs) and stops only
the processes it started, by process group. Waits poll with deadlines.
"""

import json
import subprocess
import sys
import time
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from audit.models import AuditEvent
from audit.verify import verify_audit
from cases.models import Case, CaseState
from config.health import SWEEPS
from integrations import ratelimit
from reviews.models import Heartbeat, Review, ReviewState, SlaPolicy
from reviews.sla import invalidate_sla_cache
from tests.processes import ROOT, PostgresInstance, manage, wait_for
from tests.processes import database_url as tests_database_url

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SWEEP_SECONDS = 0.5


@pytest.fixture(autouse=True)
def _fresh_sla_cache():
    invalidate_sla_cache()
    yield
    invalidate_sla_cache()




def start_celery(procs, broker, *, database_url=None, redis_url=None, pool="solo", concurrency=1, **env):
    environment = procs.celery_env(database_url=database_url or tests_database_url(), broker_url=broker,
                                   redis_url=redis_url, SLA_SWEEP_SECONDS=SWEEP_SECONDS, **env)
    worker = procs.worker(environment, pool=pool, concurrency=concurrency)
    beat = procs.beat(environment)
    return worker, beat, environment


def sweeps_ran_since(moment):
    """True when every periodic sweep has finished a run after `moment`."""
    beats = dict(Heartbeat.objects.filter(name__in=SWEEPS).values_list("name", "last_run_at"))
    return len(beats) == len(SWEEPS) and all(beats[name] > moment for name in SWEEPS)


def wait_for_sweeps(procs, *, after, timeout=45, what="the periodic sweeps to run"):
    wait_for(lambda: sweeps_ran_since(after), timeout=timeout, what=what, details=procs.logs)


def events(case_id, action):
    return AuditEvent.objects.filter(stream=f"case:{case_id}", action=action)


def review_of(case_id):
    return Review.objects.select_related("stage").get(case_id=case_id, state__in=[ReviewState.OPEN,
                                                                                   ReviewState.ON_HOLD])


# ---- 1. a short SLA on real processes --------------------------------------------------------------------

def test_short_sla_warns_then_breaches_and_escalates_exactly_once(file_report, redis_server, broker, procs, client,
                                                                  settings):
    SlaPolicy.objects.create(name="3 s reviews", stage_kind="review", duration_seconds=3, warn_fraction=0.5)
    invalidate_sla_cache()
    started = timezone.now()
    worker, beat, _ = start_celery(procs, broker, redis_url=redis_server.url(1))
    # The case is filed once the sweeps are running, so that its warning falls due while they run.
    wait_for_sweeps(procs, after=started)

    case_id = file_report("short-sla")
    first = review_of(case_id)
    assert first.stage.key == "review"
    assert first.due_at - first.opened_at == timedelta(seconds=3)
    assert first.warn_at - first.opened_at == timedelta(seconds=1.5)
    priority = Case.objects.get(pk=case_id).priority

    wait_for(lambda: events(case_id, "case.sla_breached").exists(), timeout=30, what="the SLA breach",
             details=procs.logs)
    # Well past the deadline: several more sweeps of each kind run and change nothing.
    wait_for_sweeps(procs, after=first.due_at + timedelta(seconds=4), what="more sweeps after the breach")

    warnings, breaches = list(events(case_id, "case.sla_warning")), list(events(case_id, "case.sla_breached"))
    assert len(warnings) == 1, procs.logs()
    assert len(breaches) == 1, procs.logs()
    assert warnings[0].seq < breaches[0].seq
    assert warnings[0].target_id == breaches[0].target_id == str(first.pk)
    first.refresh_from_db()
    assert first.state == ReviewState.TIMED_OUT
    # A sweep that first sees the review past its deadline warns and breaches it in one pass, at one moment:
    # the order is the audit trail's (warning before breach, above), not the clock's.
    assert first.warn_at <= first.warned_at <= first.breached_at and first.due_at <= first.breached_at
    senior = review_of(case_id)
    assert senior.stage.key == "senior"  # Standard: review → senior on timeout
    assert senior.warned_at is None and senior.breached_at is None  # its own 8 h clock
    assert events(case_id, "review.opened").count() == 1  # the first review opens inside case.opened
    case = Case.objects.get(pk=case_id)
    assert case.state == CaseState.ESCALATED
    assert case.breach_count == 1
    assert case.priority == priority + settings.ESCALATION_PRIORITY_BONUS
    assert worker.alive() and beat.alive()
    assert worker.connected_to(broker), worker.output()

    settings.CELERY_BROKER_URL = broker
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "ok"
    assert verify_audit().ok


# ---- 2. a worker killed in the middle of a sweep --------------------------------------------------------

def test_worker_killed_mid_sweep_processes_every_due_case_exactly_once(file_report, redis_server, broker, procs):
    """acks_late on both brokers: Redis redelivers the killed worker's task after the visibility
    timeout, RabbitMQ as soon as its connection drops; either way the sweeps lose and repeat nothing."""
    total = 300
    case_ids = {str(file_report(f"due-{i}")) for i in range(total)}
    with connection.cursor() as cursor:
        cursor.execute("UPDATE reviews_review SET warn_at = now() - interval '2 minutes', "
                       "due_at = now() - interval '1 minute' WHERE state = 'open'")
        assert cursor.rowcount == total
    due = {str(pk) for pk in Review.objects.filter(state=ReviewState.OPEN).values_list("pk", flat=True)}

    def breached():
        return Review.objects.filter(breached_at__isnull=False).count()

    worker, beat, environment = start_celery(procs, broker, redis_url=redis_server.url(1), pool="prefork",
                                             concurrency=2, SLA_SWEEP_BATCH=5)
    wait_for(lambda: breached() >= 10, timeout=45, interval=0.02, what="the first breaches", details=procs.logs)
    assert worker.connected_to(broker), worker.output()
    worker.kill()  # SIGKILL to the worker and its pool children, mid-batch
    at_kill = breached()
    # An observation window, not a synchronisation: with no worker nothing moves (beat keeps
    # queueing sweeps meanwhile), except a COMMIT already on its way when the kill landed.
    time.sleep(1.0)
    settled = breached()
    assert 0 < settled < total, f"the worker was not killed mid-sweep ({at_kill}, then {settled} of {total} breached)"

    procs.worker(environment, name="worker-2", pool="prefork", concurrency=2)
    wait_for(lambda: breached() == total, timeout=60, what=f"all {total} breaches after the restart",
             details=procs.logs)
    wait_for_sweeps(procs, after=timezone.now() + timedelta(seconds=1), what="more sweeps after the catch-up")

    breach_events = AuditEvent.objects.filter(action="case.sla_breached")
    assert breach_events.count() == total
    per_review = dict(breach_events.values("target_id").annotate(n=Count("id")).values_list("target_id", "n"))
    assert set(per_review) == due and set(per_review.values()) == {1}
    assert {case_stream.removeprefix("case:") for case_stream in breach_events.values_list("stream", flat=True)} == case_ids
    assert Case.objects.count() == total
    assert set(Case.objects.values_list("breach_count", flat=True)) == {1}
    assert set(Case.objects.values_list("state", flat=True)) == {CaseState.ESCALATED}
    timed_out = Review.objects.filter(state=ReviewState.TIMED_OUT)
    assert timed_out.count() == total and set(timed_out.values_list("case_id", "stage__key").distinct()) == {
        (pk, "review") for pk in Case.objects.values_list("pk", flat=True)}
    seniors = Review.objects.filter(state=ReviewState.OPEN, stage__key="senior")
    assert seniors.count() == total and seniors.values("case_id").distinct().count() == total
    assert AuditEvent.objects.filter(action="review.opened").count() == total
    warned = AuditEvent.objects.filter(action="case.sla_warning").values("target_id").annotate(n=Count("id"))
    # every breached review was warned exactly once (late, by the breach, when no warning sweep came first)
    assert warned.count() == total and all(row["n"] == 1 for row in warned)
    assert verify_audit().ok


# ---- 3. Redis goes away for a while ---------------------------------------------------------------------

def test_redis_outage_keeps_intake_open_and_loses_no_warning(workflows, api, report_body, redis_server, procs, client, settings,
                                                             monkeypatch):
    # Warns 3 s after opening, due after 60 s: only the warning falls inside the test.
    SlaPolicy.objects.create(name="early warning", stage_kind="review", duration_seconds=60, warn_fraction=0.05)
    invalidate_sla_cache()
    settings.REDIS_URL = redis_server.url(1)
    settings.CELERY_BROKER_URL = redis_server.url(0)
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": redis_server.url(1)}}
    monkeypatch.setattr(ratelimit, "_limiter", None)  # built from settings.REDIS_URL on first use
    started = timezone.now()
    start_celery(procs, redis_server.url(0), redis_url=redis_server.url(1))
    wait_for_sweeps(procs, after=started)
    before = api.post("/api/v1/reports", report_body("before-outage"), format="json")
    assert before.status_code == 201, before.content
    assert isinstance(ratelimit.limiter(), ratelimit._RedisLimiter)

    redis_server.stop()
    assert not redis_server.ping()
    during, responses = [], []
    for i in range(5):
        t0 = time.monotonic()
        response = api.post("/api/v1/reports", report_body(f"during-outage-{i}"), format="json")
        during.append((response.status_code, time.monotonic() - t0))
        assert response.status_code == 201, response.content
        responses.append(response)
    # Fails open at once (0.25 s socket timeouts) instead of hanging; the bound leaves room for a
    # loaded machine and still catches a client without timeouts.
    assert max(seconds for _, seconds in during) < 10.0, during
    probe = client.get("/readyz")
    assert probe.status_code == 503 and probe.json()["broker"].startswith("unreachable"), probe.content

    cases = [str(r.json()["case"]["id"]) for r in [before, *responses]]
    latest_warn = max(Review.objects.filter(case_id__in=cases, state=ReviewState.OPEN).values_list("warn_at", flat=True))
    # Keep Redis down until every warning is overdue: nothing can be swept meanwhile.
    wait_for(lambda: timezone.now() > latest_warn + timedelta(seconds=1), timeout=15, what="the warnings to fall due")
    assert not Review.objects.filter(case_id__in=cases, warned_at__isnull=False).exists(), procs.logs()

    redis_server.start()
    restarted = timezone.now()
    wait_for(lambda: Review.objects.filter(case_id__in=cases, warned_at__isnull=False).count() == len(cases),
             timeout=50, what="the warnings after Redis came back", details=procs.logs)
    wait_for_sweeps(procs, after=timezone.now() + timedelta(seconds=1), what="more sweeps after the catch-up")
    for case_id in cases:
        assert events(case_id, "case.sla_warning").count() == 1, case_id
        assert events(case_id, "case.sla_breached").count() == 0
        assert Case.objects.get(pk=case_id).at_risk_since >= restarted
    assert client.get("/readyz").status_code == 200
    # The rate limiter is back on Redis once it answers again.
    after = api.post("/api/v1/reports", report_body("after-outage"), format="json")
    assert after.status_code == 201, after.content
    assert redis_server.client(1).exists(f"quorum:ratelimit:{api.api_client.pk}")
    assert verify_audit().ok


# ---- 4. PostgreSQL restarts under the worker ------------------------------------------------------------

@pytest.fixture
def pg_instance():
    instance = PostgresInstance()
    try:
        instance.init().start()
        yield instance
    finally:
        instance.stop()


def test_worker_recovers_from_a_postgresql_restart(pg_instance, redis_server, procs):
    url = pg_instance.create_database("quorum_restart")
    environment = procs.celery_env(database_url=url, broker_url=redis_server.url(0))
    manage("migrate", "--noinput", env=environment)

    def file_case(external_id, sla):
        result = subprocess.run([sys.executable, "-m", "tests.reviews.seed_sla_case", external_id, "--sla", str(sla)],
                                cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr[-3000:]
        data = json.loads(result.stdout.strip().splitlines()[-1])
        data["due_at"] = datetime.fromisoformat(data["due_at"])
        return data

    def breaches(case):
        with pg_instance.connect("quorum_restart") as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM reviews_review WHERE case_id = %(c)s AND breached_at IS NOT NULL), "
                "(SELECT count(*) FROM audit_auditevent WHERE stream = %(s)s AND action = 'case.sla_breached')",
                {"c": case["case"], "s": f"case:{case['case']}"}).fetchone()
        return row

    def breached(case):
        return breaches(case)[0] > 0

    worker, beat, _ = start_celery(procs, redis_server.url(0), database_url=url)
    before = file_case("before-restart", 2)
    wait_for(lambda: breached(before), timeout=45, what="a breach before the restart", details=procs.logs)

    # Due well after the restart (30 s: a loaded machine may take a while to file and restart);
    # the worker still holds connections from before it.
    across = file_case("across-restart", 30)
    pg_instance.restart()
    restarted = timezone.now()
    assert across["due_at"] > restarted, "the restart took longer than the SLA; the test proves nothing"
    assert not breached(across)
    wait_for(lambda: breached(across), timeout=120, what="a breach after the PostgreSQL restart",
             details=lambda: procs.logs() + pg_instance.server_log())
    after = file_case("after-restart", 2)
    wait_for(lambda: breached(after), timeout=30, what="a breach of a case filed after the restart",
             details=procs.logs)

    assert worker.alive() and beat.alive(), procs.logs()  # no manual restart
    assert worker.pid == procs.started[0].pid
    for case in (before, across, after):
        assert breaches(case) == (1, 1), (case, procs.logs())
    procs.stop_all()  # before the instance goes away
    # Nothing of this reached the pytest database (this also opens the connection that the
    # audit truncate guard needs when the database is flushed after the test).
    assert not AuditEvent.objects.exists() and not Case.objects.exists()
