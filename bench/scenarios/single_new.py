"""Single-report HTTP intake, every report about a new subject: each
request opens a case (201) and routes it to its first review stage."""

ID = "single_new"
TITLE = "single-report intake, new subject each"
TARGET_REPORTS_PER_S = 800


def run(ctx):
    cfg = ctx.cfg
    return ctx.http(title=TITLE, name="single", script="report.lua", profile=cfg.server, mode="new",
                    duration=cfg.duration, connections=cfg.connections)


def targets(results):
    r = results.get(ID)
    if not r:
        return []
    value, goal = r["reports_per_s"], TARGET_REPORTS_PER_S
    return [{
        "target": f"single-report HTTP intake ≥ {goal} reports/s",
        "value": f"{value:.0f} reports/s",
        "met": value >= goal,
        "gap": None if value >= goal else f"{value / goal:.0%} of the target"
                                          + (f", {goal / value:.1f}× short" if value else ""),
    }]
