"""Counts and times what one intake request does, inside one Django process.

Requests go through django.core.handlers.wsgi.WSGIHandler (so the request
signals fire as under gunicorn, including the connection health check), one
at a time. Every PostgreSQL round trip is counted where psycopg sends it
(cursor executes and the BEGIN/COMMIT commands psycopg issues itself), the
time spent waiting for PostgreSQL and Redis is measured, and a few phases of
the request are timed. Prints one JSON line. Run by scenarios/statements.py
with the bench database's environment; patches only this process."""

import argparse
import io
import json
import re
import sys
import time
from collections import Counter

CHUNKS = 4

_LABELS = [
    (re.compile(r"^\s*SELECT 1\s*$", re.I), "SELECT 1 (connection health check)"),
    (re.compile(r'^\s*INSERT INTO "?(\w+)"?', re.I), "INSERT {}"),
    (re.compile(r'^\s*UPDATE "?(\w+)"?', re.I), "UPDATE {}"),
    (re.compile(r'^\s*SELECT .*? FROM "?(\w+)"?', re.I | re.S), "SELECT … FROM {}"),
    (re.compile(r"^\s*(RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT|SAVEPOINT|\w+)", re.I), "{}"),
]


def label(sql):
    """A statement's kind and table, e.g. "INSERT cases_report"."""
    if isinstance(sql, bytes):
        sql = sql.decode(errors="replace")
    sql = str(sql)
    for pattern, fmt in _LABELS:
        m = pattern.match(sql)
        if m:
            return fmt.format(*(g.upper() if fmt == "{}" else g for g in m.groups()))
    return sql[:40]


class Tally:
    """What a set of requests did: round trips, waits, phases, time."""

    def __init__(self):
        self.statements = Counter()
        self.statement_time = Counter()
        self.wait = Counter()  # db, redis (seconds)
        self.redis_calls = 0
        self.phases = Counter()
        self.phase_db = Counter()
        self.wall = self.cpu = 0.0
        self.requests = self.reports = self.ok = self.created = 0
        self.statuses = Counter()


class Probe:
    """Patches psycopg, redis-py and a few application entry points in this
    process so that everything is added to the current Tally."""

    def __init__(self):
        self.tally = Tally()

    def install(self):
        import psycopg
        import redis
        from psycopg import _connection_base

        probe = self
        execute = psycopg.Cursor.execute

        def counted_execute(cur, query, *args, **kwargs):
            name = label(query.as_string(cur) if hasattr(query, "as_string") else query)
            probe.tally.statements[name] += 1
            t0 = time.perf_counter()
            try:
                return execute(cur, query, *args, **kwargs)
            finally:
                probe.tally.statement_time[name] += time.perf_counter() - t0

        psycopg.Cursor.execute = counted_execute
        exec_command = _connection_base.BaseConnection._exec_command

        def counted_command(conn, command, *args, **kwargs):
            probe.tally.statements[label(command)] += 1
            return exec_command(conn, command, *args, **kwargs)

        _connection_base.BaseConnection._exec_command = counted_command
        commit = psycopg.Connection.commit

        def timed_commit(conn):
            t0 = time.perf_counter()
            try:
                return commit(conn)
            finally:
                probe.tally.statement_time["COMMIT"] += time.perf_counter() - t0

        psycopg.Connection.commit = timed_commit
        wait = psycopg.Connection.wait

        def timed_wait(conn, *args, **kwargs):
            t0 = time.perf_counter()
            try:
                return wait(conn, *args, **kwargs)
            finally:
                probe.tally.wait["db"] += time.perf_counter() - t0

        psycopg.Connection.wait = timed_wait
        redis_execute = redis.Redis.execute_command

        def timed_redis(client, *args, **kwargs):
            t0 = time.perf_counter()
            try:
                return redis_execute(client, *args, **kwargs)
            finally:
                probe.tally.wait["redis"] += time.perf_counter() - t0
                probe.tally.redis_calls += 1

        redis.Redis.execute_command = timed_redis

    def phase(self, name, owner, attr):
        """Times calls of owner.attr (a function or method) as `name`."""
        original = getattr(owner, attr)
        probe = self

        def timed(*args, **kwargs):
            t0, db0 = time.perf_counter(), probe.tally.wait["db"]
            try:
                return original(*args, **kwargs)
            finally:
                probe.tally.phases[name] += time.perf_counter() - t0
                probe.tally.phase_db[name] += probe.tally.wait["db"] - db0

        setattr(owner, attr, timed)


