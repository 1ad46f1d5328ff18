"""The scoring functions, pinned to values computed by hand from the Wilson formula
(z = 1.96): lower bound = (p + z²/2n - z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)."""

from __future__ import annotations

import pytest

from expgraph.scoring import (
    guardrail_severity,
    item_counts,
    should_retire,
    utility,
    wilson_lower_bound,
)


@pytest.mark.parametrize(("k", "n", "expected"), [
    (0, 0, 0.0),       # no evidence
    (1, 1, 0.2065),    # 1 / (1 + z²)
    (4, 4, 0.5101),    # 1 / (1 + z²/4)
    (5, 10, 0.2366),
    (10, 10, 0.7225),  # 1 / (1 + z²/10)
    (0, 5, 0.0),
])
def test_wilson_lower_bound_matches_hand_computed_values(k, n, expected):
    assert wilson_lower_bound(k, n) == pytest.approx(expected, abs=1e-4)


def test_feedback_counts_double_in_utility():
    # 3 mined successes, 1 failure, 1 fed-back success: 5 of 6
    assert utility(3, 1, 1, 0) == pytest.approx(0.4365, abs=1e-4)


@pytest.mark.parametrize(("support", "failures", "total", "expected"), [
    (0, 4, 4, 0.0),                  # a rule with no supporting episode is no rule
    (1, 1, 1, 0.2065 * (1 - 0.5 ** 0.5)),
    (2, 4, 4, 0.5101 * 0.5),         # seen in two episodes: half strength
    (10, 10, 10, 0.7225 * 0.96875),  # ten episodes: near full
    (3, 0, 0, 0.0),                  # no attempts
])
def test_guardrail_severity_grows_with_support(support, failures, total, expected):
    assert guardrail_severity(support, failures, total) == pytest.approx(expected, abs=1e-4)


def test_retire_needs_low_utility_and_ten_outcomes():
    assert should_retire(utility(4, 6), 10)        # 4 of 10 -> 0.17
    assert not should_retire(utility(5, 5), 10)    # 5 of 10 -> 0.24
    assert not should_retire(utility(0, 3), 3)     # bad but too little evidence


def test_a_guardrail_is_right_when_its_forbidden_action_fails():
    props = {"failures": 3, "total": 5, "feedback_successes": 1, "feedback_failures": 2}
    assert item_counts(props, "Guardrail") == (3.0, 2.0, 1.0, 2.0)
    assert item_counts({"successes": 7, "failures": 1}, "Skill") == (7.0, 1.0, 0.0, 0.0)
