"""Benchmark of DSA statements (G3): building and validating a statement of
reasons costs at most one query per decision (counted, per batch of
decisions), its CPU time per decision, and submission throughput to a local
transparency-database stand-in (target 200 statements/s).

Run: `python -m bench.dsa_bench`. Works on a dedicated database
(BENCH_DSA_DB, default quorum_bench_dsa, dropped and created anew). Size:
BENCH_DSA_DECISIONS (default 300). Only 127.0.0.1 is used; the stand-in
server runs in this process.
"""

import os
import statistics
import sys
import time

os.environ["BENCH_REVIEW_DB"] = os.environ.get("BENCH_DSA_DB", "quorum_bench_dsa")

from bench import review_bench as rb  # noqa: E402

DECISIONS = int(os.environ.get("BENCH_DSA_DECISIONS", "300"))
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
    return {"decisions": len(rows), "queries": len(queries), "read_ms": read * 1000, "invalid": invalid,
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


def main():
    rb.setup_database()
    rb.make_people_and_workflows()
    started = time.monotonic()
    decision_ids = make_decisions(DECISIONS)
    print(f"{len(decision_ids)} decisions made in {time.monotonic() - started:.1f} s")
    build = bench_build(decision_ids)
    print(f"build+validate: {build['decisions']} decisions, {build['queries']} query(ies) in all "
          f"(target: at most one per decision), read {build['read_ms']:.1f} ms, "
          f"p50 {build['build_validate_us_p50']:.0f} µs, p99 {build['build_validate_us_p99']:.0f} µs per decision, "
          f"{build['invalid']} invalid")
    sub = bench_submission()
    ok = sub["statements_per_second"] >= TARGET_STATEMENTS_PER_SECOND
    print(f"submission: {sub['statements']} statements, {sub['stored']} stored once each, "
          f"{sub['statements_per_second']:.0f}/s (target {TARGET_STATEMENTS_PER_SECOND:.0f}/s: "
          f"{'met' if ok else 'MISSED'})")
    failed = build["queries"] > build["decisions"] or build["invalid"] or sub["stored"] != sub["statements"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
