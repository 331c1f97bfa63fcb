"""Webhook delivery benchmark, standalone:

    .venv/bin/python -m bench.webhooks [--events 500] [--endpoints 8] [--decisions 200] [--rate 10]

Runs Quorum's real delivery path on this machine: a dedicated PostgreSQL
database (dropped and re-created), a private redis-server as Celery broker,
one Celery worker (thread pool) and beat as separate processes, and a
receiver process on 127.0.0.1 that answers 204 at once and notes when each
event arrived. Measures:

1. throughput: `--events` cases opened while the `--endpoints` endpoints
   (one source, all subscribed) are paused, then all resumed at once:
   deliveries per second until every event reached every endpoint;
2. latency: `--decisions` decisions made at `--rate` per second by the
   review services in this process; for each, the time from the commit of
   the vote that decided it to its arrival at each endpoint (p50/p99; the
   target is p99 < 2 s with the default 1 s beat tick).

Knobs from the environment: BENCH_PG_URL (an admin connection, default
postgres://postgres@127.0.0.1:5432/postgres), BENCH_WEBHOOK_DB (default
quorum_bench_webhooks), BENCH_WORKERS (worker processes, default 1),
BENCH_WORKER_CONCURRENCY (threads per worker, default 16),
WEBHOOK_DISPATCH_SECONDS (default 1.0), BENCH_WEBHOOK_DUMP (a file to
write every arrival and commit time to, for a closer look). Results go to stdout and to
bench/results/webhooks.json. Only processes started here are stopped, by
process group.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "webhooks.json"


# ---- the receiver (a process of its own: `python -m bench.webhooks receiver PORT`) -------------------------

class _ReceiverHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        arrived = time.time()
        try:
            event = json.loads(body)
            decision = (event.get("data") or {}).get("decision") or {}
            row = [arrived, self.path, event.get("id"), event.get("type"), decision.get("id")]
        except ValueError:
            row = [arrived, self.path, None, None, None]
        with self.server.lock:
            self.server.rows.append(row)
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def do_GET(self):
        with self.server.lock:
            payload = {"count": len(self.server.rows)} if self.path == "/count" else {"rows": self.server.rows}
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _ReceiverServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # a listen backlog of 5 would drop SYNs under load: seconds of TCP retransmits


def run_receiver(port):
    server = _ReceiverServer(("127.0.0.1", port), _ReceiverHandler)
    server.rows, server.lock = [], threading.Lock()
    server.serve_forever()


# ---- processes --------------------------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Procs:
    def __init__(self, directory):
        self.dir = directory
        self.started = []

    def start(self, name, args, env=None):
        log = open(self.dir / f"{name}.log", "ab")
        proc = subprocess.Popen([str(a) for a in args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self.started.append((name, proc))
        return proc

    def stop_all(self):
        for _name, proc in reversed(self.started):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=15)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait(timeout=10)

    def log_tail(self, name, chars=3000):
        path = self.dir / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def wait_for(predicate, timeout, what, details=lambda: ""):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench.webhooks: timed out after {timeout} s waiting for {what}\n{details()}")
        time.sleep(0.05)


def _get(url):
    with urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def percentile(values, q):
    values = sorted(values)
    if not values:
        return None
    k = (len(values) - 1) * q
    low, high = int(k), min(int(k) + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (k - low)


# ---- the benchmark ----------------------------------------------------------------------------------------

def main(argv):
    if argv[:1] == ["receiver"]:
        run_receiver(int(argv[1]))
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks")
    parser.add_argument("--events", type=int, default=500, help="cases opened for the throughput phase")
    parser.add_argument("--endpoints", type=int, default=8)
    parser.add_argument("--decisions", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0, help="decisions per second in the latency phase")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    options = parser.parse_args(argv)
    if not shutil.which("redis-server"):
        raise SystemExit("bench.webhooks: redis-server is needed (a private one is started as the Celery broker)")

    import psycopg

    admin_url = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    db_name = os.environ.get("BENCH_WEBHOOK_DB", "quorum_bench_webhooks")
    parts = urlsplit(admin_url)
    if parts.hostname not in ("127.0.0.1", "localhost"):
        raise SystemExit("bench.webhooks: BENCH_PG_URL must point at this machine")
    db_url = urlunsplit(parts._replace(path=f"/{db_name}"))
    work = Path(tempfile.mkdtemp(prefix="quorum-bench-webhooks-"))
    procs = Procs(work)
    redis_port, receiver_port = free_port(), free_port()
    dispatch_seconds = os.environ.get("WEBHOOK_DISPATCH_SECONDS", "1.0")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings", DEBUG="false", SECRET_KEY="bench-webhooks-" + "k" * 40,
        AUDIT_HMAC_KEYS="bench:bench-only-audit-key-0123456789-abcdefghijkl",
        ALLOWED_HOSTS="127.0.0.1", SECURE_SSL_REDIRECT="false", DATABASE_URL=db_url,
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/1", CELERY_BROKER_URL=f"redis://127.0.0.1:{redis_port}/0",
        QUORUM_VAR_DIR=str(work / "var"), LOG_LEVEL="WARNING", PYTHONUNBUFFERED="1",
        WEBHOOK_ALLOWED_HOSTS="127.0.0.1", WEBHOOK_DISPATCH_SECONDS=dispatch_seconds,
        SLA_SWEEP_SECONDS="30", AUDIT_CHECKPOINT_SECONDS="600",
    )
    try:
        print(f"== database {db_name}, broker redis-server :{redis_port}, receiver :{receiver_port}", flush=True)
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{db_name}"')
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        procs.start("redis", ["redis-server", "--port", redis_port, "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no", "--dir", work])
        procs.start("receiver", [sys.executable, "-m", "bench.webhooks", "receiver", receiver_port], env=env)
        receiver = f"http://127.0.0.1:{receiver_port}"
        wait_for(lambda: _try(lambda: _get(f"{receiver}/count")), 15, "the receiver")
        os.environ.update(env)
        result = _run(options, env, procs, receiver, work)
        result.update(started_at=datetime.now(UTC).isoformat(timespec="seconds"), cpus=os.cpu_count(),
                      dispatch_seconds=float(dispatch_seconds))
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
        return 0
    finally:
        procs.stop_all()
        if not options.keep:
            try:
                from django.db import connections

                connections.close_all()
            except Exception:  # Django may not be set up yet
                pass
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        shutil.rmtree(work, ignore_errors=True)


def _try(fn):
    try:
        return fn()
    except OSError:
        return None


def _run(options, env, procs, receiver, work):
    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.utils import timezone

    from audit.context import Actor
    from cases.models import Policy, Source
    from cases.services import ReportInput, SubjectInput
    from integrations.models import WebhookEndpoint
    from integrations.webhooks.services import webhook_endpoint_create, webhook_endpoint_update
    from reviews.intake import report_intake_batch
    from reviews.models import Outcome, Review
    from reviews.services import seat_assign, vote_cast
    from reviews.workflows import GROUPS, install_default_workflows

    actor = Actor.system("bench")
    groups = {name: Group.objects.get_or_create(name=name)[0] for name in GROUPS}
    users = {}
    for group, count in (("moderator", 3), ("senior_moderator", 2)):
        for i in range(1, count + 1):
            user = User.objects.create(username=f"bench-{group}-{i}")
            user.groups.add(groups[group])
            users.setdefault(group, []).append(user)
    install_default_workflows(actor=actor)
    source = Source.objects.create(name="bench-platform")
    endpoints = [webhook_endpoint_create(source=source, url=f"{receiver}/ep{i}", actor=actor)[0]
                 for i in range(options.endpoints)]
    WebhookEndpoint.objects.update(paused_at=timezone.now(), pause_reason="bench: building a backlog")

    concurrency = os.environ.get("BENCH_WORKER_CONCURRENCY", "16")
    workers = int(os.environ.get("BENCH_WORKERS", "1"))
    for n in range(workers):
        procs.start(f"worker-{n}", [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "threads",
                                    "--concurrency", concurrency, "--loglevel", "WARNING", "--without-gossip",
                                    "--without-mingle", "-n", f"bench-webhooks-{n}-{os.getpid()}@localhost"], env=env)
    procs.start("beat", [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "WARNING",
                         "-s", work / "beat-schedule"], env=env)

    # 1. throughput: a backlog of case.opened events to every endpoint at once
    policy = Policy.objects.get(code="spam")
    items = [ReportInput(subject=SubjectInput(kind="content", external_id=f"bench-{i}", fields={"latest_text": "x"},
                                              as_received={}), policy=policy, reporter_kind="user")
             for i in range(options.events)]
    for start in range(0, len(items), 250):
        report_intake_batch(source=source, api_client_id=None, actor=actor, items=items[start:start + 250])
    expected = options.events * options.endpoints
    print(f"== throughput: {options.events} events × {options.endpoints} endpoints = {expected} deliveries", flush=True)
    started = time.time()
    for endpoint in endpoints:
        webhook_endpoint_update(endpoint_id=endpoint.pk, actor=actor, resume=True)
    details = lambda: procs.log_tail("worker-0") + procs.log_tail("beat")  # noqa: E731
    wait_for(lambda: _get(f"{receiver}/count")["count"] >= expected, 600, "the backlog to drain", details)
    rows = _get(f"{receiver}/rows")["rows"]
    if os.environ.get("BENCH_WEBHOOK_DUMP"):
        Path(os.environ["BENCH_WEBHOOK_DUMP"] + ".phase1").write_text(json.dumps({"started": started, "rows": rows}))
    first, last = min(r[0] for r in rows), max(r[0] for r in rows)
    drained = last - started
    throughput = {
        "deliveries": len(rows), "events": options.events, "endpoints": options.endpoints,
        "seconds_from_resume": round(drained, 2), "deliveries_per_second": round(len(rows) / drained, 1),
        "deliveries_per_second_steady": round(len(rows) / max(last - first, 1e-6), 1),
        "duplicates": len(rows) - len({(r[1], r[2]) for r in rows}),
    }
    print(f"   {throughput['deliveries_per_second']} deliveries/s ({throughput['deliveries_per_second_steady']}/s "
          f"from the first arrival)", flush=True)

    # 2. latency: decisions at a steady rate, commit → arrival at each endpoint
    outcome = Outcome.objects.get(code="remove_content")
    lead = users["senior_moderator"][0]
    reviews = list(Review.objects.filter(state="open", stage__key="review").order_by("opened_at")[:options.decisions])
    committed = {}
    interval = 1.0 / options.rate
    print(f"== latency: {len(reviews)} decisions at {options.rate}/s", flush=True)
    begin = time.monotonic()
    for index, review in enumerate(reviews):
        pause = begin + index * interval - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        for moderator in users["moderator"][:2]:
            seat_assign(review_id=review.pk, moderator=moderator, lead=lead)
            vote_cast(review_id=review.pk, reviewer=moderator, outcome=outcome, policy=policy, rationale="bench")
        committed_at = time.time()  # vote_cast returned: its transaction (and the decision) committed
        decision_id = str(review.case.decisions.get(is_current=True).pk)
        committed[decision_id] = committed_at
    wanted = len(committed) * options.endpoints
    wait_for(lambda: sum(1 for r in _get(f"{receiver}/rows")["rows"] if r[3] == "decision.made") >= wanted, 120,
             "every decision at every endpoint", details)
    arrivals = [r for r in _get(f"{receiver}/rows")["rows"] if r[3] == "decision.made"]
    latencies = [r[0] - committed[r[4]] for r in arrivals if r[4] in committed]
    if os.environ.get("BENCH_WEBHOOK_DUMP"):
        Path(os.environ["BENCH_WEBHOOK_DUMP"]).write_text(json.dumps({"committed": committed, "arrivals": arrivals}))
    latency = {
        "decisions": len(committed), "rate_per_second": options.rate, "samples": len(latencies),
        "p50_seconds": round(percentile(latencies, 0.50), 3), "p90_seconds": round(percentile(latencies, 0.90), 3),
        "p99_seconds": round(percentile(latencies, 0.99), 3), "max_seconds": round(max(latencies), 3),
        "mean_seconds": round(statistics.fmean(latencies), 3), "target_p99_seconds": 2.0,
    }
    latency["p99_under_target"] = latency["p99_seconds"] < 2.0
    print(f"   p50 {latency['p50_seconds']} s, p99 {latency['p99_seconds']} s, max {latency['max_seconds']} s", flush=True)
    return {"throughput": throughput, "latency": latency,
            "workers": f"{workers} Celery worker process(es), thread pool ×{concurrency}"}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
