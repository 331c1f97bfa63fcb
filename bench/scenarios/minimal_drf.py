"""Quorum's single-report intake beside a minimal DRF app (bench/minimal_drf:
one model, one serializer, one INSERT) on the same gunicorn settings, the
same request body and the same machine, in alternating slices. Shows what
Quorum costs over "Django and DRF with nothing else"; the goal of issue 15 is
≥ 0.70× of it. The minimal app's rows are checked against its 2xx answers."""

ID = "minimal_drf"
TITLE = "minimal DRF app (one serializer, one INSERT)"
PAIRED = "single_new_vs_minimal"
TARGET_RATIO = 0.70


def run(ctx):
    cfg = ctx.cfg
    env = ctx.db.prepare_minimal(ctx.key)
    quorum = dict(profile=cfg.server, script="report.lua", mode="new", connections=cfg.connections)
    minimal = dict(quorum, profile=cfg.server.with_app("bench.minimal_drf.wsgi").with_env(**env), verify=False)
    ctx.stop_servers()  # both sides start now, from the same code
    for label, kw in (("q", quorum), ("m", minimal)):
        ctx.measure(name=f"minimal-{label}-w", duration=cfg.warmup, warmup=False, **kw)
    slices = {"q": [], "m": []}
    ratios = []
    for i in range(cfg.ab_pairs):
        order = ("q", "m") if i % 2 == 0 else ("m", "q")
        for label in order:
            kw = quorum if label == "q" else minimal
            slices[label].append(ctx.measure(name=f"minimal-{label}{i}", duration=cfg.ab_seconds, warmup=False, **kw))
        q, m = slices["q"][-1], slices["m"][-1]
        ratios.append(round((q["reports"] / q["seconds"]) / (m["reports"] / m["seconds"]), 3) if m["reports"] else None)
    checks = []
    for s in slices["m"]:
        stored = ctx.db.minimal_reports(s["prefix"])
        slack = max(0, s["sent"] - s["requests"])
        checks.append({"prefix": s["prefix"], "acknowledged": s["reports"], "stored": stored,
                       "ok": s["reports"] <= stored <= s["reports"] + slack})
    ctx.stop_servers()
    paired = ctx.summarize("single-report intake, new subjects (paired with the minimal DRF app)", slices["q"])
    paired["pair_ratios_vs_minimal"] = ratios
    ctx.results[PAIRED] = paired
    result = ctx.summarize(TITLE, slices["m"])
    result["verification"] = checks
    if not all(c["ok"] for c in checks):
        raise RuntimeError(f"the minimal DRF app did not store what it acknowledged: {checks}")
    return result


def targets(results):
    q, m = results.get(PAIRED), results.get(ID)
    if not q or not m or not m["reports_per_s"]:
        return []
    ratio = q["reports_per_s"] / m["reports_per_s"]
    pairs = ", ".join(f"{r:.2f}" for r in q.get("pair_ratios_vs_minimal", []) if r)
    return [{
        "target": f"single-report intake ≥ {TARGET_RATIO:.2f}× the minimal DRF app",
        "value": f"{q['reports_per_s']:.0f} vs {m['reports_per_s']:.0f} reports/s = {ratio:.2f}× (per pair: {pairs})",
        "met": ratio >= TARGET_RATIO,
        "gap": None if ratio >= TARGET_RATIO else f"{ratio:.2f}× vs ≥ {TARGET_RATIO:.2f}×",
        "detail": {"ratio": round(ratio, 3)},
    }]
