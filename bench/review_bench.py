"""Benchmarks of the review process (F2) and the SLA clocks (F3), each beside
a raw-SQL baseline measured in the same run:

1. claim next: 1,000,000 open cases, 8 moderators claiming at once —
   claims/s and latency p50/p99 (target p99 < 20 ms), beside raw SQL doing the
   same SKIP LOCKED select + seat insert + counter update;
2. voting: 8 reviewers voting concurrently on 1,000 cases (2 of 3) — votes/s
   and p99, zero double decisions, beside raw SQL doing the same
   lock-insert-decide work (target ≥ 25 % of the baseline's votes/s);
3. SLA: 100,000 of the 1,000,000 open cases past due; one process sweeps all
   breaches (escalation + audit events each) — breaches/s (target ≥ 2,000);
   and the cost of an idle sweep with nothing due (target ≤ 10 ms).

Run: `python -m bench.review_bench` (make bench runs it after the intake
benchmark). Works on a dedicated database (BENCH_REVIEW_DB, dropped and
created anew). Sizes: BENCH_OPEN_CASES (1,000,000), BENCH_DUE_CASES (100,000).
Only 127.0.0.1 is used; nothing else is started.
"""

import json
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
DB_NAME = os.environ.get("BENCH_REVIEW_DB", "quorum_bench_review")
OPEN_CASES = int(os.environ.get("BENCH_OPEN_CASES", "1000000"))
DUE_CASES = int(os.environ.get("BENCH_DUE_CASES", "100000"))
MODERATORS = 8
# Claims run for this long (each side), so that index decay over time shows (BENCHMARKS.md).
CLAIM_SECONDS = float(os.environ.get("BENCH_CLAIM_SECONDS", "60"))
CLAIM_WINDOW_SECONDS = 10.0
PARTS = set((os.environ.get("BENCH_REVIEW_PARTS") or "claims,votes,sla").split(","))
VOTE_CASES = int(os.environ.get("BENCH_VOTE_CASES", "1000"))


