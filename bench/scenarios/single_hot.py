"""Single-report HTTP intake, all reports about 10 hot subjects: after the
first report per subject every request joins the open case (200), so
requests queue on the case row and the case's audit stream head."""

ID = "single_hot"
TITLE = "single-report intake, 10 hot subjects"


def run(ctx):
    cfg = ctx.cfg
    return ctx.http(title=TITLE, name="hot", script="report.lua", profile=cfg.server, mode="hot",
                    duration=cfg.duration, connections=cfg.connections)
