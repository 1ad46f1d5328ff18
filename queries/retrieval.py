"""`query`: the skills and guardrails that apply in a state, ranked by fused signals.

Flow: embed the state (and its canonical signature, and the task) -> candidates from dense,
sparse and graph signals (each at most `config.pool`) -> utility for every candidate ->
fusion by the preset's method and weights -> the top k as `Result`s.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import numpy as np

from expgraph.distill.states import canonicalize, state_id
from expgraph.models import Label, Rel, Status
from expgraph.store.base import GraphStore
from queries import signals as sig
from queries.config import SearchConfig, get_config
from queries.corpus import Item, ServedCorpus, embed_texts, quiet_blas, served_corpus
from queries.fusion import fuse
from queries.schema import Evidence, QueryRequest, QueryResult, Result, Signals

KINDS = {"skill": Label.SKILL, "guardrail": Label.GUARDRAIL}
TIERS = ("strategic", "functional", "atomic")


class QueryContext:
    """One query's vectors and nearest states, computed on first use and shared by every
    signal (a sparse-only query never runs the model)."""

    def __init__(self, embedder: Any, state: str, task: str | None) -> None:
        self.embedder = embedder
        self.state = state
        self.task = task or None
        self.signature = canonicalize(state)
        self._vecs: dict[str, np.ndarray] = {}
        self._state_seeds: dict[str, float] | None = None
        self._exact: str | None = None

    @classmethod
    def build(cls, embedder: Any, state: str, task: str | None) -> QueryContext:
        return cls(embedder, state, task)

    def _vec(self, text: str) -> np.ndarray:
        if text not in self._vecs:
            self._vecs[text] = embed_texts(self.embedder, [text])[0]
        return self._vecs[text]

    def prefetch(self, texts: Sequence[str | None]) -> None:
        """Embed the texts this query will need in one model call (the per-call overhead is
        a good part of a short text's cost)."""
        todo = [t for t in dict.fromkeys(texts) if t and t not in self._vecs]
        if todo:
            self._vecs.update(zip(todo, embed_texts(self.embedder, todo), strict=True))

    def exact_state(self, store: GraphStore) -> str | None:
        """The State whose signature is the query's, if the store has one."""
        if self._exact is None:
            sid = state_id(self.signature)
            self._exact = sid if store.has_nodes([sid]) else ""
        return self._exact or None

    def needs(self, store: GraphStore, cfg: SearchConfig) -> list[str | None]:
        """The texts the preset's signals will embed."""
        out: list[str | None] = []
        if cfg.uses("dense"):
            out += [self.state, self.task if cfg.task_weight > 0 else None]
        if cfg.uses("graph"):
            g = cfg.graph
            if g.seed_states and (g.neighbours_with_exact or self.exact_state(store) is None):
                out.append(self.signature)
            if g.task_seeds and g.task_seed_weight > 0:
                out.append(self.task)
        return out

    @property
    def state_vec(self) -> np.ndarray:
        return self._vec(self.state)

    @property
    def signature_vec(self) -> np.ndarray:
        return self._vec(self.signature)

    @property
    def task_vec(self) -> np.ndarray | None:
        return self._vec(self.task) if self.task else None

    def state_seeds(self, store: GraphStore, cfg: SearchConfig) -> dict[str, float]:
        """States like the query's: the exact signature's state plus the nearest by embedding."""
        if self._state_seeds is None:
            g = cfg.graph
            exact = self.exact_state(store)
            nearest: list[tuple[str, float]] = []
            if g.seed_states and (exact is None or g.neighbours_with_exact):
                nearest = sig.vector_top_ids(store, Label.STATE, self.signature_vec,
                                             g.seed_states)
            seeds = sig.seed_weights(exact, nearest, g.seed_min_sim, g.seed_temperature)
            self._state_seeds = {s: w for s, w in seeds.items() if w >= g.seed_min_weight}
        return self._state_seeds

    def task_seeds(self, store: GraphStore, cfg: SearchConfig) -> dict[str, float]:
        g = cfg.graph
        if self.task_vec is None or not g.task_seeds or g.task_seed_weight <= 0:
            return {}
        return {nid: max(s, 0.0) * g.task_seed_weight
                for nid, s in sig.vector_top_ids(store, Label.TASK, self.task_vec, g.task_seeds)}


@dataclass
class Ranked:
    item: Item
    score: float
    signals: Signals


def validate(kinds: Sequence[str], tiers: Sequence[str] | None) -> None:
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        what = repr(bad[0]) if bad else "(none)"
        raise ValueError(f"unknown kind {what}; choose from skill, guardrail")
    bad = [t for t in tiers or () if t not in TIERS]
    if bad:
        raise ValueError(f"unknown tier {bad[0]!r}; choose from {', '.join(TIERS)}")


def _top(scores: dict[str, float], n: int) -> dict[str, float]:
    """The n best, best first, ties in their order in `scores` (as a stable sort by score
    would give them: `heapq.nlargest` is that sort's first n, without sorting the rest)."""
    if len(scores) <= n:
        return scores
    return dict(heapq.nlargest(n, scores.items(), key=itemgetter(1)))


def _dense_searches(kinds: Sequence[str], tiers: Sequence[str] | None,
                    include_deprecated: bool) -> list[tuple[Label, dict[str, Any] | None]]:
    base: dict[str, Any] = {} if include_deprecated else {"status": Status.ACTIVE.value}
    out: list[tuple[Label, dict[str, Any] | None]] = []
    for kind in kinds:
        if kind == "skill" and tiers:
            out += [(Label.SKILL, {**base, "tier": t}) for t in tiers]
        else:
            out.append((KINDS[kind], base or None))
    return out


def rank_items(store: GraphStore, corpus: ServedCorpus, ctx: QueryContext, cfg: SearchConfig,
               kinds: Sequence[str] = ("skill", "guardrail"), tiers: Sequence[str] | None = None,
               include_deprecated: bool = False, k: int | None = None) -> list[Ranked]:
    """Every candidate the preset's signals find (the `k` best when given), fused and sorted
    best first."""
    items = corpus.items
    ok = corpus.allowed(kinds, tiers, include_deprecated)
    if not ok:
        return []
    ctx.prefetch(ctx.needs(store, cfg))
    found: dict[str, dict[str, float]] = {}
    if cfg.uses("dense"):
        vec = sig.blend(ctx.state_vec, ctx.task_vec, cfg.task_weight)
        searches = _dense_searches(kinds, tiers, include_deprecated)
        found["dense"] = {i: s for i, s in sig.dense_scores(store, vec, searches, cfg.pool).items()
                          if i in ok}
    if cfg.uses("sparse"):
        text = f"{ctx.state}\n{ctx.task}" if ctx.task else ctx.state
        found["sparse"] = _top({i: s for i, s in corpus.bm25.scores(text).items() if i in ok},
                               cfg.pool)
    if cfg.uses("graph"):
        g = cfg.graph
        walk = sig.graph_scores(store, ctx.state_seeds(store, cfg), g.rels, g.hops, g.decay,
                                lambda s: corpus.walk(store, s, g.rels, g.hops, g.decay))
        plans = sig.graph_scores(store, ctx.task_seeds(store, cfg), [Rel.PLANS_FOR], 1, 1.0,
                                 lambda s: corpus.walk(store, s, [Rel.PLANS_FOR], 1, 1.0))
        for i, s in plans.items():
            walk[i] = walk.get(i, 0.0) + s
        found["graph"] = _top({i: s for i, s in walk.items() if i in ok}, cfg.pool)
    candidates = set().union(*found.values()) if found else set()
    if cfg.uses("utility"):
        found["utility"] = sig.utility_scores({i: items[i].utility for i in candidates})
    fused = fuse(found, cfg.weights.active(), cfg.fusion, cfg.normalization, cfg.rrf_k)
    order = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
    return [Ranked(items[i], s, Signals(
        dense=found.get("dense", {}).get(i, 0.0), sparse=found.get("sparse", {}).get(i, 0.0),
        graph=found.get("graph", {}).get(i, 0.0), utility=items[i].utility))
        for i, s in order]


def to_result(r: Ranked, explain: bool) -> Result:
    it = r.item
    return Result(id=it.id, kind=it.kind, tier=it.tier, name=it.name,  # type: ignore[arg-type]
                  description=it.description, actions=it.actions, avoid=it.avoid,
                  score=round(r.score, 6), signals=r.signals if explain else None,
                  evidence=Evidence(episodes=it.episodes, successes=it.successes,
                                    failures=it.failures))


def query(store: GraphStore, embedder: Any, state: str, task: str | None = None, k: int = 10,
          kinds: Sequence[str] = ("skill", "guardrail"), tiers: Sequence[str] | None = None,
          explain: bool = False, preset: str | SearchConfig = "hybrid",
          include_deprecated: bool = False) -> QueryResult:
    """The skills and guardrails relevant to `state` (and `task`), best first.

    Raises ValueError for an unknown preset, kind or tier."""
    cfg = get_config(preset)
    kinds, tiers = list(kinds), list(tiers) if tiers else None
    validate(kinds, tiers)
    request = QueryRequest(state=state, task=task, k=k, kinds=kinds, tiers=tiers,  # type: ignore[arg-type]
                           explain=explain, preset=cfg.name, include_deprecated=include_deprecated)
    with quiet_blas():
        corpus = served_corpus(store)
        if not corpus.items:
            return QueryResult(query=request, results=[])
        ctx = QueryContext.build(embedder, state, task)
        ranked = rank_items(store, corpus, ctx, cfg, kinds, tiers, include_deprecated, k=k)
    return QueryResult(query=request, results=[to_result(r, explain) for r in ranked[:k]])