def pct(values, q):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def setup_database():
    import psycopg

    host_url = ADMIN_URL.rsplit("/", 1)[0]
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    os.environ.update(
        DATABASE_URL=f"{host_url}/{DB_NAME}", DJANGO_SETTINGS_MODULE="config.settings", SECURE_SSL_REDIRECT="false",
        SECRET_KEY=os.environ.get("SECRET_KEY") or "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        AUDIT_HMAC_KEYS=os.environ.get("AUDIT_HMAC_KEYS") or "bench:bench-only-audit-key-0123456789-abcdefghijkl",
        LOG_LEVEL="WARNING", REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/3"),
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return f"{host_url}/{DB_NAME}"


def make_people_and_workflows():
    from django.contrib.auth.models import Group, User

    from audit.context import Actor
    from reviews.workflows import install_default_workflows

    mods, seniors = Group.objects.get_or_create(name="moderator")[0], Group.objects.get_or_create(name="senior_moderator")[0]
    moderators = []
    for i in range(2 * MODERATORS):  # one set for the baseline, one for Quorum: neither sees the other's seats
        user = User.objects.create_user(f"bench-mod-{i}")
        user.groups.add(mods)
        moderators.append(user)
    for i in range(4):
        User.objects.create_user(f"bench-senior-{i}").groups.add(seniors)
    install_default_workflows(actor=Actor.system("bench"))
    return moderators


def generate_open_cases(db_url, count):
    """1,000,000 open cases with their first review stage, in SQL: the
    benchmark measures claiming and sweeping, not how the rows got there."""
    import psycopg

    from cases.models import Queue, Source
    from reviews.models import Stage

    source = Source.objects.create(name="bench-review")
    queue = Queue.objects.get(slug="general")
    stage = Stage.objects.get(version__workflow__slug="standard", key="review")
    started = time.monotonic()
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '256MB'")
        conn.execute(
            """
            INSERT INTO cases_subject (id, source_id, kind, external_id, url, display_name, latest_text, latest_media,
                                       language, metadata, created_at, updated_at)
            SELECT gen_random_uuid(), %(source)s, 'content', 'bench-' || g, '', '', 'text', '[]', '', '{}', now(), now()
            FROM generate_series(1, %(n)s) g
            """, {"source": source.pk, "n": count})
        conn.execute(
            """
            INSERT INTO cases_case (id, subject_id, source_id, state, priority, queue_id, report_count, reporter_count,
                                    max_severity, reporter_weight, opened_at, updated_at, breach_count)
            SELECT gen_random_uuid(), s.id, s.source_id, 'open', 100 + (random() * 750)::int, %(queue)s, 1, 1, 2, 1,
                   now() - random() * interval '30 days', now(), 0
            FROM cases_subject s WHERE s.source_id = %(source)s
            """, {"queue": queue.pk, "source": source.pk})
        conn.execute(
            """
            INSERT INTO reviews_review (id, case_id, stage_id, state, queue_id, group_id, priority, case_opened_at,
                                        free_seats, opened_at, sla_seconds, warn_at, due_at, close_reason, barred_user_ids)
            SELECT gen_random_uuid(), c.id, %(stage)s, 'open', c.queue_id, %(group)s, c.priority, c.opened_at, 3,
                   now(), 86400, now() + interval '18 hours', now() + interval '1 day', '', '[]'
            FROM cases_case c WHERE c.source_id = %(source)s
            """, {"stage": stage.pk, "group": stage.group_id, "source": source.pk})
        conn.execute(
            """
            INSERT INTO audit_auditstreamhead (stream, seq, hash, dirty)
            SELECT 'case:' || c.id, 0, repeat('0', 64), false FROM cases_case c WHERE c.source_id = %(source)s
            """, {"source": source.pk})
        conn.execute("VACUUM ANALYZE cases_case")
        conn.execute("VACUUM ANALYZE reviews_review")
        conn.execute("VACUUM ANALYZE audit_auditstreamhead")
    return time.monotonic() - started


def vacuum(db_url):
    import psycopg

    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE reviews_review")
        conn.execute("VACUUM ANALYZE reviews_seat")


def run_processes(fn, args):
    """Runs fn(arg) for each arg in its own process (as separate web workers
    would; threads in one process would measure the GIL). Returns (elapsed,
    results)."""
    import multiprocessing

    from django.db import connections

    connections.close_all()
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(len(args)) as pool:
        started = time.monotonic()
        results = pool.map(fn, args)
        elapsed = time.monotonic() - started
    return elapsed, results


def run_threads(workers):
    from django.db import connection

    errors = []

    def wrap(fn):
        def run():
            try:
                fn()
            except Exception as exc:  # reported below
                errors.append(repr(exc))
            finally:
                connection.close()
        return run

    threads = [threading.Thread(target=wrap(w)) for w in workers]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    return time.monotonic() - started, errors


# ---- 1. claim next -----------------------------------------------------------

def _claim_worker(arg):
    mod_pk, start_at = arg
    from django.contrib.auth.models import User
    from django.db import connection

    from cases.models import Queue
    from reviews.services import claim_next

    mod, queue = User.objects.get(pk=mod_pk), Queue.objects.get(slug="general")
    samples, empty, errors = [], 0, []
    while time.time() < start_at:
        time.sleep(0.001)
    while (t0 := time.time()) < start_at + CLAIM_SECONDS:
        t = time.perf_counter()
        try:
            if claim_next(moderator=mod, queue=queue) is None:
                empty += 1
        except Exception as exc:  # reported
            errors.append(repr(exc))
        samples.append((t0 - start_at, time.perf_counter() - t))
    connection.close()
    return samples, empty, errors


def claim_table_state(db_url):
    """Dead tuples of reviews_review and the size of the claim index: what decays while claims run."""
    import psycopg

    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_force_next_flush()")
        dead, live, hot, upd = conn.execute(
            "SELECT n_dead_tup, n_live_tup, n_tup_hot_upd, n_tup_upd FROM pg_stat_user_tables "
            "WHERE relname = 'reviews_review'").fetchone()
        size = conn.execute("SELECT pg_relation_size('review_claim_idx')").fetchone()[0]
    return {"n_dead_tup": dead, "n_live_tup": live, "n_tup_hot_upd": hot, "n_tup_upd": upd,
            "claim_index_bytes": size}


def claim_figures(samples, elapsed):
    """Throughput and latency overall and per CLAIM_WINDOW_SECONDS window (decay shows as a rising p99)."""
    latencies = [lat for _, lat in samples]
    windows = []
    w = 0.0
    while w < CLAIM_SECONDS:
        inside = [lat for at, lat in samples if w <= at < w + CLAIM_WINDOW_SECONDS]
        if inside:
            windows.append({"from_s": w, "claims": len(inside), "p50_ms": pct(inside, 50) * 1000,
                            "p99_ms": pct(inside, 99) * 1000})
        w += CLAIM_WINDOW_SECONDS
    return {"claims": len(latencies), "claims_per_s": len(latencies) / elapsed, "p50_ms": pct(latencies, 50) * 1000,
            "p99_ms": pct(latencies, 99) * 1000, "windows": windows,
            "p99_last_over_first": windows[-1]["p99_ms"] / windows[0]["p99_ms"] if len(windows) > 1 else None}


def bench_claims(db_url, moderators):
    before = claim_table_state(db_url)
    start_at = time.time() + 2  # every process connected and ready before the clock starts
    _elapsed, results = run_processes(_claim_worker, [(m.pk, start_at) for m in moderators])
    out = claim_figures([x for r in results for x in r[0]], CLAIM_SECONDS)
    out.update(errors=[e for r in results for e in r[2]], empty=sum(r[1] for r in results),
               table_before=before, table_after=claim_table_state(db_url))
    return out


def bench_claims_sql(db_url, moderators):
    """The same work in raw SQL: pick and lock the best review with a free
    seat (SKIP LOCKED, same partial index), insert the seat, count it."""
    import psycopg

    from cases.models import Queue

    queue = Queue.objects.get(slug="general")
    group_ids = list(moderators[0].groups.values_list("pk", flat=True))
    latencies, lock = [], threading.Lock()
    pick = """
        SELECT r.id FROM reviews_review r
        WHERE r.queue_id = %s AND r.state = 'open' AND r.free_seats > 0 AND r.group_id = ANY(%s)
          AND NOT EXISTS (SELECT 1 FROM reviews_seat s WHERE s.review_id = r.id AND s.moderator_id = %s)
        ORDER BY r.priority DESC, r.case_opened_at
        LIMIT 1 FOR UPDATE OF r SKIP LOCKED"""

    start_at = time.time() + 1
    before = claim_table_state(db_url)

    def worker(mod):
        def run():
            with psycopg.connect(db_url) as conn:
                while time.time() < start_at:
                    time.sleep(0.001)
                while (t0 := time.time()) < start_at + CLAIM_SECONDS:
                    t = time.perf_counter()
                    with conn.transaction():
                        row = conn.execute(pick, [queue.pk, group_ids, mod.pk]).fetchone()
                        if row:
                            conn.execute("INSERT INTO reviews_seat (review_id, moderator_id, state, claimed_at, "
                                         "lease_expires_at) VALUES (%s, %s, 'claimed', now(), now() + interval '15 min')",
                                         [row[0], mod.pk])
                            conn.execute("UPDATE reviews_review SET free_seats = free_seats - 1 WHERE id = %s", [row[0]])
                    with lock:
                        latencies.append((t0 - start_at, time.perf_counter() - t))
        return run

    _elapsed, errors = run_threads([worker(m) for m in moderators])
    out = claim_figures(latencies, CLAIM_SECONDS)
    out.update(errors=errors, table_before=before, table_after=claim_table_state(db_url))
    return out


# ---- 2. voting --------------------------------------------------------------

def prepare_vote_cases(db_url, moderators, count, label):
    """`count` fresh reviews (2 of 3) with seats for 3 of the 8 reviewers each."""
    import psycopg

    from cases.models import Queue, Source
    from reviews.models import Stage

    source = Source.objects.create(name=f"bench-votes-{label}")
    queue = Queue.objects.get(slug="general")
    stage = Stage.objects.get(version__workflow__slug="standard", key="review")
    review_ids = []
    with psycopg.connect(db_url, autocommit=True) as conn, conn.transaction():
        for i in range(count):
            subject, case, review = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
            conn.execute("INSERT INTO cases_subject (id, source_id, kind, external_id, url, display_name, latest_text, "
                         "latest_media, language, metadata, created_at, updated_at) VALUES "
                         "(%s, %s, 'content', %s, '', '', '', '[]', '', '{}', now(), now())", [subject, source.pk, f"v{i}"])
            conn.execute("INSERT INTO cases_case (id, subject_id, source_id, state, priority, queue_id, report_count, "
                         "reporter_count, max_severity, reporter_weight, opened_at, updated_at, breach_count) VALUES "
                         "(%s, %s, %s, 'in_review', 300, %s, 1, 1, 2, 1, now(), now(), 0)", [case, subject, source.pk, queue.pk])
            conn.execute("INSERT INTO reviews_review (id, case_id, stage_id, state, queue_id, group_id, priority, "
                         "case_opened_at, free_seats, opened_at, due_at, close_reason, barred_user_ids) VALUES "
                         "(%s, %s, %s, 'open', %s, %s, 300, now(), 0, now(), now() + interval '1 day', '', '[]')",
                         [review, case, stage.pk, queue.pk, stage.group_id])
            conn.execute("INSERT INTO audit_auditstreamhead (stream, seq, hash, dirty) VALUES (%s, 0, %s, false)",
                         [f"case:{case}", "0" * 64])
            for k in range(3):
                mod = moderators[(i + k) % len(moderators)]
                conn.execute("INSERT INTO reviews_seat (review_id, moderator_id, state, claimed_at, lease_expires_at) "
                             "VALUES (%s, %s, 'claimed', now(), now() + interval '1 hour')", [review, mod.pk])
            review_ids.append(review)
    return review_ids


def vote_plan(review_ids, moderators):
    """Per reviewer, the reviews they hold a seat in, shuffled deterministically."""
    import random

    rng = random.Random(7)
    plan = {m.pk: [] for m in moderators}
    for i, review in enumerate(review_ids):
        for k in range(3):
            plan[moderators[(i + k) % len(moderators)].pk].append(review)
    for items in plan.values():
        rng.shuffle(items)
    return plan


def _vote_worker(arg):
    pk, reviews = arg
    from django.contrib.auth.models import User
    from django.db import connection

    from cases.models import Policy
    from reviews.errors import ReviewClosed
    from reviews.models import Outcome
    from reviews.services import vote_cast

    reviewer = User.objects.get(pk=pk)
    remove, spam = Outcome.objects.get(code="remove_content"), Policy.objects.get(code="spam")
    latencies, closed, errors = [], 0, []
    for review in reviews:
        t = time.perf_counter()
        try:
            vote_cast(review_id=review, reviewer=reviewer, outcome=remove, policy=spam, rationale="spam")
        except ReviewClosed:
            closed += 1
        except Exception as exc:  # reported
            errors.append(repr(exc))
        latencies.append(time.perf_counter() - t)
    connection.close()
    return latencies, closed, errors


def bench_votes(db_url, moderators):
    from reviews.models import Decision

    review_ids = prepare_vote_cases(db_url, moderators, VOTE_CASES, "service")
    plan = vote_plan(review_ids, moderators)
    elapsed, results = run_processes(_vote_worker, list(plan.items()))
    latencies = [x for r in results for x in r[0]]
    closed = sum(r[1] for r in results)
    decisions = Decision.objects.filter(review_id__in=review_ids)
    double = decisions.count() - decisions.values("review_id").distinct().count()
    return {"votes": len(latencies) - closed, "refused_after_close": closed,
            "votes_per_s": (len(latencies) - closed) / elapsed, "p50_ms": pct(latencies, 50) * 1000,
            "p99_ms": pct(latencies, 99) * 1000, "decisions": decisions.count(), "double_decisions": double,
            "errors": [e for r in results for e in r[2]]}


def bench_votes_sql(db_url, moderators):
    """Lock the review, insert the vote, count agreeing votes, and on the 2nd
    close the review and insert the decision — the same work, in raw SQL."""
    import psycopg

    from cases.models import Policy
    from reviews.models import Outcome

    review_ids = prepare_vote_cases(db_url, moderators, VOTE_CASES, "sql")
    plan = vote_plan(review_ids, moderators)
    remove, spam = Outcome.objects.get(code="remove_content").pk, Policy.objects.get(code="spam").pk
    latencies, lock, decided = [], threading.Lock(), [0]

    def worker(pk):
        def run():
            with psycopg.connect(db_url) as conn:
                for review in plan[pk]:
                    t = time.perf_counter()
                    with conn.transaction():
                        state = conn.execute("SELECT state, case_id FROM reviews_review WHERE id = %s FOR UPDATE",
                                             [review]).fetchone()
                        if state[0] == "open":
                            conn.execute("INSERT INTO reviews_vote (review_id, reviewer_id, outcome_id, policy_id, "
                                         "rationale, cast_at) VALUES (%s, %s, %s, %s, 'spam', now())",
                                         [review, pk, remove, spam])
                            conn.execute("UPDATE reviews_seat SET state = 'voted' WHERE review_id = %s AND moderator_id = %s",
                                         [review, pk])
                            agree = conn.execute("SELECT count(*) FROM reviews_vote WHERE review_id = %s AND outcome_id = %s",
                                                 [review, remove]).fetchone()[0]
                            if agree >= 2:
                                conn.execute("UPDATE reviews_review SET state = 'consensus', closed_at = now() WHERE id = %s",
                                             [review])
                                conn.execute("UPDATE reviews_decisionsequence SET value = value + 1 WHERE id = 1 "
                                             "RETURNING value")
                                conn.execute("UPDATE cases_case SET state = 'decided', decided_at = now() WHERE id = %s",
                                             [state[1]])
                                with lock:
                                    decided[0] += 1
                    with lock:
                        latencies.append(time.perf_counter() - t)
        return run

    elapsed, errors = run_threads([worker(pk) for pk in plan])
    votes = len(latencies) - VOTE_CASES  # the third vote per case finds the stage closed
    return {"votes": votes, "votes_per_s": votes / elapsed, "p50_ms": pct(latencies, 50) * 1000,
            "p99_ms": pct(latencies, 99) * 1000, "decisions": decided[0], "errors": errors}


# ---- 3. SLA -------------------------------------------------------------------

def bench_sla(db_url):
    import psycopg

    from reviews.sweeps import sweep_breaches

    idle = []
    for _ in range(20):
        t = time.perf_counter()
        sweep_breaches()
        idle.append(time.perf_counter() - t)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            """UPDATE reviews_review SET due_at = now() - interval '1 minute', warn_at = now() - interval '2 minutes',
                      warned_at = now() - interval '2 minutes'
               WHERE id IN (SELECT r.id FROM reviews_review r JOIN reviews_stage s ON s.id = r.stage_id
                            WHERE r.state = 'open' AND s.key = 'review' ORDER BY random() LIMIT %s)""", [DUE_CASES])
        conn.execute("ANALYZE reviews_review")
    t = time.perf_counter()
    processed = sweep_breaches(batch_size=1000, max_seconds=3600)
    elapsed = time.perf_counter() - t
    with psycopg.connect(db_url) as conn:
        breached = conn.execute("SELECT count(*) FROM reviews_review WHERE breached_at IS NOT NULL").fetchone()[0]
        events = conn.execute("SELECT count(*) FROM audit_auditevent WHERE action = 'case.sla_breached'").fetchone()[0]
    return {"due": DUE_CASES, "processed": processed, "breached_rows": breached, "breach_events": events,
            "seconds": elapsed, "breaches_per_s": processed / elapsed, "idle_sweep_ms_median": statistics.median(idle) * 1000,
            "idle_sweep_ms_p99": pct(idle, 99) * 1000}


