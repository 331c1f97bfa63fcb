"""Single-report intake (new subjects) on a database that already holds
BENCH_BIG_EVENTS audit events (default 10 M) in BENCH_BIG_CASES closed cases
(default 1 M), against the same intake measured just before the fill in the
same run: the ratio shows whether intake decays as the tables grow.

The fill is plain SQL (generate_series) on the bench database: subjects,
closed cases with one report each, their audit events spread over the last
twelve months (so they land in the monthly audit partitions, which the fill
creates as `archive_partition` would find them), and the cases' stream heads.
The events carry placeholder hashes: this history is load, not a trail to
verify. Runs last (it changes the database for anything after it)."""

import time

from bench.stack import log

ID = "single_new_big_db"
TITLE = "single-report intake, new subjects, on a big database"
LOAD = False  # compared with its own empty-database run, not with the raw-SQL slices
TARGET_MIN_RATIO = 0.90  # "no decay": within 10 % of the empty-database run


def _knob(name, default):
    import os

    raw = os.environ.get(f"BENCH_{name}")
    if raw is None or raw == "":
        return default
    value = int(raw.replace("_", ""))
    if value < 1:
        raise ValueError(f"BENCH_{name} must be at least 1")
    return value


def fill(conn, *, source_id, queue_id, cases, events):
    """Closed cases, one report each, `events` audit events over them (at
    least one per case), in SQL. Returns seconds per part."""
    per_case = max(1, events // cases)
    timings = {}
    started = time.monotonic()
    conn.execute("""
        SELECT quorum_audit_partition_create(extract(year FROM m)::int, extract(month FROM m)::int)
        FROM generate_series(date_trunc('month', now() AT TIME ZONE 'UTC') - interval '12 months',
                             date_trunc('month', now() AT TIME ZONE 'UTC'), interval '1 month') AS m
    """)
    conn.execute("""
        CREATE TEMP TABLE big_cases ON COMMIT DROP AS
        SELECT gen_random_uuid() AS case_id, gen_random_uuid() AS subject_id, g AS n,
               now() - interval '365 days' + (g::float8 / %(cases)s) * interval '350 days' AS opened_at
        FROM generate_series(1, %(cases)s) g
    """, {"cases": cases})
    conn.execute("""
        INSERT INTO cases_subject (id, source_id, kind, external_id, url, display_name, latest_text, latest_media,
                                   language, metadata, created_at, updated_at)
        SELECT subject_id, %(source)s, 'content', 'big-' || n, '', '', 'old text', '[]', '', '{}', opened_at, opened_at
        FROM big_cases
    """, {"source": source_id})
    conn.execute("""
        INSERT INTO cases_case (id, subject_id, source_id, state, priority, queue_id, report_count, reporter_count,
                                max_severity, reporter_weight, opened_at, updated_at, closed_at, breach_count,
                                post_decision_report_count, reopen_count)
        SELECT case_id, subject_id, %(source)s, 'closed', 100, %(queue)s, 1, 1, 2, 1, opened_at,
               opened_at + interval '2 days', opened_at + interval '2 days', 0, 0, 0
        FROM big_cases
    """, {"source": source_id, "queue": queue_id})
    timings["cases_s"] = round(time.monotonic() - started, 1)
    started = time.monotonic()
    conn.execute("""
        INSERT INTO cases_report (id, case_id, subject_id, source_id, reporter_kind, reporter_external_id,
                                  description, jurisdiction, snapshot, received_at, request_fingerprint, policy_id)
        SELECT gen_random_uuid(), case_id, subject_id, %(source)s, 'anonymous', '', '', '[]', '{}', opened_at, '',
               (SELECT min(id) FROM cases_policy)
        FROM big_cases
    """, {"source": source_id})
    timings["reports_s"] = round(time.monotonic() - started, 1)
    started = time.monotonic()
    conn.execute("""
        INSERT INTO audit_auditevent (stream, seq, action, actor_type, actor_id, actor_name, target_type, target_id,
                                      data, request_id, ip, created_at, prev_hash, hash, key_id)
        SELECT 'case:' || c.case_id, s, CASE WHEN s = 1 THEN 'case.opened' ELSE 'case.state_changed' END, 'system', '',
               'bench fill', 'case', c.case_id::text, '{}', '', '', c.opened_at + s * interval '1 minute',
               repeat('0', 64), repeat('0', 64), 'bench'
        FROM big_cases c CROSS JOIN generate_series(1, %(per_case)s) s
    """, {"per_case": per_case})
    conn.execute("""
        INSERT INTO audit_auditstreamhead (stream, seq, hash, dirty)
        SELECT 'case:' || case_id, %(per_case)s, repeat('0', 64), false FROM big_cases
    """, {"per_case": per_case})
    timings["events_s"] = round(time.monotonic() - started, 1)
    return timings


def run(ctx):
    cfg = ctx.cfg
    cases, events = _knob("BIG_CASES", 1_000_000), _knob("BIG_EVENTS", 10_000_000)
    load = dict(script="report.lua", profile=cfg.server, mode="new", duration=cfg.duration,
                connections=cfg.connections)
    empty = ctx.http(title=f"{TITLE}: before the fill", name="big-empty", **load)
    ctx.results[f"{ID}_before_fill"] = empty  # its own row in the table
    log(f"filling {events:,} audit events in {cases:,} closed cases")
    started = time.monotonic()
    with ctx.db.connect() as conn:
        queue_id = conn.execute("SELECT id FROM cases_queue ORDER BY id LIMIT 1").fetchone()[0]
        timings = fill(conn, source_id=ctx.source_id, queue_id=queue_id, cases=cases, events=events)
        conn.commit()
    with ctx.db.connect(autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE cases_subject, cases_case, cases_report, audit_auditevent, audit_auditstreamhead")
        # Write the fill's dirty pages out now, not during the measurement (the bench connects as a superuser).
        conn.execute("CHECKPOINT")
        stored = conn.execute("SELECT (SELECT count(*) FROM audit_auditevent), "
                              "(SELECT count(*) FROM cases_case WHERE state = 'closed')").fetchone()
    fill_seconds = round(time.monotonic() - started, 1)
    log(f"filled in {fill_seconds} s ({timings}); {stored[0]:,} events, {stored[1]:,} closed cases")
    full = ctx.http(title=f"{TITLE}: after the fill", name="big-full", **load)
    full["before_fill"] = empty
    full["fill"] = {"cases": cases, "events_requested": events, "events_stored": stored[0],
                    "closed_cases_stored": stored[1], "seconds": fill_seconds, **timings}
    full["ratio_full_empty"] = round(full["reports_per_s"] / empty["reports_per_s"], 3) if empty["reports_per_s"] else None
    return full


def targets(results):
    r = results.get(ID)
    if not r or r.get("ratio_full_empty") is None:
        return []
    ratio, fill_ = r["ratio_full_empty"], r["fill"]
    return [{
        "target": f"intake on {fill_['events_stored']:,} audit events / {fill_['closed_cases_stored']:,} closed cases "
                  f"≥ {TARGET_MIN_RATIO:.0%} of the empty-database run",
        "value": f"{r['reports_per_s']:.0f} vs {r['before_fill']['reports_per_s']:.0f} reports/s = {ratio:.2f}× "
                 f"(p99 {r['latency_ms'].get('p99')} vs {r['before_fill']['latency_ms'].get('p99')} ms; "
                 f"fill {fill_['seconds']} s)",
        "met": ratio >= TARGET_MIN_RATIO,
        "gap": None if ratio >= TARGET_MIN_RATIO else f"{ratio:.2f}× vs ≥ {TARGET_MIN_RATIO}×",
    }]
