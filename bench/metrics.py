"""CPU accounting around a measurement: how many CPU-milliseconds each part
of the stack spent per report. Unlike reports/s, CPU per report barely moves
when other work shares the machine, so it is the figure to compare across runs."""

import os
import time

TICK = os.sysconf("SC_CLK_TCK")


def _proc_ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])  # utime + stime


def _host_ticks():
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values[:8]) - idle, sum(values[:8])


def redis_pid(redis_url):
    try:
        import redis

        return int(redis.Redis.from_url(redis_url, socket_timeout=1).info("server")["process_id"])
    except Exception:
        return None


class CpuMeter:
    """Snapshots CPU ticks of named groups of processes (each a callable
    returning pids) and of the whole host."""

    def __init__(self, groups):
        self.groups = groups
        self.start = None

    def _snapshot(self):
        snap = {}
        for name, pids_fn in self.groups.items():
            snap[name] = {pid: t for pid in pids_fn() if (t := _proc_ticks(pid)) is not None}
        return snap, _host_ticks(), time.monotonic()

    def begin(self):
        self.start = self._snapshot()

    def end(self):
        (before, (busy0, total0), t0) = self.start
        after, (busy1, total1), t1 = self._snapshot()
        ms = {}
        for name in self.groups:
            ticks = sum(t - before[name].get(pid, 0) for pid, t in after[name].items())
            ms[name] = ticks * 1000 / TICK
        ms["host"] = (busy1 - busy0) * 1000 / TICK
        cores = os.cpu_count() or 1
        busy_pct = 100 * (busy1 - busy0) / max(1, total1 - total0)
        return {"cpu_ms": ms, "host_busy_pct": round(busy_pct, 1), "seconds": t1 - t0, "cores": cores}


def per_report(cpu, reports, extra_ms=None):
    """CPU-ms per report for each group, plus `other` = host minus the named
    groups (background PostgreSQL processes, the kernel, anyone else's work)."""
    if not reports:
        return {}
    ms = dict(cpu["cpu_ms"])
    if extra_ms:
        ms.update(extra_ms)
    named = sum(v for k, v in ms.items() if k != "host")
    ms["other"] = max(0.0, ms["host"] - named)
    return {k: round(v / reports, 3) for k, v in ms.items()}