def bench_sla_sql(db_url):
    """Baseline: the same escalation of due reviews in set-based SQL — mark
    breached and timed out, open the senior stage, update the cases — with no
    audit events (the product writes three per breach)."""
    import psycopg

    with psycopg.connect(db_url, autocommit=True) as conn:
        senior = conn.execute("SELECT s.id, s.group_id FROM reviews_stage s JOIN reviews_workflowversion v ON v.id = "
                              "s.version_id JOIN reviews_workflow w ON w.id = v.workflow_id WHERE w.slug = 'standard' "
                              "AND s.key = 'senior'").fetchone()
        conn.execute(
            """UPDATE reviews_review SET due_at = now() - interval '1 minute'
               WHERE id IN (SELECT id FROM reviews_review WHERE state = 'open' AND breached_at IS NULL
                            AND due_at > now() ORDER BY random() LIMIT %s)""", [DUE_CASES])
        t = time.perf_counter()
        total = 0
        while True:
            with conn.transaction():
                rows = conn.execute(
                    """WITH due AS (SELECT id, case_id FROM reviews_review WHERE state = 'open' AND breached_at IS NULL
                                    AND due_at <= now() ORDER BY due_at LIMIT 1000 FOR UPDATE SKIP LOCKED),
                       closed AS (UPDATE reviews_review r SET breached_at = now(), state = 'timed_out', closed_at = now()
                                  FROM due WHERE r.id = due.id RETURNING r.case_id),
                       cases AS (UPDATE cases_case c SET state = 'escalated', priority = c.priority + 100,
                                 breach_count = c.breach_count + 1, updated_at = now()
                                 FROM closed WHERE c.id = closed.case_id RETURNING c.id, c.queue_id, c.priority, c.opened_at)
                       INSERT INTO reviews_review (id, case_id, stage_id, state, queue_id, group_id, priority,
                                                   case_opened_at, free_seats, opened_at, due_at, close_reason,
                                                   barred_user_ids)
                       SELECT gen_random_uuid(), id, %s, 'open', queue_id, %s, priority, opened_at, 1, now(),
                              now() + interval '8 hours', '', '[]' FROM cases RETURNING 1""", [senior[0], senior[1]]).fetchall()
            total += len(rows)
            if len(rows) < 1000:
                break
        elapsed = time.perf_counter() - t
    return {"processed": total, "seconds": elapsed, "breaches_per_s": total / elapsed}


