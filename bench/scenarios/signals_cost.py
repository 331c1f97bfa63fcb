"""What the G4 signals add per report at intake, in-process (bench/inprocess.py):
the same reports — about hot subjects, each carrying account identifiers,
media hashes and a description — with the signals layer on and off (its hook
answering nothing), against a PDQ hash list of BENCH_SIGNALS_HASH_LIST entries.
Round trips are counted where psycopg sends them; time is wall time per report."""

import json
import os
import subprocess

from ..config import RESULTS_DIR, ROOT
from ..stack import StackError, app_env

ID = "signals"
TITLE = "signals at intake: added round trips and time per report (in-process, serial)"
LOAD = False
MAX_ADDED_ROUND_TRIPS = 1


def run(ctx):
    ctx.stop_servers()
    size = int(os.environ.get("BENCH_SIGNALS_HASH_LIST", "20000"))
    proc = subprocess.run(
        [ctx.python, "-m", "bench.inprocess", "--key", ctx.key, "--prefix", ctx.prefix("signals"),
         "--requests", str(ctx.cfg.profile_requests), "--hot-subjects", str(ctx.cfg.hot_subjects),
         "--kinds", "signals_on,signals_off", "--hash-list-size", str(size)],
        cwd=ROOT, env=app_env(ctx.cfg), capture_output=True, text=True, timeout=900,
    )
    (RESULTS_DIR / "signals.log").write_text(proc.stderr)
    if proc.returncode != 0:
        raise StackError(f"bench.inprocess (signals) failed:\n{proc.stdout}\n{proc.stderr}")
    kinds = json.loads(proc.stdout.strip().splitlines()[-1])["kinds"]
    for kind in kinds.values():
        ctx.runs.append(kind.pop("run"))
    on, off = kinds["signals_on"], kinds["signals_off"]
    return {
        "hash_list_size": size,
        "round_trips_per_report": {"on": on["statements_per_report"], "off": off["statements_per_report"]},
        "added_round_trips": round(on["statements_per_report"] - off["statements_per_report"], 2),
        "ms_per_report": {"on": on["ms_per_report"]["wall"], "off": off["ms_per_report"]["wall"]},
        "added_ms_per_report": round(on["ms_per_report"]["wall"] - off["ms_per_report"]["wall"], 3),
        "added_db_wait_ms_per_report": round(on["ms_per_report"]["db_wait"] - off["ms_per_report"]["db_wait"], 3),
        "kinds": kinds,
    }


def targets(results):
    r = results.get(ID)
    if not r:
        return []
    added = r["added_round_trips"]
    return [{
        "target": f"signals add ≤ {MAX_ADDED_ROUND_TRIPS} round trip per report",
        "value": f"{r['round_trips_per_report']['on']:g} vs {r['round_trips_per_report']['off']:g} round trips, "
                 f"+{r['added_ms_per_report']:.3f} ms per report (hash list of {r['hash_list_size']:,} PDQ hashes)",
        "met": added <= MAX_ADDED_ROUND_TRIPS,
        "gap": None if added <= MAX_ADDED_ROUND_TRIPS else f"+{added:g} round trips",
    }]
