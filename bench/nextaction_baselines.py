"""The baselines `bench/next_action.py` holds expgraph against, computed in the same run.

Each is a few lines on purpose: if one of these beats the graph, the graph has to change.
- Markov: the action that most often followed the previous one in successful training episodes
  (`<start>` before the first), then the globally most frequent actions;
- kNN: the 10 successful training steps nearest by embedding (one view: the observation window
  or its newest message), each voting for the action it took with its cosine similarity;
- kNN on failures (avoid): the 3 failing training steps nearest by the newest message, those
  with cosine > 0.6, each naming the action that failed there.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

START = "<start>"


def _ranked(votes: dict[str, float]) -> list[str]:
    """Highest vote first; ties by label so every run ranks alike."""
    return [a for a, _ in sorted(votes.items(), key=lambda kv: (-kv[1], kv[0]))]


class Markov:
    """First-order chain over action labels."""

    def __init__(self, sequences: Sequence[Sequence[str]]) -> None:
        self.after: dict[str, Counter[str]] = defaultdict(Counter)
        overall: Counter[str] = Counter()
        for seq in sequences:
            prev = START
            for a in seq:
                self.after[prev][a] += 1
                overall[a] += 1
                prev = a
        self.overall = _ranked(dict(overall))

    def rank(self, prev: str | None) -> list[str]:
        first = _ranked(dict(self.after.get(prev or START, {})))
        seen = set(first)
        return first + [a for a in self.overall if a not in seen]


class KNN:
    """Similarity-weighted votes of the k nearest rows of `vecs` (unit vectors)."""

    def __init__(self, vecs: np.ndarray, labels: Sequence[str], k: int = 10,
                 min_sim: float | None = None) -> None:
        if len(vecs) != len(labels):
            raise ValueError(f"{len(vecs)} vectors for {len(labels)} labels")
        self.vecs = np.asarray(vecs, dtype=np.float32)
        self.labels = list(labels)
        self.k = k
        self.min_sim = min_sim

    def add(self, vecs: np.ndarray, labels: Sequence[str]) -> None:
        self.vecs = np.vstack([self.vecs, np.asarray(vecs, dtype=np.float32)])
        self.labels += list(labels)

    def neighbours(self, vec: np.ndarray) -> list[tuple[int, float]]:
        if not self.labels:
            return []
        sims = self.vecs @ np.asarray(vec, dtype=np.float32)
        top = np.argsort(-sims, kind="stable")[:self.k]
        return [(int(i), float(sims[i])) for i in top
                if self.min_sim is None or sims[i] > self.min_sim]

    def rank(self, vec: np.ndarray) -> list[str]:
        votes: dict[str, float] = defaultdict(float)
        for i, sim in self.neighbours(vec):
            votes[self.labels[i]] += max(sim, 0.0)
        return _ranked(votes)


def failure_knn(vecs: np.ndarray, labels: Sequence[str]) -> KNN:
    """The avoid baseline: 3 nearest failing steps, cosine > 0.6."""
    return KNN(vecs, labels, k=3, min_sim=0.6)