def _claim_rows(c, cs):
    def decay(x):
        first, last = x["windows"][0], x["windows"][-1]
        return f"p99 first {first['p99_ms']:.1f} → last {last['p99_ms']:.1f} ms"

    def dead(x):
        b, a = x["table_before"], x["table_after"]
        hot = a["n_tup_hot_upd"] - b["n_tup_hot_upd"]
        upd = a["n_tup_upd"] - b["n_tup_upd"]
        return (f"dead tuples {b['n_dead_tup']:,} → {a['n_dead_tup']:,}, HOT {hot:,}/{upd:,} updates, "
                f"claim index {b['claim_index_bytes'] // 1024:,} → {a['claim_index_bytes'] // 1024:,} KiB")

    return [
        (f"claim next, 8 moderators, {OPEN_CASES:,} open cases, {CLAIM_SECONDS:.0f} s",
         f"{c['claims_per_s']:.0f} claims/s, p50 {c['p50_ms']:.1f} ms, p99 {c['p99_ms']:.1f} ms",
         f"{cs['claims_per_s']:.0f} claims/s, p99 {cs['p99_ms']:.1f} ms",
         f"{c['claims_per_s'] / cs['claims_per_s']:.2f}", f"p99 < 20 ms: {'met' if c['p99_ms'] < 20 else 'MISSED'}"),
        ("  decay over the run (Quorum | baseline)", decay(c), decay(cs), "", ""),
        ("  table (Quorum)", dead(c), "", "", ""),
        ("  table (baseline)", dead(cs), "", "", ""),
    ]


