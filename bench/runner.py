"""Orchestrates `make bench`: stack up, scenarios with baseline slices
between them, verification, report."""

import json
import os
import platform
import re
import secrets
import signal
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime

from . import metrics, report, verify, wrk
from .baseline import Baseline
from .config import RESULTS_DIR, ROOT, Config, ConfigError
from .scenarios import SCENARIOS
from .stack import Database, Server, StackError, log, reap_leftovers


class Context:
    """What scenarios get: the config, the stack, helpers to measure, and
    the results so far."""

    def __init__(self, cfg, venv):
        self.cfg = cfg
        self.venv = venv
        self.python = os.path.join(venv, "bin", "python")
        self.db = Database(cfg, self.python)
        self.servers = {}  # ServerProfile -> Server
        self.tag = datetime.now(UTC).strftime("%H%M%S") + secrets.token_hex(2)
        self.results = {}  # result id -> figures (a scenario may add several)
        self.runs = []  # everything that wrote reports, for verification
        self.key = self.client_id = self.source_id = None
        self.redis_pid = metrics.redis_pid(cfg.redis_url)
        self.baseline = Baseline(self)

    def prefix(self, name):
        # "." ends the prefix, so no run's prefix is a prefix of another's (single. vs single-warm.)
        return f"{self.tag}.{name}."

    # ---- servers ---------------------------------------------------------------

    def server(self, profile):
        """The Server running `profile`, started if needed (others keep running)."""
        server = self.servers.get(profile)
        if server is None:
            server = Server(self.cfg, self.venv)
            self.servers[profile] = server  # registered first: stopped even if start fails
            server.start(profile)
        return server

    def stop_servers(self, keep=()):
        for profile in list(self.servers):
            if profile not in keep:
                self.servers.pop(profile).stop()

    # ---- measuring -------------------------------------------------------------

    def measure(self, *, name, script, profile, mode, duration, connections, audit=True, items_per_request=1,
                warmup=True, verify=True):
        """One wrk run against gunicorn with `profile` (after a warm-up run
        unless warmup=False). Returns the raw figures; records the run(s) for
        verification against Quorum's tables (verify=False: a run against
        another app, which the scenario checks itself; "prefix" in the figures)."""
        server = self.server(profile)
        env = {"BENCH_KEY": self.key, "BENCH_MODE": mode, "BENCH_HOT_SUBJECTS": self.cfg.hot_subjects,
               "BENCH_BATCH_SIZE": self.cfg.batch_size}
        common = dict(url=server.url, script=script, connections=connections,
                      threads=min(self.cfg.wrk_threads, connections))
        if warmup:
            warm = wrk.run(env={**env, "BENCH_PREFIX": self.prefix(f"{name}-warm")}, duration=self.cfg.warmup, **common)
            if verify:
                self._record_run(f"{name} (warm-up)", self.prefix(f"{name}-warm"), warm, mode, audit,
                                 items_per_request)
        groups = {"app": server.pids, "postgres": self.db.backend_pids}
        if self.redis_pid:
            groups["redis"] = lambda: [self.redis_pid]
        meter = metrics.CpuMeter(groups)
        meter.begin()
        out = wrk.run(env={**env, "BENCH_PREFIX": self.prefix(name)}, duration=duration, **common)
        cpu = meter.end()
        run = self._record_run(name, self.prefix(name), out, mode, audit, items_per_request, record=verify)
        return {"prefix": self.prefix(name), "sent": out["sent"], "reports": run["ok"], "requests": out["requests"],
                "seconds": out["duration_us"] / 1e6,
                "latency_us": out["latency_us"], "statuses": out["statuses"], "errors": out["errors"],
                "cpu": cpu, "client_cpu_ms": out["cpu_ms"], "profile": profile, "connections": connections}

    def summarize(self, title, measurements):
        """Figures of one or more measurements of the same kind (slices)."""
        m0 = measurements[0]
        reports = sum(m["reports"] for m in measurements)
        requests = sum(m["requests"] for m in measurements)
        seconds = sum(m["seconds"] for m in measurements)
        statuses = {}
        errors = {}
        cpu = {"cpu_ms": {}}
        for m in measurements:
            for k, v in m["statuses"].items():
                statuses[k] = statuses.get(k, 0) + v
            for k, v in m["errors"].items():
                errors[k] = errors.get(k, 0) + v
            for k, v in m["cpu"]["cpu_ms"].items():
                cpu["cpu_ms"][k] = cpu["cpu_ms"].get(k, 0.0) + v
        if len(measurements) == 1:
            latency = {k: round(v / 1000, 2) for k, v in m0["latency_us"].items()}
        else:  # slices: typical median, worst tail
            latency = {"p50": round(statistics.median(m["latency_us"]["p50"] for m in measurements) / 1000, 2),
                       "p99": round(max(m["latency_us"]["p99"] for m in measurements) / 1000, 2)}
        busy = sum(m["cpu"]["host_busy_pct"] * m["seconds"] for m in measurements) / seconds
        return {
            "title": title,
            "server": m0["profile"].label(),
            "connections": m0["connections"],
            "slices": len(measurements),
            "seconds": round(seconds, 2),
            "requests": requests,
            "requests_per_s": round(requests / seconds, 1),
            "reports": reports,
            "reports_per_s": round(reports / seconds, 1),
            "latency_ms": latency,
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "non_2xx": sum(v for k, v in statuses.items() if not 200 <= k < 300),
            "status_5xx": sum(v for k, v in statuses.items() if k >= 500),
            "socket_errors": errors,
            "host_busy_pct": round(busy, 1),
            "cpu_ms_per_report": metrics.per_report(
                cpu, reports, {"load_generator": sum(m["client_cpu_ms"] for m in measurements)}),
        }

    def http(self, *, title, **kwargs):
        """One measured wrk run (after a warm-up): the usual scenario."""
        return self.summarize(title, [self.measure(**kwargs)])

    def ab(self, *, name, title_a, title_b, a, b):
        """Alternates short wrk slices against two servers running side by
        side (a, b: keyword arguments of measure without name/duration), so
        that both see the same machine. Returns (result_a, result_b, ratios
        b/a per pair)."""
        cfg = self.cfg
        # Both start now, from the same code (a server kept from an earlier scenario might predate an edit).
        self.stop_servers()
        for label, kw in (("a", a), ("b", b)):  # start both, warm both
            self.measure(name=f"{name}-{label}-w", duration=cfg.warmup, warmup=False, **kw)
        slices_a, slices_b, ratios = [], [], []
        for i in range(cfg.ab_pairs):
            order = (("a", a, slices_a), ("b", b, slices_b)) if i % 2 == 0 else (("b", b, slices_b), ("a", a, slices_a))
            for label, kw, into in order:
                into.append(self.measure(name=f"{name}-{label}{i}", duration=cfg.ab_seconds, warmup=False, **kw))
            ra = slices_a[-1]["reports"] / slices_a[-1]["seconds"]
            rb = slices_b[-1]["reports"] / slices_b[-1]["seconds"]
            ratios.append(round(rb / ra, 3) if ra else None)
        return self.summarize(title_a, slices_a), self.summarize(title_b, slices_b), ratios

    def _record_run(self, name, prefix, out, mode, audit, items_per_request, record=True):
        statuses = out["statuses"]
        if mode == "batch":
            ok, created = out["items"]["accepted"], out["items"]["created"]
        else:
            ok = sum(v for k, v in statuses.items() if 200 <= k < 300)
            created = statuses.get(201, 0)
        run = {
            "name": name, "prefix": prefix, "mode": mode, "audit": audit, "ok": ok, "created": created,
            "slack": max(0, out["sent"] - out["requests"]) * items_per_request,
            "statuses": {str(k): v for k, v in statuses.items()}, "rejected_items": out["items"]["rejected"],
            "hot_subjects": self.cfg.hot_subjects,
        }
        if record:
            self.runs.append(run)
        return run

    def close(self):
        self.stop_servers()
        self.baseline.close()


