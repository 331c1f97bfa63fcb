"""Inter-rater agreement for nominal data: Krippendorff's alpha and Fleiss'
kappa. Pure functions, no database.

`units` is a list of units (reviews); each unit is the list of category
labels (outcome codes) its raters gave. `None` in a unit is a missing value.
Both return None when the figure is undefined (no pairable values, or every
value in one category: the expected disagreement is zero), never a
misleading number.
"""

from collections import Counter


def _pairable(units):
    """The units with at least two (non-missing) values, as Counters."""
    counted = []
    for unit in units:
        values = Counter(v for v in unit if v is not None)
        if sum(values.values()) >= 2:
            counted.append(values)
    return counted


def krippendorff_alpha_nominal(units):
    """Krippendorff's alpha for nominal values; handles a varying number of
    raters per unit (missing values). Units with fewer than two values are
    not pairable and are left out, as in Krippendorff (2011).

    alpha = 1 - D_o / D_e, from the coincidence matrix: each unit with m
    values contributes 1/(m-1) for every ordered pair of its values."""
    counted = _pairable(units)
    if not counted:
        return None
    disagreeing = 0.0  # sum over c != k of o_ck
    totals = Counter()  # n_c
    for values in counted:
        m = sum(values.values())
        totals.update(values)
        same = sum(n * (n - 1) for n in values.values())
        disagreeing += (m * (m - 1) - same) / (m - 1)
    n = sum(totals.values())
    expected = n * n - sum(c * c for c in totals.values())  # sum over c != k of n_c * n_k
    if expected == 0:
        return None
    return 1.0 - (n - 1) * disagreeing / expected


def fleiss_kappa(units):
    """Fleiss' kappa. Defined only when every unit has the same number of
    raters (at least two) and no value is missing; returns None otherwise,
    and when there are no units or only one category is ever used."""
    if not units:
        return None
    sizes = {len(unit) for unit in units}
    if len(sizes) != 1 or any(v is None for unit in units for v in unit):
        return None
    raters = sizes.pop()
    if raters < 2:
        return None
    totals = Counter()
    agreement = 0.0
    for unit in units:
        values = Counter(unit)
        totals.update(values)
        agreement += (sum(n * n for n in values.values()) - raters) / (raters * (raters - 1))
    observed = agreement / len(units)
    all_ratings = len(units) * raters
    expected = sum((n / all_ratings) ** 2 for n in totals.values())
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)
