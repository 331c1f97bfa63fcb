"""The stdout report: one table of throughput beside the raw-SQL baseline,
the targets, the per-report statement and time breakdown, verification."""

THROUGHPUT_ORDER = ["raw_sql", "single_new", "single_new_vs_minimal", "minimal_drf",
                    "single_hot", "batch_new", "single_new_audit_on", "single_new_audit_off",
                    "single_new_default_worker", "single_new_alt_worker"]


def _table(headers, rows, align=None):
    align = align or ["<"] + [">"] * (len(headers) - 1)
    widths = [max([len(str(h))] + [len(str(r[i])) for r in rows]) for i, h in enumerate(headers)]

    def line(cells):
        return "  ".join(f"{str(c):{a}{w}}" for c, a, w in zip(cells, align, widths)).rstrip()

    return "\n".join([line(headers), "  ".join("-" * w for w in widths)] + [line(r) for r in rows])


def _num(value, fmt="{:.0f}"):
    return "—" if value is None else fmt.format(value)


def _server_cpu(r):
    cpu = r.get("cpu_ms_per_report") or {}
    return sum(cpu.get(k, 0.0) for k in ("app", "postgres", "redis")) if cpu else None


def _throughput(results):
    rows = []
    ids = THROUGHPUT_ORDER + [k for k in results if k not in THROUGHPUT_ORDER]
    for sid in ids:
        r = results.get(sid)
        if not r or "reports_per_s" not in r:
            continue
        lat = r.get("latency_ms") or {}
        cpu = r.get("cpu_ms_per_report") or {}
        ratio = 1.0 if sid == "raw_sql" else r.get("vs_baseline")
        slices = r.get("slices")
        rows.append([
            r["title"], r["server"], r["connections"], _num(r["reports_per_s"]), _num(ratio, "{:.2f}×"),
            _num(lat.get("p50"), "{:.1f}"), _num(lat.get("p99"), "{:.1f}"),
            r.get("reports", 0), r.get("non_2xx", 0), r.get("status_5xx", 0),
            f"{r.get('host_busy_pct', 0):.0f}%", _num(_server_cpu(r), "{:.2f}"),
            _num(cpu.get("app"), "{:.2f}"), _num(cpu.get("postgres"), "{:.2f}"),
            _num(cpu.get("load_generator"), "{:.2f}"), _num(cpu.get("other"), "{:.2f}"),
            len(slices) if isinstance(slices, list) else (slices or 1),
        ])
    return _table(["scenario", "server", "conns", "reports/s", "vs raw SQL", "p50 ms", "p99 ms", "reports ok",
                   "non-2xx", "5xx", "host busy", "server CPU", "app", "pg", "client", "other", "slices"], rows,
                  ["<", "<"] + [">"] * 15)


def _statements(st):
    kinds = st["kinds"]
    order = [k for k in ("single_new", "single_hot", "batch_new", "single_new_audit_off") if k in kinds]
    names = {"single_new": "single new", "single_hot": "single hot", "batch_new": "batch (per request)",
             "single_new_audit_off": "single new, audit off"}
    labels = []
    for k in order:
        for name in kinds[k]["statements_per_request"]:
            if name not in labels:
                labels.append(name)
    def cell(k, name):
        count = kinds[k]["statements_per_request"].get(name)
        ms = kinds[k].get("statement_ms_per_request", {}).get(name)
        if count is None:
            return "—"
        return f"{count:g}" + (f" ({ms:.2f} ms)" if ms is not None else "")

    rows = [[name] + [cell(k, name) for k in order] for name in labels]
    rows.append(["= round trips per report"] + [_num(kinds[k]["statements_per_report"], "{:g}") for k in order])
    rows.append(["Redis calls per request"] + [_num(kinds[k]["redis_calls_per_request"], "{:g}") for k in order])
    out = ["PostgreSQL round trips per request (in-process, serial, counted in psycopg; ms = time in execute/commit)",
           _table(["statement"] + [names[k] for k in order], rows)]
    time_rows = []
    for k in order:
        ms = kinds[k]["ms_per_report"]
        time_rows.append([names[k], f"{ms['wall']:.3f}", f"{ms['db_wait']:.3f}", f"{ms['redis_wait']:.3f}",
                          f"{ms['python']:.3f}", f"{ms['process_cpu']:.3f}", _num(1000 / ms["wall"] if ms["wall"] else None)])
    out += ["", "Time per report, one request at a time (ms; python = wall - waits; ceiling = reports/s of one process)",
            _table(["kind", "wall", "db wait", "redis wait", "python", "process CPU", "1-process ceiling/s"], time_rows)]
    phase_names = []
    for k in order:
        for name in kinds[k]["phases"]:
            if name not in phase_names:
                phase_names.append(name)

    def phase_cell(k, name):
        p = kinds[k]["phases"].get(name)
        return "—" if p is None else f"{p['ms_per_report']:.3f} ({p['db_wait_ms_per_report']:.3f})"

    phase_rows = [[name] + [phase_cell(k, name) for k in order] for name in phase_names]
    phase_rows.append(["whole request"] + [f"{kinds[k]['ms_per_report']['wall']:.3f} "
                                           f"({kinds[k]['ms_per_report']['db_wait']:.3f})" for k in order])
    out += ["", "Where the time goes, ms per report (of which waiting for PostgreSQL); the remainder of the whole request",
            "is Django/DRF dispatch, middleware, parsing and building the response",
            _table(["phase"] + [names[k] for k in order], phase_rows)]
    return "\n".join(out)


