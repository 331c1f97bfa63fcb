"""The raw-SQL baseline: the same per-report work as intake, done by
psycopg directly, one transaction per report, from several client threads.

Per report: upsert the subject, find-or-open the case with INSERT ... ON
CONFLICT on the partial unique index of open cases, insert the report,
insert one audit row (with its SHA-256 hash). The tables and indexes are the
ones Django's migrations created. psycopg prepares the statements on the
server after a few executions, as a tuned hand-written client would.

It is measured in short slices, one before the first load scenario and one
after each, so that every HTTP figure is compared with the baseline measured
next to it in time (the machine is shared; see BENCHMARKS.md)."""

import hashlib
import json
import threading
import time
from datetime import UTC, datetime

from psycopg.types.json import Jsonb

from cases.ids import uuid7

from . import metrics

SUBJECT = """
INSERT INTO cases_subject (id, source_id, kind, external_id, url, display_name, latest_text, latest_media,
                           language, metadata, created_at, updated_at)
VALUES (%s, %s, 'account', %s, %s, %s, '', '[]', '', %s, %s, %s)
ON CONFLICT (source_id, kind, external_id) DO UPDATE
   SET url = EXCLUDED.url, display_name = EXCLUDED.display_name, metadata = EXCLUDED.metadata,
       updated_at = EXCLUDED.updated_at
RETURNING id
"""
CASE = """
INSERT INTO cases_case (id, subject_id, source_id, previous_case_id, state, priority, queue_id, report_count,
                        reporter_count, max_severity, reporter_weight, max_classifier_score, opened_at, updated_at)
VALUES (%s, %s, %s, NULL, 'open', %s, %s, 1, 1, %s, 1, NULL, %s, %s)
ON CONFLICT (subject_id) WHERE closed_at IS NULL DO UPDATE
   SET report_count = cases_case.report_count + 1, reporter_count = cases_case.reporter_count + 1,
       reporter_weight = cases_case.reporter_weight + 1, updated_at = EXCLUDED.updated_at
RETURNING id, (xmax = 0) AS opened
"""
REPORT = """
INSERT INTO cases_report (id, case_id, subject_id, source_id, api_client_id, reporter_kind, reporter_external_id,
                          policy_id, description, jurisdiction, classifier_score, snapshot, received_at,
                          idempotency_key, request_fingerprint, response)
VALUES (%s, %s, %s, %s, %s, 'user', %s, %s, %s, '[]', NULL, %s, %s, NULL, '', NULL)
"""
AUDIT = """
INSERT INTO audit_auditevent (stream, seq, action, actor_type, actor_id, actor_name, target_type, target_id, data,
                              request_id, ip, created_at, prev_hash, hash)
VALUES (%s, 1, %s, 'api_client', %s, 'bench', 'case', %s, %s, '', '127.0.0.1', %s, %s, %s)
"""
GENESIS = "0" * 64


def file_one(conn, ids, external_id, n):
    """One report, one transaction."""
    now = datetime.now(UTC)
    metadata = {"followers_count": n % 5000}
    url = f"https://example.org/u/{external_id}"
    snapshot = {"kind": "account", "external_id": external_id, "display_name": "Bench account", "url": url,
                "metadata": metadata}
    with conn.transaction():
        subject_id = conn.execute(SUBJECT, [uuid7(), ids["source"], external_id, url, "Bench account",
                                            Jsonb(metadata), now, now]).fetchone()[0]
        case_id, opened = conn.execute(CASE, [uuid7(), subject_id, ids["source"], 250, ids["queue"], ids["severity"],
                                              now, now]).fetchone()
        report_id = uuid7()
        conn.execute(REPORT, [report_id, case_id, subject_id, ids["source"], ids["client"], external_id, ids["policy"],
                              "posts the same link in every thread", Jsonb(snapshot), now])
        data = {"report_id": str(report_id), "subject_id": str(subject_id), "policy": "spam"}
        stream = f"case:{case_id}"
        content = json.dumps({"stream": stream, "seq": 1, "data": data, "created_at": now.isoformat(),
                              "prev_hash": GENESIS}, sort_keys=True, separators=(",", ":"))
        conn.execute(AUDIT, [stream, "case.opened" if opened else "report.filed", str(ids["client"]), str(case_id),
                             Jsonb(data), now, GENESIS, hashlib.sha256(content.encode()).hexdigest()])