def _body_single(subject, reporter, n):
    return {"subject": {"kind": "account", "external_id": subject, "display_name": "Bench account",
                        "url": f"https://example.org/u/{subject}", "metadata": {"followers_count": n % 5000}},
            "policy": "spam", "reporter": {"kind": "user", "external_id": reporter},
            "description": "posts the same link in every thread"}


def _body_signals(subject, reporter, n):
    """A report that carries every G4 signal: identifiers of the account, media hashes, a description."""
    body = _body_single(subject, reporter, n)
    body["signals"] = {"subject": {"email": f"user{n % 97}@example.org", "device": f"device-{n % 89}",
                                   "ip_prefix": f"198.51.100.{n % 250}"},
                       "media": [{"sha256": _hex("sha", n), "pdq": _hex("pdq-query", n)}]}
    return body


def _hex(label, n):
    """64 hex digits, uniformly spread like real PDQ and SHA-256 hashes."""
    import hashlib

    return hashlib.sha256(f"{label}-{n}".encode()).hexdigest()


def _signals_off():
    """Intake without the signals layer: the hook answers None (plain weights), as on a database without it."""
    import signals.intake

    signals.intake.reports_signals = lambda **kwargs: None


def _load_hash_list(size):
    """A PDQ hash list of `size` pseudo-random hashes (and as many SHA-256), so that matching is measured
    against a list of realistic size rather than an empty table."""
    from audit.context import Actor
    from signals.models import HashList
    from signals.services import hash_list_load

    if HashList.objects.filter(name="bench").exists():
        return
    lines = [f"pdq,{_hex('pdq-listed', i)}" for i in range(size)] + [f"sha256,{_hex('sha', i)}" for i in range(size)]
    hash_list_load(name="bench", text="\n".join(lines), actor=Actor.system("bench"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--key", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--hot-subjects", type=int, default=10)
    parser.add_argument("--kinds", default="single_new,single_hot,batch_new,single_new_audit_off")
    parser.add_argument("--hash-list-size", type=int, default=0)
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.handlers.wsgi import WSGIHandler
    from django.test.utils import override_settings
    from rest_framework.renderers import JSONRenderer
    from rest_framework.serializers import BaseSerializer

    import audit.services
    import cases.services.intake
    import integrations.api.fast_intake
    import integrations.auth
    import integrations.ratelimit
    import reviews.intake
    import signals.intake
    import trust.intake

    probe = Probe()
    probe.install()
    probe.phase("authenticate (API key)", integrations.auth.ApiKeyAuthentication, "authenticate")
    probe.phase("rate limit (Redis)", integrations.ratelimit, "hit")
    probe.phase("validate input (DRF serializers)", BaseSerializer, "is_valid")
    probe.phase("validate input (msgspec fast path)", integrations.api.fast_intake, "report_in")
    probe.phase("validate input (msgspec fast path)", integrations.api.fast_intake, "batch_item_in")
    probe.phase("trust screening (flaggers, suspensions)", trust.intake, "screen_reports")
    probe.phase("intake transaction (reviews.intake)", reviews.intake, "report_intake")
    probe.phase("intake transaction (reviews.intake)", reviews.intake, "report_intake_batch")
    probe.phase("  of which signals (signals.intake)", signals.intake, "report_signals")
    probe.phase("  of which audit", audit.services, "audit_record")
    # intake's last statement writes routing's reviews, the reports and the audit events together
    probe.phase("  of which reviews + reports + audit", cases.services.intake, "audit_record_many")
    probe.phase("render response (JSON)", JSONRenderer, "render")
    app = WSGIHandler()

    def call(path, body):
        environ = {
            "REQUEST_METHOD": "POST", "PATH_INFO": path, "QUERY_STRING": "", "SCRIPT_NAME": "",
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "127.0.0.1", "REMOTE_ADDR": "127.0.0.1", "HTTP_AUTHORIZATION": f"Bearer {args.key}",
            "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr, "wsgi.version": (1, 0),
            "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False,
        }
        status = []
        result = app(environ, lambda s, headers, exc_info=None: status.append(int(s.split()[0])))
        data = b"".join(result)
        result.close()
        return status[0], data

    def run_chunk(tally, kind, make_request, start, count):
        probe.tally = tally
        prefix = f"{args.prefix}{kind}."
        for i in range(start, start + count):
            path, payload, reports = make_request(prefix, i)
            body = json.dumps(payload).encode()
            cpu0, t0 = time.process_time(), time.perf_counter()
            status, data = call(path, body)
            tally.wall += time.perf_counter() - t0
            tally.cpu += time.process_time() - cpu0
            tally.statuses[status] += 1
            tally.requests += 1
            tally.reports += reports
            if path.endswith("/batch") and status == 200:
                doc = json.loads(data)
                tally.ok += doc["accepted"]
                tally.created += sum(1 for r in doc["results"] if r["status"] == 201)
            elif 200 <= status < 300:
                tally.ok += 1
                tally.created += status == 201

    def figures(kind, tally, mode, audit_on):
        per = 1000 / tally.reports
        db, rds = tally.wait["db"], tally.wait["redis"]
        requests = tally.requests
        statuses = {str(k): v for k, v in tally.statuses.items()}
        return {
            "requests": requests, "reports": tally.reports,
            "statements_per_report": round(sum(tally.statements.values()) / tally.reports, 2),
            "statements_per_request": {k: round(v / requests, 2) for k, v in tally.statements.most_common()},
            # time in cursor.execute (query building + round trip; a BEGIN rides on the first statement) or commit
            "statement_ms_per_request": {k: round(v * 1000 / requests, 3) for k, v in tally.statement_time.items()},
            "redis_calls_per_request": round(tally.redis_calls / requests, 2),
            "ms_per_report": {"wall": round(tally.wall * per, 3), "db_wait": round(db * per, 3),
                              "redis_wait": round(rds * per, 3), "python": round((tally.wall - db - rds) * per, 3),
                              "process_cpu": round(tally.cpu * per, 3)},
            "phases": {name: {"ms_per_report": round(tally.phases[name] * per, 3),
                              "db_wait_ms_per_report": round(tally.phase_db[name] * per, 3)}
                       for name in sorted(tally.phases, key=lambda n: (n.startswith(" "), n))},
            "statuses": statuses,
            "run": {"name": f"statements/{kind}", "prefix": f"{args.prefix}{kind}.", "mode": mode, "audit": audit_on,
                    "ok": tally.ok, "created": tally.created, "slack": 0, "statuses": statuses,
                    "hot_subjects": args.hot_subjects},
        }

    def single_new(prefix, i):
        return "/api/v1/reports", _body_single(f"{prefix}{i}", f"{prefix}r{i}", i), 1

    def single_hot(prefix, i):
        return "/api/v1/reports", _body_single(f"{prefix}hot{i % args.hot_subjects}", f"{prefix}r{i}", i), 1

    def batch(prefix, i):
        return "/api/v1/reports/batch", {"reports": [
            _body_single(f"{prefix}{i}-{j}", f"{prefix}{i}-{j}", j) for j in range(args.batch_size)]}, args.batch_size

    def signals_hot(prefix, i):
        return "/api/v1/reports", _body_signals(f"{prefix}hot{i % args.hot_subjects}", f"{prefix}r{i}", i), 1

    # kind: (request maker, requests, verification mode, audit on)
    n = args.requests
    all_kinds = {
        "single_new": (single_new, n, "new", True),
        "single_hot": (single_hot, n, "hot", True),
        "batch_new": (batch, max(CHUNKS, n // 50), "batch", True),
        "single_new_audit_off": (single_new, n, "new", False),
        # G4: the same reports with signals, with the signals layer on and off (signals scenario).
        "signals_on": (signals_hot, n, "hot", True),
        "signals_off": (signals_hot, n, "hot", True),
    }
    kinds = {k: all_kinds[k] for k in args.kinds.split(",")}
    if args.hash_list_size:
        _load_hash_list(args.hash_list_size)
    run_chunk(Tally(), "warmup", signals_hot if "signals_on" in kinds else single_new, 0, 20)  # connections, caches
    tallies = {kind: Tally() for kind in kinds}
    import signals.intake

    signals_on = signals.intake.reports_signals
    # The kinds take turns in chunks, so that a busy moment on a shared machine hits them all alike.
    for chunk in range(CHUNKS):
        for kind, (maker, total, _mode, audit_on) in kinds.items():
            count = total // CHUNKS
            signals.intake.reports_signals = signals_on
            if kind == "signals_off":
                _signals_off()
            with override_settings(AUDIT_DISABLED_FOR_BENCHMARK=not audit_on):
                run_chunk(tallies[kind], kind, maker, chunk * count, count)
            signals.intake.reports_signals = signals_on
    out = {kind: figures(kind, tallies[kind], mode, audit_on) for kind, (_m, _n, mode, audit_on) in kinds.items()}
    print(json.dumps({"kinds": out}))


if __name__ == "__main__":
    main()
