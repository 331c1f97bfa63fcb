"""Benchmark of the moderator console (F4): server time of the case page and
the queue list with 1,000,000 cases in the database (target p95 < 100 ms),
each beside a baseline measured in the same run — the same SELECT statements
the page ran, replayed on a plain psycopg connection — so that the ratio
(what Django, the selectors and the templates add on top of the database)
survives a noisy machine.

Requests go through Django's full stack in-process (middleware, session,
view, template), signed in as a moderator; no network, so "server time" is
what a gunicorn worker would spend. Every case-page GET also writes its
`case.viewed` audit event, as in production.

Run: `python -m bench.console_bench` (make bench runs it last). Works on a
dedicated database (BENCH_CONSOLE_DB, dropped and created anew). Sizes:
BENCH_CONSOLE_CASES (1,000,000), BENCH_CONSOLE_REQUESTS (300 per page kind).
"""

import html
import os
import random
import re
import sys
import time

os.environ.setdefault("BENCH_REVIEW_DB", os.environ.get("BENCH_CONSOLE_DB", "quorum_bench_console"))
os.environ.setdefault("ALLOWED_HOSTS", "testserver")

from bench import review_bench as rb  # noqa: E402

CASES = int(os.environ.get("BENCH_CONSOLE_CASES", "1000000"))
REQUESTS = int(os.environ.get("BENCH_CONSOLE_REQUESTS", "300"))
RICH_CASES = 200  # cases with many reports, an author with history, media and notes
TARGET_P95_MS = 100.0


def add_reports_and_history(db_url):
    """One report per case, then 200 "rich" cases: 40 more reports from
    distinct reporters, media, an author account with 5 earlier closed cases."""
    import psycopg

    from cases.models import Policy

    spam, harassment = Policy.objects.get(code="spam"), Policy.objects.get(code="harassment")
    started = time.monotonic()
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            """
            INSERT INTO cases_report (id, case_id, subject_id, source_id, reporter_kind, reporter_external_id,
                                      policy_id, description, jurisdiction, snapshot, received_at, request_fingerprint)
            SELECT gen_random_uuid(), c.id, c.subject_id, c.source_id, 'user', 'reporter-' || (random() * 1e6)::int,
                   %(spam)s, 'looks like spam', '["DE"]', '{"text": "text"}', c.opened_at, ''
            FROM cases_case c
            """, {"spam": spam.pk})
        rich = [r[0] for r in conn.execute(
            "SELECT id FROM cases_case ORDER BY random() LIMIT %s", [RICH_CASES]).fetchall()]
        source_id = conn.execute("SELECT id FROM cases_source WHERE name = 'bench-review'").fetchone()[0]
        for n, case_id in enumerate(rich):
            author = conn.execute(
                """
                INSERT INTO cases_subject (id, source_id, kind, external_id, url, display_name, latest_text,
                                           latest_media, language, metadata, created_at, updated_at)
                VALUES (gen_random_uuid(), %s, 'account', %s, '', 'Author', '', '[]', '', '{"followers_count": 1200}',
                        now(), now()) RETURNING id
                """, [source_id, f"author-{n}"]).fetchone()[0]
            conn.execute(
                """
                UPDATE cases_subject SET author_id = %s, url = 'https://forum.example/p/1',
                       latest_media = '[{"url": "https://media.example/a.jpg", "kind": "image"},
                                        {"url": "https://media.example/b.jpg", "kind": "image"}]'
                WHERE id = (SELECT subject_id FROM cases_case WHERE id = %s)
                """, [author, case_id])
            conn.execute(
                """
                INSERT INTO cases_report (id, case_id, subject_id, source_id, reporter_kind, reporter_external_id,
                                          policy_id, description, jurisdiction, snapshot, received_at,
                                          request_fingerprint)
                SELECT gen_random_uuid(), c.id, c.subject_id, c.source_id,
                       (ARRAY['user','trusted_flagger','automated'])[1 + g %% 3], 'rich-reporter-' || g,
                       CASE WHEN g %% 4 = 0 THEN %(harassment)s ELSE %(spam)s END, 'report ' || g, '["DE"]',
                       '{"text": "text"}', c.opened_at + g * interval '1 minute', ''
                FROM cases_case c, generate_series(1, 40) g WHERE c.id = %(case)s
                """, {"case": case_id, "spam": spam.pk, "harassment": harassment.pk})
            # Earlier, closed cases about other content of the same author.
            conn.execute(
                """
                WITH s AS (
                    INSERT INTO cases_subject (id, source_id, kind, external_id, url, display_name, latest_text,
                                               latest_media, language, metadata, created_at, updated_at, author_id)
                    SELECT gen_random_uuid(), %(source)s, 'content', 'old-' || %(n)s || '-' || g, '', '', 'old', '[]',
                           '', '{}', now() - interval '60 days', now() - interval '60 days', %(author)s
                    FROM generate_series(1, 5) g RETURNING id, source_id)
                INSERT INTO cases_case (id, subject_id, source_id, state, priority, queue_id, report_count,
                                        reporter_count, max_severity, reporter_weight, opened_at, updated_at,
                                        closed_at, breach_count)
                SELECT gen_random_uuid(), s.id, s.source_id, 'closed', 100, q.id, 1, 1, 2, 1,
                       now() - interval '60 days', now() - interval '50 days', now() - interval '50 days', 0
                FROM s, cases_queue q WHERE q.slug = 'general'
                """, {"source": source_id, "n": n, "author": author})
            conn.execute(
                "UPDATE cases_case SET report_count = 41, reporter_count = 41 WHERE id = %s", [case_id])
        for table in ("cases_report", "cases_subject", "cases_case"):
            conn.execute(f"VACUUM ANALYZE {table}")
    return time.monotonic() - started, rich


