import math

import pytest

from cases.priority import case_priority, reach_of


def test_minimum_is_severity_alone():
    assert case_priority(max_severity=1, reporter_weight=0, max_classifier_score=None, reach=0) == 100


def test_maximum_is_850():
    assert case_priority(max_severity=5, reporter_weight=10**6, max_classifier_score=1.0, reach=10**12) == 850


def test_components_add_up_as_documented():
    # 100×4 + round(40×log2(1+3)) + round(100×0.5) + round(10×log10(1+999))
    expected = 400 + round(40 * math.log2(4)) + 50 + round(10 * math.log10(1000))
    assert case_priority(max_severity=4, reporter_weight=3, max_classifier_score=0.5, reach=999) == expected == 560


def test_trusted_flagger_counts_more_than_a_user():
    from cases.priority import REPORTER_WEIGHTS

    user = case_priority(max_severity=2, reporter_weight=REPORTER_WEIGHTS["user"], max_classifier_score=None, reach=0)
    flagger = case_priority(max_severity=2, reporter_weight=REPORTER_WEIGHTS["trusted_flagger"],
                            max_classifier_score=None, reach=0)
    assert flagger > user


@pytest.mark.parametrize("weights", [(0, 1, 2, 5, 20, 100, 1000)])
def test_monotonic_in_reporters(weights):
    values = [case_priority(max_severity=3, reporter_weight=w, max_classifier_score=None, reach=0) for w in weights]
    assert values == sorted(values)
    assert values[-1] - values[0] == 150  # the reporter component saturates at 150


@pytest.mark.parametrize(
    "metadata, expected",
    [
        ({"reach": 10}, 10),
        ({"followers_count": 5, "view_count": 9}, 5),
        ({"view_count": 7.5}, 7.5),
        ({"reach": -3, "view_count": 4}, 4),
        ({"reach": "lots"}, 0),
        ({"reach": True}, 0),
        ({"reach": float("inf")}, 0),
        ("not a dict", 0),
        ({}, 0),
    ],
)
def test_reach_is_read_defensively(metadata, expected):
    assert reach_of(metadata) == expected


def test_deterministic():
    args = dict(max_severity=3, reporter_weight=7, max_classifier_score=0.42, reach=12345)
    assert len({case_priority(**args) for _ in range(20)}) == 1
