"""Runs wrk with one of the Lua scripts in bench/lua and parses the
BENCH_RESULT line that common.lua prints."""

import json
import os
import signal
import subprocess
import time

from .config import LUA_DIR


class WrkError(Exception):
    pass


def run(*, url, script, env, duration, connections, threads, timeout_extra=30):
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "30s",
           "-s", str(LUA_DIR / script), url]
    full_env = dict(os.environ)
    full_env.update({k: str(v) for k, v in env.items()})
    full_env["BENCH_LUA_DIR"] = str(LUA_DIR)
    proc = subprocess.Popen(cmd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + duration + timeout_extra
    rusage = None
    try:
        while True:
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() > deadline:
                raise WrkError(f"wrk did not finish within {duration + timeout_extra} s")
            time.sleep(0.05)
    except BaseException:  # timeout or interrupted: stop our wrk, by pid
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
            os.wait4(proc.pid, 0)
            proc.returncode = -signal.SIGKILL
        raise
    out, err = proc.stdout.read(), proc.stderr.read()
    line = next((ln for ln in out.splitlines() if ln.startswith("BENCH_RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise WrkError(f"wrk failed (exit {proc.returncode}):\n{out}\n{err}")
    result = json.loads(line[len("BENCH_RESULT "):])
    result["statuses"] = {int(k): v for k, v in result["statuses"].items()}
    result["cpu_ms"] = (rusage.ru_utime + rusage.ru_stime) * 1000
    return result