def measure(client, urls, db_url):
    """Server time per request and, for each, the time of its SELECTs
    replayed on a plain connection."""
    import psycopg
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    server, baseline, statuses, query_counts = [], [], {}, []
    replay = psycopg.connect(db_url, autocommit=True)
    try:
        for url in urls:
            with CaptureQueriesContext(connection) as captured:
                t = time.perf_counter()
                response = client.get(url)
                server.append((time.perf_counter() - t) * 1000)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            selects = [q["sql"] for q in captured.captured_queries if q["sql"].lstrip().upper().startswith("SELECT")]
            query_counts.append(len(captured.captured_queries))
            t = time.perf_counter()
            for sql in selects:
                replay.execute(sql.replace("%", "%%")).fetchall()
            baseline.append((time.perf_counter() - t) * 1000)
    finally:
        replay.close()
    return server, baseline, statuses, query_counts


def row(label, server, baseline, statuses, counts, targeted=True):
    p50, p95 = rb.pct(server, 50), rb.pct(server, 95)
    b50, b95 = rb.pct(baseline, 50), rb.pct(baseline, 95)
    verdict = "INVALID (not all 200)" if set(statuses) != {200} else "met" if p95 < TARGET_P95_MS else "MISSED"
    target = f"target p95 < {TARGET_P95_MS:.0f} ms: {verdict}" if targeted else "(no target in the issue)"
    print(f"  {label:<38} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms   | SQL replayed p50 {b50:5.1f} ms p95 {b95:5.1f} ms"
          f"   ratio p95 {p95 / b95 if b95 else float('nan'):4.1f}x   queries {min(counts)}–{max(counts)}"
          f"   HTTP {statuses}   {target}")


def main():
    db_url = rb.setup_database()
    moderators = rb.make_people_and_workflows()
    print(f"console benchmark: {CASES:,} open cases, {REQUESTS} requests per page kind")
    took = rb.generate_open_cases(db_url, CASES)
    print(f"  generated cases in {took:.0f} s")
    took, rich = add_reports_and_history(db_url)
    print(f"  generated reports and history in {took:.0f} s")

    from django.test import Client

    from cases.models import Case

    client = Client()
    client.force_login(moderators[0])
    rng = random.Random(7)
    sample = [str(pk) for pk in Case.objects.filter(closed_at__isnull=True).order_by("?").values_list("pk", flat=True)[
        :REQUESTS // 2]]
    case_urls = [f"/cases/{pk}/" for pk in sample] + [f"/cases/{pk}/" for pk in rng.choices(rich, k=REQUESTS // 2)]
    rng.shuffle(case_urls)
    for url in case_urls[:10]:  # warm-up: caches, connection, template loading
        client.get(url)

    results = [("case page (1M cases)", measure(client, case_urls, db_url))]

    # The next-page link from the page itself: response.context is only recorded under the test runner.
    first = client.get("/queues/general/")
    found = re.search(r'<a href="([^"]+)" rel="next">', first.content.decode())
    next_url = html.unescape(found.group(1)) if found else None
    queue_urls = {
        "queue list, first page": "/queues/general/",
        "queue list, oldest first": "/queues/general/?sort=oldest",
        "queue list, policy filter": "/queues/general/?policy=harassment",
        "queue list, at risk only": "/queues/general/?at_risk=on",
        "queue list, due soonest": "/queues/general/?sort=due",
    }
    if next_url:
        queue_urls["queue list, next page"] = next_url
    for label, url in queue_urls.items():
        client.get(url)
        results.append((label, measure(client, [url] * max(20, REQUESTS // 5), db_url)))

    # Other pages, for the record (the issue sets the target for the case page and the queue list).
    from django.contrib.auth.models import User
    from django.test import override_settings

    other = []
    client.get("/work/")
    other.append(("My work (counts shared 10 s)", measure(client, ["/work/"] * 40, db_url)))
    with override_settings(CONSOLE_COUNTS_CACHE_SECONDS=0):
        other.append(("My work (counts taken every time)", measure(client, ["/work/"] * 10, db_url)))
    senior = Client()
    senior.force_login(User.objects.get(username="bench-senior-0"))
    senior.get("/escalations/")
    other.append(("escalations and approvals", measure(senior, ["/escalations/"] * 20, db_url)))
    other.append(("supervisor dashboard, 24 h", measure(senior, ["/dashboard/"] * 10, db_url)))

    print("  server time (in-process, full Django stack) beside the same SELECTs replayed on plain psycopg:")
    for label, (server, baseline, statuses, counts) in results:
        row(label, server, baseline, statuses, counts)
    for label, (server, baseline, statuses, counts) in other:
        row(label, server, baseline, statuses, counts, targeted=False)
    bad = [label for label, (_, _, statuses, _) in results + other if set(statuses) != {200}]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
