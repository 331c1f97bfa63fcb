"""After the load: the database must hold exactly what the responses said.

Every run wrote subjects whose external ids start with its own prefix, so
each run is checked on its own. Requests still in flight when wrk stopped
were processed by the server but their responses were never counted: they
may add at most (sent - received) requests' worth of rows."""

SQL = """
WITH s AS (SELECT id FROM cases_subject WHERE source_id = %(source)s AND external_id LIKE %(like)s ESCAPE '\\'),
     c AS (SELECT id, report_count, reporter_count FROM cases_case WHERE subject_id IN (SELECT id FROM s)),
     streams AS (SELECT 'case:' || id::text AS stream FROM c)
SELECT (SELECT count(*) FROM s),
       (SELECT count(*) FROM c),
       (SELECT coalesce(sum(report_count), 0) FROM c),
       (SELECT coalesce(sum(reporter_count), 0) FROM c),
       (SELECT count(*) FROM cases_report WHERE subject_id IN (SELECT id FROM s)),
       (SELECT count(*) FROM audit_auditevent WHERE stream IN (SELECT stream FROM streams)),
       (SELECT coalesce(sum(seq), 0) FROM audit_auditstreamhead WHERE stream IN (SELECT stream FROM streams))
"""
FIELDS = ("subjects", "cases", "sum_report_count", "sum_reporter_count", "reports", "audit_events", "sum_head_seq")


def _like(prefix):
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def db_counts(conn, source_id, prefix):
    row = conn.execute(SQL, {"source": source_id, "like": _like(prefix)}).fetchone()
    return dict(zip(FIELDS, (int(v) for v in row)))


def check_run(run, counts):
    """`run` describes what the client saw: mode (new|hot|batch|sql), ok
    (reports acknowledged with 2xx), created (201s: cases opened), slack
    (reports possibly written but unacknowledged), audit (on/off), statuses."""
    checks = []

    def check(name, passed, detail):
        checks.append({"check": name, "ok": bool(passed), "detail": detail})

    ok, slack, reports = run["ok"], run["slack"], counts["reports"]
    server_errors = sum(n for status, n in run.get("statuses", {}).items() if int(status) >= 500)
    check("no 5xx responses", server_errors == 0, f"{server_errors} responses with status ≥ 500")
    rejected = sum(n for status, n in run.get("statuses", {}).items() if int(status) >= 300)
    if run["mode"] == "batch":
        rejected += run.get("rejected_items", 0)
    check("no rejected reports", rejected == 0, f"{rejected} non-2xx responses or rejected items")
    if slack:
        check("reports stored = acknowledged (+ in flight at stop)", ok <= reports <= ok + slack,
              f"db {reports}, acknowledged {ok}, in flight ≤ {slack}")
    else:
        check("reports stored = acknowledged", reports == ok, f"db {reports}, acknowledged {ok}")
    check("case report_count sums to the reports", counts["sum_report_count"] == reports,
          f"Σ report_count {counts['sum_report_count']}, reports {reports}")
    check("case reporter_count sums to the reports (one new reporter each)", counts["sum_reporter_count"] == reports,
          f"Σ reporter_count {counts['sum_reporter_count']}, reports {reports}")
    if run["mode"] == "hot":
        created = run["created"]
        check("one case per hot subject", counts["cases"] == counts["subjects"] <= run["hot_subjects"],
              f"cases {counts['cases']}, subjects {counts['subjects']}, hot subjects {run['hot_subjects']}")
        check("201 responses = cases opened", created <= counts["cases"] <= created + slack,
              f"201s {created}, cases {counts['cases']}")
    else:
        check("one subject and one case per report", counts["subjects"] == counts["cases"] == reports,
              f"subjects {counts['subjects']}, cases {counts['cases']}, reports {reports}")
        if run["mode"] != "sql":
            created = run["created"]
            check("every report opened a case (201)", created == ok, f"201s {created} of {ok} acknowledged")
    if run["mode"] == "sql":
        pass  # the baseline writes one audit row per report and no stream heads
    elif run["audit"]:
        check("one audit event per report", counts["audit_events"] == reports,
              f"events {counts['audit_events']}, reports {reports}")
        check("stream heads match the events", counts["sum_head_seq"] == counts["audit_events"],
              f"Σ head seq {counts['sum_head_seq']}, events {counts['audit_events']}")
    else:
        check("no audit events with auditing disabled", counts["audit_events"] == 0, f"events {counts['audit_events']}")
    return checks