def main():
    started = time.monotonic()
    db_url = setup_database()
    moderators = make_people_and_workflows()
    print(f"review bench: generating {OPEN_CASES:,} open cases …", flush=True)
    gen_seconds = generate_open_cases(db_url, OPEN_CASES)
    results = {"open_cases": OPEN_CASES, "generate_seconds": gen_seconds}
    rows, errors = [], []
    if "claims" in PARTS:
        print("review bench: claims …", flush=True)
        # Each run starts from a vacuumed table with its own moderators, so the order of the
        # two runs does not favour either; what each run leaves behind is measured.
        vacuum(db_url)
        results["claims_sql"] = cs = bench_claims_sql(db_url, moderators[MODERATORS:])
        vacuum(db_url)
        results["claims"] = c = bench_claims(db_url, moderators[:MODERATORS])
        rows += _claim_rows(c, cs)
        errors += c["errors"] + cs["errors"]
    moderators = moderators[:MODERATORS]
    double = 0
    if "votes" in PARTS:
        print("review bench: votes …", flush=True)
        results["votes_sql"] = vs = bench_votes_sql(db_url, moderators)
        results["votes"] = v = bench_votes(db_url, moderators)
        double = v["double_decisions"]
        rows.append((f"voting, 8 reviewers, {VOTE_CASES:,} cases 2-of-3",
                     f"{v['votes_per_s']:.0f} votes/s, p99 {v['p99_ms']:.1f} ms, "
                     f"{v['decisions']} decisions, {v['double_decisions']} double", f"{vs['votes_per_s']:.0f} votes/s",
                     f"{v['votes_per_s'] / vs['votes_per_s']:.2f}",
                     "≥ 0.25 and 0 double: " + ("met" if v["votes_per_s"] / vs["votes_per_s"] >= 0.25
                                                 and not v["double_decisions"] else "MISSED")))
        errors += v["errors"] + vs["errors"]
    sla_ok = True
    if "sla" in PARTS:
        print("review bench: SLA sweeps …", flush=True)
        results["sla"] = s = bench_sla(db_url)
        results["sla_sql"] = ss = bench_sla_sql(db_url)
        sla_ok = s["breach_events"] == s["processed"]
        rows += [
            (f"SLA breaches, {DUE_CASES:,} due of {OPEN_CASES:,} open",
             f"{s['breaches_per_s']:.0f} breaches/s ({s['processed']} in {s['seconds']:.1f} s)",
             f"{ss['breaches_per_s']:.0f} breaches/s (no audit)", f"{s['breaches_per_s'] / ss['breaches_per_s']:.2f}",
             f"≥ 2,000/s: {'met' if s['breaches_per_s'] >= 2000 else 'MISSED'}"),
            (f"idle sweep, nothing due, {OPEN_CASES:,} open",
             f"median {s['idle_sweep_ms_median']:.2f} ms, p99 {s['idle_sweep_ms_p99']:.2f} ms",
             "", "", f"≤ 10 ms: {'met' if s['idle_sweep_ms_median'] <= 10 else 'MISSED'}"),
        ]
    results["seconds"] = time.monotonic() - started
    print()
    print(f"{'scenario':44} | {'Quorum':58} | {'raw-SQL baseline':34} | ratio | target")
    for row in rows:
        print(f"{row[0]:44} | {row[1]:58} | {row[2]:34} | {row[3]:5} | {row[4]}")
    if "claims" in PARTS:
        for name in ("claims", "claims_sql"):
            print(f"{name} per {CLAIM_WINDOW_SECONDS:.0f} s window: " + ", ".join(
                f"{w['claims']} p99 {w['p99_ms']:.1f}" for w in results[name]["windows"]))
    if errors:
        print("errors:", errors[:5])
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "review.json").write_text(json.dumps(results, indent=2, default=str))
    print(f"\nreview bench done in {results['seconds']:.0f} s; bench/results/review.json")
    return 1 if errors or double or not sla_ok else 0


if __name__ == "__main__":
    sys.exit(main())
