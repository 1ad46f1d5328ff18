"""Fusion: per-signal scores in, one ranking out. Pure functions over {id: score} dicts.

A signal that did not retrieve an item simply has no entry for it: in RRF it contributes
nothing, in weighted fusion it contributes 0.
"""

from __future__ import annotations

from collections.abc import Mapping

Scores = Mapping[str, float]


def minmax(scores: Scores) -> dict[str, float]:
    """Scale to [0, 1]; when every score is equal, every item gets 1 (they all matched)."""
    if not scores:
        return {}
    lo, hi = min(scores.values()), max(scores.values())
    if hi == lo:
        return dict.fromkeys(scores, 1.0)
    return {i: (s - lo) / (hi - lo) for i, s in scores.items()}


def ranks(scores: Scores) -> dict[str, int]:
    """1-based competition ranks (ties share the best rank), so ties never depend on order."""
    ordered = sorted(scores.values(), reverse=True)
    first: dict[float, int] = {}
    for pos, s in enumerate(ordered, 1):
        first.setdefault(s, pos)
    return {i: first[s] for i, s in scores.items()}


def rank_normalise(scores: Scores) -> dict[str, float]:
    """1 for the best, falling linearly to 1/n for the worst: robust to outlying raw scores."""
    n = len(scores)
    return {i: (n - r + 1) / n for i, r in ranks(scores).items()}


def rrf(signals: Mapping[str, Scores], weights: Mapping[str, float],
        k: int = 60) -> dict[str, float]:
    """Weighted reciprocal-rank fusion: sum over signals of w / (k + rank)."""
    out: dict[str, float] = {}
    for name, w in weights.items():
        if w <= 0:
            continue
        for i, r in ranks(signals.get(name, {})).items():
            out[i] = out.get(i, 0.0) + w / (k + r)
    return out


def weighted(signals: Mapping[str, Scores], weights: Mapping[str, float],
             normalization: str = "minmax") -> dict[str, float]:
    """Weighted sum of normalised signals (min-max or rank-normalised)."""
    norm = minmax if normalization == "minmax" else rank_normalise
    out: dict[str, float] = {}
    for name, w in weights.items():
        if w <= 0:
            continue
        for i, s in norm(signals.get(name, {})).items():
            out[i] = out.get(i, 0.0) + w * s
    return out


def fuse(signals: Mapping[str, Scores], weights: Mapping[str, float], method: str = "rrf",
         normalization: str = "minmax", rrf_k: int = 60) -> dict[str, float]:
    if method == "rrf":
        return rrf(signals, weights, rrf_k)
    if method == "weighted":
        return weighted(signals, weights, normalization)
    raise ValueError(f"unknown fusion method {method!r}; choose rrf or weighted")
