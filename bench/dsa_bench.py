"""Benchmark of DSA statements (G3): building and validating a statement of
reasons costs at most one query per decision (counted, per batch of
decisions), its CPU time per decision, and submission throughput to a local
transparency-database stand-in (target 200 statements/s); and the trusted
flaggers' figures on Console › DSA, computed and from the cache. Each row is
printed beside a baseline measured in the same run: the same decisions read
by one plain SELECT, the same statements POSTed by the bare HTTP client
(no outbox, no claims, no audit) to a fresh stand-in, the same notices
counted by one plain SELECT.

Run: `python -m bench.dsa_bench` (part of `make bench`; BENCH_DSA=0 skips
it there). Works on a dedicated database (BENCH_DSA_DB, default
quorum_bench_dsa, dropped and created anew). Size: BENCH_DSA_DECISIONS
(default 300), BENCH_DSA_FLAGGER_NOTICES (default 20,000). Only 127.0.0.1
is used; the stand-in servers run in this process.
"""

import os
import statistics
import sys
import time

os.environ["BENCH_REVIEW_DB"] = os.environ.get("BENCH_DSA_DB", "quorum_bench_dsa")

from bench import review_bench as rb  # noqa: E402

DECISIONS = int(os.environ.get("BENCH_DSA_DECISIONS", "300"))
FLAGGER_NOTICES = int(os.environ.get("BENCH_DSA_FLAGGER_NOTICES", "20000"))
TARGET_STATEMENTS_PER_SECOND = 200.0


def make_decisions(count):
    from django.contrib.auth.models import User

    from audit.context import Actor
    from cases.models import Policy, Source
    from cases.services import ReportInput, SubjectInput
    from dsa.defaults import install_default_dsa_mappings
    from reviews.intake import report_intake
    from reviews.models import Decision, Outcome, Review
    from reviews.services import seat_assign, vote_cast

    install_default_dsa_mappings()
    actor = Actor.system("bench")
    source = Source.objects.get_or_create(name="bench-dsa")[0]
    spam, remove = Policy.objects.get(code="spam"), Outcome.objects.get(code="remove_content")
    mods = list(User.objects.filter(username__startswith="bench-mod-").order_by("pk")[:2])
    lead = User.objects.filter(username__startswith="bench-senior-").first()
    for i in range(count):
        item = ReportInput(subject=SubjectInput(kind="content", external_id=f"dsa-{i}", fields={"latest_text": "ad"},
                                                author_external_id=f"acct-{i}", as_received={}),
                           policy=spam, reporter_kind="user", reporter_external_id=f"r-{i}")
        case_id = report_intake(source=source, api_client_id=None, actor=actor, item=item).case_id
        review = Review.objects.get(case_id=case_id, state="open")
        for mod in mods:
            seat_assign(review_id=review.pk, moderator=mod, lead=lead)
            vote_cast(review_id=review.pk, reviewer=mod, outcome=remove, policy=spam, rationale="bench")
    return list(Decision.objects.order_by("sequence").values_list("pk", flat=True))


def bench_build(decision_ids):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from dsa.statements import build_payload, decisions_with_facts, facts_of

    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        rows = list(decisions_with_facts(decision_ids))
        read = time.perf_counter() - started
        timings, invalid = [], 0
        for row in rows:
            t0 = time.perf_counter()
            _, errors = build_payload(facts_of(row), puid=f"bench-{row.pk}")
            timings.append((time.perf_counter() - t0) * 1e6)
            invalid += bool(errors)
    with connection.cursor() as cursor:  # the baseline: the same decisions' rows, one plain SELECT
        started = time.perf_counter()
        cursor.execute("SELECT * FROM reviews_decision WHERE id = ANY(%s)", [list(decision_ids)])
        cursor.fetchall()
        raw_read = time.perf_counter() - started
    return {"decisions": len(rows), "queries": len(queries), "read_ms": read * 1000, "invalid": invalid,
            "raw_read_ms": raw_read * 1000,
            "build_validate_us_p50": statistics.median(timings), "build_validate_us_p99": rb.pct(timings, 99)}


def bench_submission():
    from django.conf import settings

    from dsa import submission
    from dsa.models import Statement, SubmissionState
    from tests.dsa.tdb_server import FakeTransparencyDatabase

    with FakeTransparencyDatabase() as server:
        settings.DSA_TDB_URL, settings.DSA_TDB_TOKEN = server.url, server.token
        submission.dispatch()
        pending = Statement.objects.filter(submission_state=SubmissionState.PENDING).count()
        started = time.perf_counter()
        while Statement.objects.filter(submission_state=SubmissionState.PENDING).exists():
            submission.send_round()
        elapsed = time.perf_counter() - started
        stored = len(server.stored)
    return {"statements": pending, "stored": stored, "seconds": elapsed,
            "statements_per_second": pending / elapsed if elapsed else float("inf")}