def _verification(doc):
    rows = []
    for v in doc["verification"]:
        c, client = v["counts"], v["client"]
        failed = [x["check"] for x in v["checks"] if not x["ok"]]
        rows.append([v["run"], client["ok"], client["slack"], c["reports"], c["cases"], c["audit_events"],
                     "ok" if not failed else "FAILED: " + "; ".join(failed)])
    return _table(["run", "acknowledged", "in flight ≤", "db reports", "db cases", "audit events", "checks"], rows,
                  ["<", ">", ">", ">", ">", ">", "<"])


def render(doc):
    meta, results = doc["meta"], doc["results"]
    m = meta["machine"]
    out = [
        "",
        f"Quorum benchmark — {meta['date']}  git {meta['git']}  {m['cores']} cores ({m['cpu']})",
        f"load average {m['loadavg_start']:.2f} at start, {m['loadavg_end']:.2f} at end; {meta['wall_seconds']:.0f} s "
        f"in all; review workflows: {meta.get('workflows', '?')}",
        "",
        _throughput(results),
        "",
    ]
    if meta.get("code_changed_during_run"):
        changed = meta["code_changed_during_run"]
        out += [f"WARNING: {len(changed)} Python file(s) of the project changed during the run "
                f"({', '.join(changed[:5])}{' …' if len(changed) > 5 else ''}): later scenarios may have run other code.",
                ""]
    out += [
        "vs raw SQL: reports/s divided by the raw-SQL baseline slices measured just before and after the scenario.",
        "host busy: share of all cores busy during the measurement, anyone's work. CPU columns are CPU-ms per report:",
        "server = app (gunicorn) + pg (PostgreSQL backends) + Redis; client = wrk or the baseline's threads; other =",
        "everything else on the host (PostgreSQL's WAL writer, the kernel, other people's work: noise if large).",
    ]
    raw = results.get("raw_sql")
    if raw and raw.get("slices"):
        spread = ", ".join(f"{s['reports_per_s']:.0f}" for s in raw["slices"])
        out.append(f"raw-SQL baseline slices, reports/s in order: {spread}")
    for key, label in (("single_new_audit_off", "audit off/on"), ("single_new_alt_worker", "alternative/default workers")):
        pairs = (results.get(key) or {}).get("pair_ratios_off_on") or (results.get(key) or {}).get("pair_ratios_alt_default")
        if pairs:
            out.append(f"{label} throughput ratio per alternating pair: {', '.join(f'{p:.2f}' for p in pairs if p)}")
    out += ["", "Targets"]
    for t in doc["targets"]:
        mark = "MET   " if t["met"] else "MISSED"
        out.append(f"  [{mark}] {t['target']}: {t['value']}" + (f" — {t['gap']}" if t.get("gap") else ""))
    if "statements" in results:
        out += ["", _statements(results["statements"])]
    out += ["", "Verification (database vs responses, per run)", _verification(doc)]
    if doc.get("server_errors"):
        out += ["", "Exceptions in gunicorn's log (bench/results/gunicorn.log):"]
        out += [f"  {n:6d} × {line}" for line, n in doc["server_errors"].items()]
    if doc["verification_failures"]:
        out += ["", "VERIFICATION FAILED:"] + [f"  - {f}" for f in doc["verification_failures"]]
    else:
        out += ["", "Verification passed: every acknowledged report is stored once; counts, cases and audit chains agree."]
    return "\n".join(out)
