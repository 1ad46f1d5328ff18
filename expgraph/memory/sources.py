"""Candidate sources: each proposes next actions (template ids) with a score in [0, 1].

Small pure functions over the step memory's arrays and a `mask` of the steps a query may see
(training leaves its own episode out). Only steps of successful episodes vote for an action;
failed episodes and errored steps feed the risk sources alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Votes = dict[int, float]


def top_k(scores: np.ndarray, mask: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest `scores` where `mask` holds, best first, ties by index: a
    real store repeats its texts, so many steps share a score, and which of them make the
    top k must not depend on where they sit in the array (the ANN universe is a subset)."""
    idx = np.flatnonzero(mask)
    if idx.size == 0 or k <= 0:
        return idx[:0]
    s = scores[idx]
    if idx.size > k:
        kth = np.partition(s, idx.size - k)[idx.size - k]  # the k-th highest score
        keep = s >= kth  # every step tied with it too; the lowest indices win below
        idx, s = idx[keep], s[keep]
    order = np.lexsort((idx, -s))[:k]
    return idx[order]


def knn_votes(sims: np.ndarray, labels: np.ndarray, pool: np.ndarray, k: int = 10,
              ) -> tuple[Votes, int, float]:
    """Similarity-weighted votes of the k nearest steps in `pool` for the action they took,
    as shares summing to 1; also the nearest step's action and its similarity."""
    near = top_k(sims, pool, k)
    if near.size == 0:
        return {}, -1, 0.0
    w = np.clip(sims[near], 0.0, None)
    total = float(w.sum())
    votes: Votes = {}
    for i, wi in zip(labels[near].tolist(), w.tolist(), strict=True):
        votes[i] = votes.get(i, 0.0) + (wi / total if total > 0 else 1.0 / near.size)
    return votes, int(labels[near[0]]), float(sims[near[0]])


def shares(labels: np.ndarray, pool: np.ndarray) -> Votes:
    """How often each action was taken among the steps in `pool`, as shares summing to 1."""
    picked = labels[pool]
    if picked.size == 0:
        return {}
    counts = np.bincount(picked)
    nz = np.flatnonzero(counts)
    total = float(picked.size)
    return {int(i): float(counts[i]) / total for i in nz}


def markov(labels: np.ndarray, prev1: np.ndarray, prev2: np.ndarray, pool: np.ndarray,
           history: Sequence[int], order: int) -> Votes:
    """P(next | the last `order` actions of `history`) over the steps in `pool`; the first
    step of an episode has no previous action (-1), so it conditions on that too."""
    h1 = history[-1] if history else -1
    sel = pool & (prev1 == h1)
    if order >= 2:
        h2 = history[-2] if len(history) >= 2 else -1
        sel &= prev2 == h2
    return shares(labels, sel)


def next_in_sequence(actions: Sequence[str], history: Sequence[str]) -> str | None:
    """The action that follows what `history` already did of `actions`.

    The longest suffix of `history` that occurs in `actions` marks the position (the earliest
    occurrence on ties); no overlap means the sequence has not begun (its first action); a
    match ending at the last action means the sequence is done (None)."""
    if not actions:
        return None
    best_len, best_end = 0, -1
    for end in range(len(actions)):  # actions[.. end] matched by a suffix of history
        n = 0
        while n <= end and n < len(history) and actions[end - n] == history[-1 - n]:
            n += 1
        if n > best_len:
            best_len, best_end = n, end
    if best_len == 0:
        return actions[0]
    return actions[best_end + 1] if best_end + 1 < len(actions) else None


def risk_votes(sims: np.ndarray, labels: np.ndarray, failing: np.ndarray, pool: np.ndarray,
               k: int = 20, prior: float = 0.5) -> Votes:
    """For each action the k nearest steps took: the similarity-weighted share of those
    steps that failed (their episode failed or the step errored), smoothed by `prior`
    pseudo-weight of success so one distant failure is not a verdict."""
    near = top_k(sims, pool, k)
    bad: dict[int, float] = {}
    tot: dict[int, float] = {}
    for i in near.tolist():
        a, w = int(labels[i]), max(float(sims[i]), 0.0)
        tot[a] = tot.get(a, 0.0) + w
        if failing[i]:
            bad[a] = bad.get(a, 0.0) + w
    return {a: bad.get(a, 0.0) / (t + prior) for a, t in tot.items()}


def failure_neighbours(sims: np.ndarray, labels: np.ndarray, failing: np.ndarray,
                       pool: np.ndarray, k: int = 3, min_sim: float = 0.6) -> Votes:
    """The actions of the k nearest failing steps closer than `min_sim`, by similarity."""
    near = top_k(sims, pool & failing, k)
    out: Votes = {}
    for i in near.tolist():
        if sims[i] >= min_sim:
            a = int(labels[i])
            out[a] = max(out.get(a, 0.0), float(sims[i]))
    return out


def ranks(votes: Votes) -> Votes:
    """1 / rank of each action in a source's proposal (1 for its best), ties by action id."""
    order = sorted(votes, key=lambda c: (-votes[c], c))
    return {c: 1.0 / (r + 1) for r, c in enumerate(order)}


def unusual_failures(sims: np.ndarray, vecs: np.ndarray, labels: np.ndarray,
                     failing: np.ndarray, good: np.ndarray, k: int = 5, min_sim: float = 0.6,
                     ) -> tuple[Votes, Votes]:
    """The k nearest failing steps (closer than `min_sim`) and, for each, how unusual its
    action was for successful agents in its own situation: 1 - the similarity of the
    nearest successful step that took the same action. Returns, per action, the nearest such
    failing step's similarity and its unusualness (a wrong tool is unusual; a routine lookup
    that failed runs also made is not)."""
    near = [i for i in top_k(sims, failing, k).tolist() if sims[i] >= min_sim]
    sim: Votes = {}
    unusual: Votes = {}
    for i in near:
        a = int(labels[i])
        same = np.flatnonzero(good & (labels == a))
        u = 1.0 - float(np.max(vecs[same] @ vecs[i])) if same.size else 1.0
        sim[a] = max(sim.get(a, 0.0), float(sims[i]))
        unusual[a] = max(unusual.get(a, 0.0), max(u, 0.0))
    return sim, unusual


def nearest_success(sims: np.ndarray, labels: np.ndarray, good: np.ndarray,
                    actions: list[int]) -> Votes:
    """For each action, the similarity of the nearest successful step that took it."""
    out: Votes = {}
    for a in actions:
        sel = good & (labels == a)
        if sel.any():
            out[a] = float(np.max(sims[sel]))
    return out


def mentioned(words: frozenset[str], text_words: frozenset[str]) -> float:
    """Share of an action's literal `words` that a text names (0 when it spells none)."""
    return len(words & text_words) / len(words) if words else 0.0
