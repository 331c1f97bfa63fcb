"""The default gunicorn worker model against the alternative (by default
sync × 2 against gthread 2 processes × 4 threads), side by side in
alternating slices, so that the choice of the default stays measured."""

ID = "single_new_alt_worker"
TITLE = "single-report intake, new subjects, alternative workers"
PAIRED_DEFAULT = "single_new_default_worker"


def run(ctx):
    cfg = ctx.cfg
    load = dict(script="report.lua", mode="new", connections=cfg.connections)
    default, alt, ratios = ctx.ab(
        name="workers", title_a="single-report intake, new subjects, default workers (paired)",
        title_b=f"single-report intake, new subjects, {cfg.alt_server.label()} (paired)",
        a=dict(profile=cfg.server, **load), b=dict(profile=cfg.alt_server, **load),
    )
    ctx.results[PAIRED_DEFAULT] = default
    alt["pair_ratios_alt_default"] = ratios
    return alt