def _git_revision():
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        if rev.returncode != 0:
            return "unknown (not a git checkout)"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        return rev.stdout.strip() + (" + uncommitted changes" if dirty else "")
    except OSError:
        return "unknown"


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


_EXCEPTION_LINE = re.compile(r"^[\w.]*(Error|Exception|Violation|Conflict|Failure)\w*: ")


def _server_errors():
    """Distinct exception lines from the servers' logs (a 5xx leaves a traceback there)."""
    seen = {}
    for name in ("gunicorn.log", "inprocess.log"):
        try:
            lines = (RESULTS_DIR / name).read_text(errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            if _EXCEPTION_LINE.match(line):
                key = f"{name}: {line[:200]}"
                seen[key] = seen.get(key, 0) + 1
    return seen


def _tree_fingerprint():
    """Names, sizes and mtimes of the project's Python files: a change during
    the run means the servers and the in-process probe may not have run the
    same code (and migrations may not match the models)."""
    entries = []
    tops = [p for p in ROOT.iterdir() if p.is_dir() and p.name not in {".venv", ".git", "bench", "var", "tests"}]
    paths = [p for top in tops for p in top.rglob("*.py")] + list(ROOT.glob("*.py"))
    for path in sorted(paths):
        rel = path.relative_to(ROOT)
        if "__pycache__" in rel.parts:
            continue
        try:
            st = path.stat()
        except OSError:
            continue
        entries.append((str(rel), st.st_size, st.st_mtime_ns))
    return entries


def _attach_baseline(result, before, after):
    """The baseline slices measured right before and after a result."""
    rates = [s["reports_per_s"] for s in (before, after) if s]
    result["baseline_reports_per_s"] = round(sum(rates) / len(rates), 1) if rates else None
    base = result["baseline_reports_per_s"]
    result["vs_baseline"] = round(result["reports_per_s"] / base, 3) if base else None


def main(argv):
    venv = os.environ.get("VENV", ".venv")
    venv = venv if os.path.isabs(venv) else str(ROOT / venv)
    try:
        cfg = Config()
    except ConfigError as exc:
        sys.stderr.write(f"bench configuration error: {exc}\n")
        return 2
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    for name in ("gunicorn.log", "inprocess.log"):
        (RESULTS_DIR / name).write_text("")
    tree_before = _tree_fingerprint()
    ctx = Context(cfg, venv)
    started = time.monotonic()
    meta = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": _git_revision(),
        "machine": {"cores": os.cpu_count(), "cpu": _cpu_model(), "loadavg_start": os.getloadavg()[0]},
        "python": platform.python_version(),
        "config": {k: (v.label() if hasattr(v, "label") else v) for k, v in vars(cfg).items()},
    }

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    failures, verification = [], []
    try:
        log(f"database {cfg.db_name}: drop, create, migrate")
        ctx.db.recreate()
        ctx.db.migrate()
        ctx.key, ctx.client_id, ctx.source_id = ctx.db.create_api_client()
        meta["workflows"] = ctx.db.install_workflows() if cfg.workflows else "not installed (BENCH_WORKFLOWS=0)"
        log(f"workflows: {meta['workflows']}")
        selected = [s for s in SCENARIOS if not cfg.only or s.ID in cfg.only]
        last_slice = None
        for scenario in selected:
            is_load = getattr(scenario, "LOAD", True)
            if is_load and last_slice is None:
                log("raw-SQL baseline slice")
                last_slice = ctx.baseline.slice(f"before {scenario.ID}")
            log(f"scenario {scenario.ID}: {scenario.TITLE}")
            before_ids = set(ctx.results)
            t0 = time.monotonic()
            result = scenario.run(ctx)
            result.setdefault("title", scenario.TITLE)
            result["wall_seconds"] = round(time.monotonic() - t0, 1)
            ctx.results[scenario.ID] = result
            if is_load:
                log("raw-SQL baseline slice")
                after = ctx.baseline.slice(f"after {scenario.ID}")
                for rid in set(ctx.results) - before_ids:
                    if "reports_per_s" in ctx.results[rid]:
                        _attach_baseline(ctx.results[rid], last_slice, after)
                last_slice = after
            else:
                last_slice = None  # the next load scenario gets a fresh slice before it
        summary = ctx.baseline.summary()
        if summary:
            ctx.results = {"raw_sql": summary, **ctx.results}
        ctx.close()  # requests still in flight finish before the database is counted
        log("verifying the database against the responses")
        with ctx.db.connect(autocommit=True) as conn:
            for run in ctx.runs:
                counts = verify.db_counts(conn, ctx.source_id, run["prefix"])
                checks = verify.check_run(run, counts)
                verification.append({"run": run["name"], "counts": counts, "client": run, "checks": checks})
                failures += [f"{run['name']}: {c['check']} ({c['detail']})" for c in checks if not c["ok"]]
    except (StackError, wrk.WrkError, ConfigError) as exc:
        log(f"FAILED: {exc}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        ctx.close()
        reap_leftovers()
    targets = []
    for scenario in SCENARIOS:
        if hasattr(scenario, "targets"):
            targets += scenario.targets(ctx.results)
    meta["machine"]["loadavg_end"] = os.getloadavg()[0]
    before, after = dict((p, rest) for p, *rest in tree_before), dict((p, rest) for p, *rest in _tree_fingerprint())
    meta["code_changed_during_run"] = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    meta["wall_seconds"] = round(time.monotonic() - started, 1)
    doc = {"meta": meta, "results": ctx.results, "targets": targets, "verification": verification,
           "verification_failures": failures, "server_errors": _server_errors()}
    out_path = RESULTS_DIR / "latest.json"
    out_path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    print(report.render(doc))
    print(f"\nwritten: {out_path.relative_to(ROOT)}")
    return 1 if failures else 0
