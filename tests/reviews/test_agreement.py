"""Krippendorff's alpha and Fleiss' kappa against published values, edge
cases, and properties (bounds, invariance under re-ordering and renaming)."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reviews.agreement import fleiss_kappa, krippendorff_alpha_nominal
from tests.hypothesis_profiles import examples

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C:
# 4 observers, 12 units, nominal values, with missing values (None).
KRIPPENDORFF_2011 = [
    [1, 1, None, 1],
    [2, 2, 3, 2],
    [3, 3, 3, 3],
    [3, 3, 3, 3],
    [2, 2, 2, 2],
    [1, 2, 3, 4],
    [4, 4, 4, 4],
    [1, 1, 2, 1],
    [2, 2, 2, 2],
    [None, 5, 5, 5],
    [None, None, 1, 1],
    [None, 3, None, None],
]

# Wikipedia, "Fleiss' kappa", worked example: 10 subjects, 14 raters, 5 categories (counts per category).
FLEISS_WIKIPEDIA_COUNTS = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def expand(counts):
    return [[category for category, n in enumerate(row) for _ in range(n)] for row in counts]


def test_krippendorff_2011_nominal_example_with_missing_values():
    assert krippendorff_alpha_nominal(KRIPPENDORFF_2011) == pytest.approx(0.743, abs=0.0005)


def test_fleiss_wikipedia_example():
    assert fleiss_kappa(expand(FLEISS_WIKIPEDIA_COUNTS)) == pytest.approx(0.210, abs=0.0005)


def test_alpha_on_complete_data_is_close_to_kappa_for_many_units():
    # With complete data alpha and kappa differ only by a small-sample correction.
    units = expand(FLEISS_WIKIPEDIA_COUNTS)
    assert krippendorff_alpha_nominal(units) == pytest.approx(fleiss_kappa(units), abs=0.01)


def test_perfect_agreement_is_one():
    units = [["remove", "remove"], ["keep", "keep", "keep"], ["label", "label"]]
    assert krippendorff_alpha_nominal(units) == pytest.approx(1.0)
    assert fleiss_kappa([["remove", "remove"], ["keep", "keep"]]) == pytest.approx(1.0)


def test_systematic_disagreement_is_negative():
    units = [["a", "b"], ["b", "a"], ["a", "b"]]
    assert krippendorff_alpha_nominal(units) < 0
    assert fleiss_kappa(units) == pytest.approx(-1.0)


@pytest.mark.parametrize("units", [
    [],
    [["a"], ["b"], [None, "c"]],  # nothing pairable
    [["a", "a"], ["a", "a", "a"]],  # one category only: no expected disagreement
])
def test_alpha_is_undefined_without_data(units):
    assert krippendorff_alpha_nominal(units) is None


@pytest.mark.parametrize("units", [
    [],
    [["a", "a"], ["a", "a"]],  # one category
    [["a", "b"], ["a", "b", "a"]],  # varying number of raters
    [["a", None], ["a", "b"]],  # missing value
    [["a"], ["b"]],  # one rater
])
def test_kappa_is_undefined_where_it_does_not_apply(units):
    assert fleiss_kappa(units) is None


labels = st.sampled_from(["remove", "keep", "label", "suspend"])
ragged_units = st.lists(st.lists(st.one_of(labels, st.none()), min_size=0, max_size=6), max_size=25)


@st.composite
def square_units(draw):
    raters = draw(st.integers(min_value=2, max_value=6))
    return draw(st.lists(st.lists(labels, min_size=raters, max_size=raters), min_size=1, max_size=25))


def renamed(units, seed):
    names = ["remove", "keep", "label", "suspend"]
    shuffled = names[:]
    random.Random(seed).shuffle(shuffled)
    mapping = dict(zip(names, shuffled))
    return [[None if v is None else mapping[v] for v in unit] for unit in units]


def shuffled(units, seed):
    rng = random.Random(seed)
    out = [rng.sample(unit, len(unit)) for unit in units]
    rng.shuffle(out)
    return out


@settings(max_examples=examples(200), deadline=None)
@given(ragged_units, st.integers())
def test_alpha_bounds_and_invariance(units, seed):
    alpha = krippendorff_alpha_nominal(units)
    if alpha is None:
        assert krippendorff_alpha_nominal(shuffled(units, seed)) is None
        return
    assert -1.0 - 1e-9 <= alpha <= 1.0 + 1e-9
    assert krippendorff_alpha_nominal(shuffled(units, seed)) == pytest.approx(alpha)
    assert krippendorff_alpha_nominal(renamed(units, seed)) == pytest.approx(alpha)
    # Units that cannot be paired change nothing.
    assert krippendorff_alpha_nominal(units + [["keep"], [None, None]]) == pytest.approx(alpha)


@settings(max_examples=examples(200), deadline=None)
@given(square_units(), st.integers())
def test_kappa_bounds_and_invariance(units, seed):
    kappa = fleiss_kappa(units)
    if kappa is None:
        assert len({v for unit in units for v in unit}) == 1
        return
    raters = len(units[0])
    assert -1.0 / (raters - 1) - 1e-9 <= kappa <= 1.0 + 1e-9
    assert fleiss_kappa(shuffled(units, seed)) == pytest.approx(kappa)
    assert fleiss_kappa(renamed(units, seed)) == pytest.approx(kappa)


@settings(max_examples=examples(100), deadline=None)
@given(st.lists(st.tuples(labels, st.integers(min_value=2, max_value=5)), min_size=1, max_size=15))
def test_unanimous_units_give_one_when_two_categories_are_used(pairs):
    units = [[label] * n for label, n in pairs]
    alpha = krippendorff_alpha_nominal(units)
    if len({label for label, _ in pairs}) == 1:
        assert alpha is None
    else:
        assert alpha == pytest.approx(1.0)
