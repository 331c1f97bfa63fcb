"""What auditing costs: single-report intake (new subjects) on two gunicorns
side by side, one with AUDIT_DISABLED_FOR_BENCHMARK=true, in alternating
slices so that both see the same machine."""

ID = "single_new_audit_off"
TITLE = "single-report intake, new subjects, AUDIT OFF"
PAIRED_ON = "single_new_audit_on"
TARGET_MAX_COST = 0.10  # issue 12 (G2): audit ≤ 10 % of intake throughput


def run(ctx):
    cfg = ctx.cfg
    load = dict(script="report.lua", mode="new", connections=cfg.connections)
    on, off, ratios = ctx.ab(
        name="audit", title_a="single-report intake, new subjects, audit on (paired)", title_b=TITLE,
        a=dict(profile=cfg.server, audit=True, **load),
        b=dict(profile=cfg.server.with_env(AUDIT_DISABLED_FOR_BENCHMARK="true"), audit=False, **load),
    )
    ctx.results[PAIRED_ON] = on
    off["pair_ratios_off_on"] = ratios
    return off


def _server_cpu(r):
    cpu = r.get("cpu_ms_per_report") or {}
    return sum(cpu.get(k, 0.0) for k in ("app", "postgres", "redis"))


def targets(results):
    on, off = results.get(PAIRED_ON), results.get(ID)
    if not on or not off or not off["reports_per_s"] or not on["reports_per_s"]:
        return [{"target": f"auditing costs ≤ {TARGET_MAX_COST:.0%} of intake throughput",
                 "value": "not measured (no successful reports)", "met": False, "gap": None}] if on or off else []
    ratio = on["reports_per_s"] / off["reports_per_s"]
    cost = 1 - ratio
    pairs = [round(1 - 1 / r, 2) for r in off.get("pair_ratios_off_on", []) if r]
    cpu_on, cpu_off = _server_cpu(on), _server_cpu(off)
    cpu_cost = 1 - cpu_off / cpu_on if cpu_on else None
    value = f"audit on/off = {ratio:.2f}: costs {cost:.0%} of throughput (per pair: {', '.join(f'{p:.0%}' for p in pairs)})"
    if cpu_cost is not None:
        value += f"; {cpu_cost:.0%} of server CPU per report"
    return [{
        "target": f"auditing costs ≤ {TARGET_MAX_COST:.0%} of intake throughput",
        "value": value,
        "met": cost <= TARGET_MAX_COST,
        "gap": None if cost <= TARGET_MAX_COST else f"{cost:.0%} vs ≤ {TARGET_MAX_COST:.0%}",
        "detail": {"ratio_on_off": round(ratio, 3), "throughput_cost": round(cost, 3), "per_pair_cost": pairs,
                   "server_cpu_cost": round(cpu_cost, 3) if cpu_cost is not None else None},
    }]
