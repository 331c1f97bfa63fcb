"""Reporter reputation: a Beta posterior over "this reporter's reports end in
a violation" (docs/rules.md, "Reputation and brigading formulas"). Pure."""

from django.conf import settings

LOW_REPUTATION = 0.35  # below this posterior mean a reporter counts as low-reputation


def prior() -> tuple[float, float]:
    return float(settings.SIGNALS_REPUTATION_PRIOR[0]), float(settings.SIGNALS_REPUTATION_PRIOR[1])


def accuracy(upheld: float, rejected: float) -> float:
    """Posterior mean (α + upheld) / (α + β + upheld + rejected); a reporter
    with no decided report gets the prior mean."""
    alpha, beta = prior()
    return (alpha + upheld) / (alpha + beta + upheld + rejected)


def prior_mean() -> float:
    return accuracy(0.0, 0.0)


def reputation_factor(upheld: float, rejected: float) -> float:
    """What one report of this reporter counts for relative to today's weight:
    accuracy / prior mean, so a new reporter counts exactly as before (1),
    a reliable one up to 1 / prior mean, an unreliable one towards 0."""
    return accuracy(upheld, rejected) / prior_mean()


def reporter_key(*, reporter_kind: str, reporter_external_id: str, api_client_id) -> str:
    """Whose record a report builds: automated reporters by API client (the
    classifier), everyone else by external id; "" for anonymous reports."""
    if reporter_kind == "automated":
        return str(api_client_id) if api_client_id else ""
    return reporter_external_id or ""
