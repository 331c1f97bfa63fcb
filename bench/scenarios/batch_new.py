"""Batch intake: POST /api/v1/reports/batch with 500 reports, every one
about a new subject. Figures are reports (not requests) per second."""

ID = "batch_new"
TITLE = "batch intake (500/request), new subjects"
TARGET_VS_BASELINE = 0.5


def run(ctx):
    cfg = ctx.cfg
    return ctx.http(title=f"batch intake ({cfg.batch_size}/request), new subjects", name="batch",
                    script="batch.lua", profile=cfg.server, mode="batch", duration=cfg.duration,
                    connections=cfg.batch_connections, items_per_request=cfg.batch_size)


def targets(results):
    r = results.get(ID)
    if not r or r.get("vs_baseline") is None:
        return []
    ratio, goal = r["vs_baseline"], TARGET_VS_BASELINE
    return [{
        "target": f"batch intake ≥ {goal:.0%} of the raw-SQL baseline's reports/s",
        "value": f"{r['reports_per_s']:.0f} vs {r['baseline_reports_per_s']:.0f} reports/s (baseline slices "
                 f"before and after) = {ratio:.0%}",
        "met": ratio >= goal,
        "gap": None if ratio >= goal else f"{ratio:.0%} vs ≥ {goal:.0%}",
    }]
