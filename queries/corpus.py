"""What retrieval serves, cached per store generation: the Skill and Guardrail items with
their action templates, the BM25 index over their text, and each state's outgoing transitions
aggregated by template. Built once after every write, then every query reads memory.

Query vectors are embedded without writing to the store: a write would bump the generation
and throw these caches away on every query.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from expgraph.actions import text_action
from expgraph.embedder import MAX_CHARS
from expgraph.models import Label, NodeRecord, Rel, Status, content_hash
from expgraph.store.base import GraphStore
from expgraph.templates import action_key, template
from queries.signals import BM25Index

TRANSITION_CACHE = 4096  # states whose aggregated transitions are kept per generation
QUERY_VECTOR_CACHE = 2048
_TEXT_CALL = re.compile(r"^\s*[A-Za-z_][\w\-]*\s*\[.*\]\s*$", re.S)


@dataclass
class Item:
    """One served node, flattened to what ranking and results need."""

    id: str
    kind: str  # "skill" | "guardrail"
    tier: str | None
    name: str
    description: str
    actions: list[str]
    avoid: list[str]
    status: str
    utility: float
    severity: float
    episodes: int
    successes: int
    failures: int
    text: str


@dataclass
class TransitionStats:
    count: int = 0
    successes: int = 0
    errors: int = 0


@dataclass
class ServedCorpus:
    generation: int
    items: dict[str, Item]
    constants: dict[str, set[str]]
    bm25: BM25Index
    _transitions: OrderedDict[str, dict[str, TransitionStats]] = field(default_factory=OrderedDict)
    _applies: OrderedDict[str, frozenset[str]] = field(default_factory=OrderedDict)
    _walks: OrderedDict[tuple, dict[str, float]] = field(default_factory=OrderedDict)
    _allowed: dict[tuple, frozenset[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def template(self, key: str) -> str:
        return template(key, self.constants)

    def allowed(self, kinds: Sequence[str], tiers: Sequence[str] | None,
                include_deprecated: bool) -> frozenset[str]:
        """Ids of the items a query may serve: kind filter; tiers restrict skills only
        (guardrails have none); non-active items (merged, deprecated, redundant) on request."""
        key = (tuple(kinds), tuple(tiers or ()), include_deprecated)
        hit = self._allowed.get(key)
        if hit is None:
            hit = frozenset(
                i for i, it in self.items.items()
                if it.kind in kinds and not (tiers and it.kind == "skill" and it.tier not in tiers)
                and (include_deprecated or it.status == Status.ACTIVE.value))
            self._allowed[key] = hit
        return hit

    def normalise_action(self, action: str) -> str:
        """Any action string (raw `click[Buy Now]`, key or template) as its template."""
        action = action.strip()
        if _TEXT_CALL.match(action):
            action = action_key(text_action(action))
        return self.template(action)

    def walk(self, store: GraphStore, seed: str, rels: Sequence[Rel], hops: int,
             decay: float) -> dict[str, float]:
        """`store.expand` from one seed at weight 1, cached: the spread is linear in the seed
        weights, so a query's walk is the weighted sum of its seeds' cached walks."""
        key = (seed, tuple(rels), hops, decay)
        with self._lock:
            hit = self._walks.get(key)
            if hit is not None:
                self._walks.move_to_end(key)
                return hit
        spread = store.expand({seed: 1.0}, list(rels), hops, decay)
        with self._lock:
            self._walks[key] = spread
            if len(self._walks) > TRANSITION_CACHE:
                self._walks.popitem(last=False)
        return spread

    def applicable(self, store: GraphStore, state_id: str) -> frozenset[str]:
        """Ids of the skills that APPLIES_IN this state (their precondition)."""
        key = "applies:" + state_id
        with self._lock:
            hit = self._applies.get(key)
        if hit is None:
            hit = frozenset(e.src for e in store.edges(Rel.APPLIES_IN, dst=state_id))
            with self._lock:
                self._applies[key] = hit
                if len(self._applies) > TRANSITION_CACHE:
                    self._applies.popitem(last=False)
        return hit

    def transitions(self, store: GraphStore, state_id: str) -> dict[str, TransitionStats]:
        """Outgoing TRANSITION edges of a state, summed per action template."""
        with self._lock:
            hit = self._transitions.get(state_id)
            if hit is not None:
                self._transitions.move_to_end(state_id)
                return hit
        agg: dict[str, TransitionStats] = {}
        for e in store.edges(Rel.TRANSITION, src=state_id):
            t = self.template(str(e.props.get("action") or e.key))
            st = agg.setdefault(t, TransitionStats())
            st.count += int(e.props.get("count", 1) or 0)
            st.successes += int(e.props.get("successes", 0) or 0)
            st.errors += int(e.props.get("errors", 0) or 0)
        with self._lock:
            self._transitions[state_id] = agg
            if len(self._transitions) > TRANSITION_CACHE:
                self._transitions.popitem(last=False)
        return agg


def _int(v: Any) -> int:
    try:
        return int(v or 0)
    except (TypeError, ValueError):
        return 0


def _templates(values: Iterable[Any], constants: dict[str, set[str]]) -> list[str]:
    return [template(str(v), constants) for v in values if v]


def skill_item(rec: NodeRecord, constants: dict[str, set[str]]) -> Item:
    p = rec.props
    return Item(
        id=rec.id, kind="skill", tier=p.get("tier"), name=str(p.get("name") or rec.text[:80]),
        description=str(p.get("description") or ""),
        actions=_templates(p.get("actions") or [], constants), avoid=[],
        status=str(p.get("status") or Status.ACTIVE.value), utility=float(p.get("utility") or 0),
        severity=0.0, episodes=_int(p.get("support")), successes=_int(p.get("successes")),
        failures=_int(p.get("failures")), text=rec.text)


def guardrail_item(rec: NodeRecord, constants: dict[str, set[str]]) -> Item:
    """A guardrail's evidence counts the forbidden action's outcomes where it guards:
    `failures` times it failed (for the rule), `successes` times it did not (against)."""
    p = rec.props
    forbidden = _templates(p.get("forbidden") or [], constants)
    alt = p.get("alternative")
    failures, total = _int(p.get("failures")), _int(p.get("total"))
    trigger = str(p.get("trigger") or "")
    when = f" when {trigger}" if trigger else ""
    name = str(p.get("rule") or f"Avoid {', '.join(forbidden)}{when}")
    return Item(
        id=rec.id, kind="guardrail", tier=None, name=name,
        description=str(p.get("root_cause") or trigger),
        actions=_templates([alt], constants) if alt else [], avoid=forbidden,
        status=str(p.get("status") or Status.ACTIVE.value), utility=float(p.get("utility") or 0),
        severity=float(p.get("severity") or 0), episodes=_int(p.get("support")),
        successes=max(total - failures, 0), failures=failures, text=rec.text)


def build_corpus(store: GraphStore, generation: int) -> ServedCorpus:
    raw = store.get_meta("action_constants", {}) or {}
    constants = {str(k): set(map(str, v)) for k, v in raw.items()}
    items: dict[str, Item] = {}
    for rec in store.find_nodes(Label.SKILL):
        items[rec.id] = skill_item(rec, constants)
    for rec in store.find_nodes(Label.GUARDRAIL):
        items[rec.id] = guardrail_item(rec, constants)
    bm25 = BM25Index(list(items), [it.text or it.name for it in items.values()])
    return ServedCorpus(generation=generation, items=items, constants=constants, bm25=bm25)


_CORPORA: weakref.WeakKeyDictionary[Any, ServedCorpus] = weakref.WeakKeyDictionary()
_CORPORA_LOCK = threading.Lock()


def served_corpus(store: GraphStore) -> ServedCorpus:
    """The corpus of this store at its current generation (rebuilt after any write)."""
    gen = store.generation()
    hit = _CORPORA.get(store)
    if hit is not None and hit.generation == gen:
        return hit
    with _CORPORA_LOCK:
        hit = _CORPORA.get(store)
        if hit is not None and hit.generation == gen:
            return hit
        corpus = build_corpus(store, gen)
        _CORPORA[store] = corpus
        return corpus


_BLAS: Any = None


@contextmanager
def quiet_blas() -> Iterator[None]:
    """Run numpy's BLAS on the calling thread only. Its idle worker threads keep spinning
    after a matrix product and starve the embedding model's threads: on 2 cores, query p50
    at 100,000 steps went from ~31 ms to ~96 ms (bench/query_latency.py)."""
    global _BLAS
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController

        _BLAS = ThreadpoolController()
    with _BLAS.limit(limits=1, user_api="blas"):
        yield


_VECTORS: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
_VECTORS_LOCK = threading.Lock()


def clear_query_vectors() -> None:
    """Forget memoised query vectors (benchmarks measure embedding from cold)."""
    with _VECTORS_LOCK:
        _VECTORS.clear()


def embed_texts(embedder: Any, texts: Sequence[str]) -> list[np.ndarray]:
    """Query vectors through the embedder's model, memoised in process (never stored). A text
    the store has embedded before (a state's signature, a task, a repeated message: the
    ingest's content-hash cache) is read from the store instead of run through the model —
    texts up to MAX_CHARS, whose cache key is the whole text."""
    model = getattr(embedder, "inner", embedder)
    name = str(getattr(model, "name", type(model).__name__))
    out: dict[str, np.ndarray] = {}
    with _VECTORS_LOCK:
        for t in texts:
            v = _VECTORS.get((name, t))
            if v is not None:
                _VECTORS.move_to_end((name, t))
                out[t] = v
    missing = list(dict.fromkeys(t for t in texts if t not in out))
    store = getattr(embedder, "store", None)
    short = [t for t in missing if len(t) <= MAX_CHARS]  # longer: the key is only a prefix
    if short and store is not None and model is not embedder:
        by_hash = {content_hash(t): t for t in short}
        stored = store.cached_embeddings(name, list(by_hash))
        with _VECTORS_LOCK:
            for h, v in stored.items():
                out[by_hash[h]] = _VECTORS[(name, by_hash[h])] = np.asarray(v, np.float32)
        missing = [t for t in missing if t not in out]
    if missing:
        vecs = np.asarray(model.embed(missing), dtype=np.float32)
        with _VECTORS_LOCK:
            for t, v in zip(missing, vecs, strict=True):
                out[t] = v
                _VECTORS[(name, t)] = v
            while len(_VECTORS) > QUERY_VECTOR_CACHE:
                _VECTORS.popitem(last=False)
    return [out[t] for t in texts]
