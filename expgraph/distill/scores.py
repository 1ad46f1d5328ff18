"""The shared scoring functions, imported on first call.

`expgraph.refine` imports distillation (its promote pass mines sequences the same way), so
distillation must not import `expgraph.refine` while it is itself being imported.
"""

from __future__ import annotations


def utility(successes: float, failures: float, feedback_successes: float = 0.0,
            feedback_failures: float = 0.0) -> float:
    from expgraph.refine.scoring import utility as _utility

    return _utility(successes, failures, feedback_successes, feedback_failures)


def wilson_lower_bound(successes: float, total: float) -> float:
    from expgraph.refine.scoring import wilson_lower_bound as _wilson

    return _wilson(successes, total)
