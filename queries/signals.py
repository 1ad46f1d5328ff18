"""The retrieval signals, each a small function returning {node id: score}.

dense   - cosine between the query vector and node embeddings (the store's vector top-k)
sparse  - BM25 (bm25s) over the served nodes' text
graph   - decayed k-hop spread from the states nearest to the query (the store's `expand`)
utility - the node's confidence-aware success estimate (Wilson lower bound, set by refinement)

Signals only *score*; `fusion` combines them and `retrieval` decides what is served.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import bm25s
import numpy as np

from expgraph.models import Label, Rel
from expgraph.store.base import GraphStore

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# Short English stop list: BM25's idf already discounts common words, this only keeps the
# query's function words from matching every description.
STOPWORDS = frozenset(
    "a an and are as at be by for from has have i in is it its of on or that the this to was "
    "were will with you your".split())


def tokenize(text: str) -> list[str]:
    """Lower-cased words and numbers, stop words dropped; the same for documents and queries."""
    return [t for t in _WORD.findall((text or "").lower()) if t not in STOPWORDS]


class BM25Index:
    """BM25 over a fixed list of documents (bm25s); build once per store generation."""

    def __init__(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        self.ids = list(ids)
        self._bm25: bm25s.BM25 | None = None
        if self.ids:
            self._bm25 = bm25s.BM25()
            self._bm25.index([tokenize(t) or [""] for t in texts], show_progress=False)

    def scores(self, query: str) -> dict[str, float]:
        """BM25 score of every document that shares a term with the query (0s left out)."""
        tokens = tokenize(query)
        if self._bm25 is None or not tokens:
            return {}
        raw = self._bm25.get_scores(tokens)
        hits = np.flatnonzero(raw > 0)
        return {self.ids[i]: float(raw[i]) for i in hits}


def blend(state_vec: np.ndarray, task_vec: np.ndarray | None, task_weight: float) -> np.ndarray:
    """Unit vector of (1 - w) * state + w * task: the task nudges, the state leads."""
    v = np.asarray(state_vec, dtype=np.float32)
    if task_vec is not None and task_weight > 0:
        v = (1.0 - task_weight) * v + task_weight * np.asarray(task_vec, dtype=np.float32)
    n = float(np.linalg.norm(v))
    return v / n if n else v


def dense_scores(store: GraphStore, vec: np.ndarray,
                 searches: Iterable[tuple[Label, dict[str, Any] | None]],
                 k: int) -> dict[str, float]:
    """Cosine of the `k` nearest nodes per (label, prop filter), through the store's index."""
    out: dict[str, float] = {}
    for label, where in searches:
        for nid, sim in vector_top_ids(store, label, vec, k, where):
            out[nid] = max(sim, out.get(nid, -1.0))
    return out


def vector_top_ids(store: GraphStore, label: Label, vec: np.ndarray, k: int,
                   where: dict[str, Any] | None = None) -> list[tuple[str, float]]:
    """(node id, cosine) of the k nearest nodes: without reading the nodes where the store
    can (`vector_top_ids`), else from `vector_top_k`."""
    top = getattr(store, "vector_top_ids", None)
    if top is not None:
        return top(label, vec, k, where=where)
    return [(r.id, s) for r, s in store.vector_top_k(label, vec, k, where=where)]


def seed_weights(exact: str | None, nearest: Sequence[tuple[str, float]], min_sim: float,
                 temperature: float) -> dict[str, float]:
    """Seed states for the walk: the exact-signature state at 1, else the nearest states with
    sim >= min_sim at exp((sim - best) / temperature): the closest known state counts fully
    (an unseen page still gets advice from the page most like it), a merely similar one little."""
    seeds: dict[str, float] = {}
    if exact is not None:
        seeds[exact] = 1.0
    near = [(sid, min(sim, 1.0)) for sid, sim in nearest if sim >= min_sim]
    top = 1.0 if exact is not None else max((s for _, s in near), default=1.0)
    for sid, sim in near:
        w = math.exp((sim - top) / temperature) if temperature > 0 else 1.0
        seeds[sid] = max(w, seeds.get(sid, 0.0))
    return seeds


def graph_scores(store: GraphStore, seeds: Mapping[str, float], rels: Sequence[Rel], hops: int,
                 decay: float,
                 walk: Callable[[str], Mapping[str, float]] | None = None) -> dict[str, float]:
    """Walk mass that reached each node from the seeds (seeds themselves left out).

    `walk(seed)` may supply a cached single-seed spread: the spread is linear in the seed
    weights, so summing w * walk(seed) equals one expand over all the seeds."""
    if not seeds or hops <= 0:
        return {}
    if walk is None:
        spread = store.expand(dict(seeds), list(rels), hops, decay)
    else:
        spread = {}
        for seed, w in seeds.items():
            for n, v in walk(seed).items():
                spread[n] = spread.get(n, 0.0) + w * v
    return {n: w for n, w in spread.items() if n not in seeds and w > 0}


def utility_scores(utilities: Mapping[str, float]) -> dict[str, float]:
    """The stored utility of each candidate; items without evidence (0) are left out."""
    return {i: float(u) for i, u in utilities.items() if u and u > 0}
