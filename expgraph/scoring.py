"""Confidence-aware utility: small pure functions shared by distillation, refinement and
retrieval, so 1 success of 1 ranks below 40 of 45."""

from __future__ import annotations

import math

Z95 = 1.959963984540054


def wilson_lower_bound(successes: float, total: float, z: float = Z95) -> float:
    """Lower end of the Wilson score interval for a success rate; 0 with no evidence."""
    if total <= 0:
        return 0.0
    successes = min(max(successes, 0.0), total)
    p = successes / total
    z2 = z * z
    centre = p + z2 / (2 * total)
    margin = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total))
    return max(0.0, (centre - margin) / (1 + z2 / total))


def utility(successes: float, failures: float, feedback_successes: float = 0.0,
            feedback_failures: float = 0.0) -> float:
    """A skill's or guardrail's utility: Wilson lower bound over mined and fed-back outcomes.
    Execution feedback counts double: it is evidence about serving the item, not just about
    the episodes it was mined from."""
    s = successes + 2 * feedback_successes
    n = successes + failures + 2 * (feedback_successes + feedback_failures)
    return wilson_lower_bound(s, n)


# --------------------------------------------------------------------------- refinement

# Retire a skill when we cannot say with 95% confidence that it works even one time in five
# (utility < 0.2) and that rests on at least 10 outcomes. Wilson gives 0 for 0 of 1, so the
# evidence floor is what separates "bad" from "unknown": 4 of 10 (0.17) and 7 of 20 (0.18)
# retire, 5 of 10 (0.24) and 8 of 20 (0.22) stay. The same threshold reactivates a skill whose
# utility recovers, so the decision is a function of the counts and refine stays idempotent.
RETIRE_UTILITY = 0.2
RETIRE_MIN_OUTCOMES = 10


def outcomes(successes: float, failures: float, feedback_successes: float = 0.0,
             feedback_failures: float = 0.0) -> float:
    """How much evidence a utility rests on (mined plus fed-back outcomes)."""
    return successes + failures + feedback_successes + feedback_failures


def should_retire(utility_value: float, n_outcomes: float,
                  threshold: float = RETIRE_UTILITY,
                  min_outcomes: float = RETIRE_MIN_OUTCOMES) -> bool:
    return n_outcomes >= min_outcomes and utility_value < threshold


def item_counts(props: dict, label: str) -> tuple[float, float, float, float]:
    """(successes, failures, feedback successes, feedback failures) of a skill or guardrail.
    A guardrail is right when the action it forbids fails: its successes are those failures."""
    fs = float(props.get("feedback_successes") or 0)
    ff = float(props.get("feedback_failures") or 0)
    if label == "Guardrail":
        failed = float(props.get("failures") or 0)
        total = float(props.get("total") or 0)
        return failed, max(total - failed, 0.0), fs, ff
    return float(props.get("successes") or 0), float(props.get("failures") or 0), fs, ff


def item_utility(props: dict, label: str) -> float:
    return utility(*item_counts(props, label))


def guardrail_severity(support: float, failures: float, total: float) -> float:
    """Grows with support (distinct episodes): failure-rate lower bound scaled by
    1 - 2^(-support/2), so a rule seen once is mild and one seen in 10 episodes is near full."""
    rate = wilson_lower_bound(failures, total) if total > 0 else 0.0
    return rate * (1.0 - 0.5 ** (max(support, 0.0) / 2.0))