def bench_submission_raw():
    """The baseline: the statements' payloads POSTed in batches of 100 by the bare client to a fresh stand-in."""
    from django.conf import settings

    from dsa import submission
    from dsa.models import Statement
    from tests.dsa.tdb_server import FakeTransparencyDatabase

    payloads = list(Statement.objects.order_by("pk").values_list("payload", flat=True))
    with FakeTransparencyDatabase() as server:
        settings.DSA_TDB_URL, settings.DSA_TDB_TOKEN = server.url, server.token
        started = time.perf_counter()
        for i in range(0, len(payloads), 100):
            submission.post_statements(payloads[i:i + 100])
        elapsed = time.perf_counter() - started
        stored = len(server.stored)
    return {"statements": len(payloads), "stored": stored,
            "statements_per_second": len(payloads) / elapsed if elapsed else float("inf")}


def bench_flagger_figures():
    """FLAGGER_NOTICES trusted-flagger notices over 90 days on the decided cases: the console's figures computed,
    then read from the cache, beside one plain SELECT counting the same notices."""
    from datetime import timedelta

    from django.conf import settings
    from django.core.cache import cache
    from django.db import connection
    from django.utils import timezone

    from audit.context import Actor
    from cases.models import Policy, Report, Source
    from trust import selectors
    from trust.flaggers import flagger_save
    from trust.models import TrustedFlagger

    source = Source.objects.get(name="bench-dsa")
    flagger_save(flagger=TrustedFlagger(name="bench hotline"), actor=Actor.system("bench"),
                 expertise=[Policy.objects.get(code="spam")], identities=[(source, "bench-hotline")])
    templates = list(Report.objects.filter(source=source).order_by("received_at")[:DECISIONS])
    now = timezone.now()
    fields = [f.attname for f in Report._meta.concrete_fields if f.attname != "id"]
    clones = []
    for i in range(FLAGGER_NOTICES):
        values = {name: getattr(templates[i % len(templates)], name) for name in fields}
        values.update(idempotency_key=None, reporter_kind="trusted_flagger", reporter_external_id="bench-hotline",
                      received_at=now - timedelta(seconds=(i * 7776000) // FLAGGER_NOTICES))  # over 90 days
        clones.append(Report(**values))
    Report.objects.bulk_create(clones, batch_size=2000)
    settings.TRUST_FLAGGER_WINDOW_DAYS, settings.TRUST_FLAGGER_FIGURES_CACHE_SECONDS = 90, 300
    cache.delete("trust:flagger-figures:90")
    started = time.perf_counter()
    computed = selectors.flagger_figures()
    cold = time.perf_counter() - started
    warm = []
    for _ in range(20):
        started = time.perf_counter()
        selectors.flagger_figures()
        warm.append(time.perf_counter() - started)
    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute("SELECT count(*) FROM cases_report WHERE reporter_kind = 'trusted_flagger' "
                       "AND received_at >= %s", [now - timedelta(days=90)])
        cursor.fetchone()
        raw = time.perf_counter() - started
    notices = sum(f.notices for f in computed.figures)
    return {"notices": notices, "computed_ms": cold * 1000, "cached_ms": statistics.median(warm) * 1000,
            "raw_count_ms": raw * 1000}


def main():
    rb.setup_database()
    rb.make_people_and_workflows()
    started = time.monotonic()
    decision_ids = make_decisions(DECISIONS)
    print(f"{len(decision_ids)} decisions made in {time.monotonic() - started:.1f} s")
    build = bench_build(decision_ids)
    sub = bench_submission()
    raw = bench_submission_raw()
    flaggers = bench_flagger_figures()
    ok = sub["statements_per_second"] >= TARGET_STATEMENTS_PER_SECOND
    per_decision = build["queries"] / build["decisions"] if build["decisions"] else float("inf")
    rows = [
        (f"statement build+validate, {build['decisions']} decisions",
         f"{build['queries']} query(ies), read {build['read_ms']:.1f} ms, p50 {build['build_validate_us_p50']:.0f} µs"
         f", p99 {build['build_validate_us_p99']:.0f} µs, {build['invalid']} invalid",
         f"1 SELECT, {build['raw_read_ms']:.1f} ms", f"{per_decision:.3f}",
         f"≤ 1 query/decision: {'met' if per_decision <= 1 else 'MISSED'}"),
        (f"statement submission, {sub['statements']} statements",
         f"{sub['statements_per_second']:.0f}/s, {sub['stored']} stored once each",
         f"{raw['statements_per_second']:.0f}/s (bare client)",
         f"{sub['statements_per_second'] / raw['statements_per_second']:.2f}",
         f"≥ {TARGET_STATEMENTS_PER_SECOND:.0f}/s: {'met' if ok else 'MISSED'}"),
        (f"flagger figures, {flaggers['notices']:,} notices in 90 days",
         f"computed {flaggers['computed_ms']:.0f} ms, cached {flaggers['cached_ms']:.2f} ms",
         f"count(*) {flaggers['raw_count_ms']:.1f} ms",
         f"{flaggers['cached_ms'] / flaggers['raw_count_ms']:.2f}" if flaggers["raw_count_ms"] else "",
         "computed ≤ once per 300 s (cache)"),
    ]
    print()
    print(f"{'scenario':44} | {'Quorum':72} | {'baseline':28} | ratio | target")
    for row in rows:
        print(f"{row[0]:44} | {row[1]:72} | {row[2]:28} | {row[3]:5} | {row[4]}")
    failed = (build["queries"] > build["decisions"] or build["invalid"] or sub["stored"] != sub["statements"]
              or flaggers["notices"] != FLAGGER_NOTICES)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
