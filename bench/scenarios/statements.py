"""Statements and time per report, measured inside one Django process
(bench/inprocess.py): the same requests go through Django's WSGI handler
serially, with every PostgreSQL round trip and Redis call counted and timed.
No HTTP server, no concurrency: this is the cost of one request, not a
throughput figure."""

import json
import subprocess

from ..config import RESULTS_DIR, ROOT
from ..stack import StackError, app_env

ID = "statements"
TITLE = "statements and time per report (in-process, serial)"
LOAD = False  # not bracketed by baseline slices


def run(ctx):
    ctx.stop_servers()  # nothing else of ours competes for the CPU meanwhile
    proc = subprocess.run(
        [ctx.python, "-m", "bench.inprocess", "--key", ctx.key, "--prefix", ctx.prefix("inproc"),
         "--requests", str(ctx.cfg.profile_requests), "--batch-size", str(ctx.cfg.batch_size),
         "--hot-subjects", str(ctx.cfg.hot_subjects)],
        cwd=ROOT, env=app_env(ctx.cfg), capture_output=True, text=True, timeout=300,
    )
    (RESULTS_DIR / "inprocess.log").write_text(proc.stderr)  # Django logs a 5xx's traceback there
    if proc.returncode != 0:
        raise StackError(f"bench.inprocess failed:\n{proc.stdout}\n{proc.stderr}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for kind in result["kinds"].values():
        ctx.runs.append(kind.pop("run"))
    return result