class Baseline:
    """Keeps `threads` connections open for the whole run (so a slice does
    not pay for connecting) and files reports through them in slices."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.cfg = ctx.cfg
        self.conns = []
        self.ids = None
        self.slices = []

    def _open(self):
        if self.conns:
            return
        with self.ctx.db.connect(autocommit=True) as conn:
            policy_id, severity = conn.execute("SELECT id, severity FROM cases_policy WHERE code = 'spam'").fetchone()
            queue_id = conn.execute("SELECT id FROM cases_queue WHERE is_default").fetchone()[0]
        self.ids = {"source": self.ctx.source_id, "client": self.ctx.client_id, "policy": policy_id,
                    "severity": severity, "queue": queue_id}
        self.conns = [self.ctx.db.connect(autocommit=True) for _ in range(self.cfg.sql_threads)]

    def close(self):
        for conn in self.conns:
            conn.close()
        self.conns = []

    def slice(self, label):
        """Files reports from all threads for sql_slice_seconds or until
        sql_slice_reports are filed, whichever comes first."""
        self._open()
        n_threads = len(self.conns)
        index = len(self.slices)
        prefix = self.ctx.prefix(f"sql{index}")
        quota = -(-self.cfg.sql_slice_reports // n_threads)
        done, errors = [0] * n_threads, []
        start = threading.Barrier(n_threads + 1)
        deadline = [0.0]

        def work(tid):
            conn = self.conns[tid]
            start.wait()
            n = 0
            try:
                while n < quota and time.monotonic() < deadline[0]:
                    n += 1
                    file_one(conn, self.ids, f"{prefix}t{tid}-{n}", n)
                    done[tid] += 1
            except Exception as exc:  # counted as a failure by verification
                errors.append(f"thread {tid}: {exc!r}")

        threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(n_threads)]
        for t in threads:
            t.start()
        pids = [c.info.backend_pid for c in self.conns]
        meter = metrics.CpuMeter({"postgres": lambda: pids})
        meter.begin()
        client_cpu0 = time.process_time()
        t0 = time.monotonic()
        deadline[0] = t0 + self.cfg.sql_slice_seconds
        start.wait()
        for t in threads:
            t.join(self.cfg.sql_slice_seconds + 60)
        seconds = time.monotonic() - t0
        client_cpu = (time.process_time() - client_cpu0) * 1000
        cpu = meter.end()
        total = sum(done)
        self.ctx.runs.append({"name": f"raw SQL slice {index} ({label})", "prefix": prefix, "mode": "sql",
                              "audit": True, "ok": total, "created": total, "slack": 0,
                              "statuses": {"500": len(errors)} if errors else {}, "hot_subjects": 0})
        result = {"index": index, "label": label, "reports": total, "seconds": seconds,
                  "reports_per_s": total / seconds if seconds else 0.0, "errors": errors[:3],
                  "cpu": cpu, "client_cpu_ms": client_cpu}
        self.slices.append(result)
        return result

    def summary(self):
        """All slices together: the baseline row of the table."""
        if not self.slices:
            return None
        reports = sum(s["reports"] for s in self.slices)
        seconds = sum(s["seconds"] for s in self.slices)
        cpu = {"cpu_ms": {}, "host_busy_pct": 0.0}
        for s in self.slices:
            for k, v in s["cpu"]["cpu_ms"].items():
                cpu["cpu_ms"][k] = cpu["cpu_ms"].get(k, 0.0) + v
        busy = sum(s["cpu"]["host_busy_pct"] * s["seconds"] for s in self.slices) / seconds
        rates = [s["reports_per_s"] for s in self.slices]
        return {
            "title": "raw-SQL baseline (psycopg, 1 txn/report, new subjects)",
            "server": f"psycopg, {self.cfg.sql_threads} threads",
            "connections": self.cfg.sql_threads,
            "seconds": round(seconds, 2),
            "reports": reports,
            "reports_per_s": round(reports / seconds, 1),
            "slices": [{"label": s["label"], "reports_per_s": round(s["reports_per_s"], 1), "reports": s["reports"]}
                       for s in self.slices],
            "slice_spread": [round(min(rates), 1), round(max(rates), 1)],
            "errors": [e for s in self.slices for e in s["errors"]][:5],
            "status_5xx": sum(len(s["errors"]) for s in self.slices),
            "host_busy_pct": round(busy, 1),
            "cpu_ms_per_report": metrics.per_report(
                cpu, reports, {"load_generator": sum(s["client_cpu_ms"] for s in self.slices)}),
        }
