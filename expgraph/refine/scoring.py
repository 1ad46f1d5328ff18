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
