"""The store protocol: the only place where backends differ.

Every backend (embedded SQLite, Neo4j/Bolt) implements `GraphStore`. Code outside
`expgraph/store/` talks to this protocol only, never to a backend's driver.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Literal, Protocol, runtime_checkable

import networkx as nx
import numpy as np

from expgraph.models import EdgeRecord, Label, NodeRecord, Rel

Direction = Literal["out", "in", "both"]


class StoreError(RuntimeError):
    """A store could not do what was asked; the message says what to check."""


@runtime_checkable
class GraphStore(Protocol):
    namespace: str

    # ---- writes (inside `transaction()` they are all-or-nothing)
    def transaction(self) -> AbstractContextManager[None]:
        """Group writes: all of them land or none does. Nested use joins the outer one."""

    def upsert_nodes(self, nodes: Sequence[NodeRecord], accumulate: Sequence[str] = ()) -> None:
        """Insert or replace nodes by id. Props named in `accumulate` are added to the stored
        value instead of replacing it (numbers only). A node whose embedding is None keeps the
        one it has."""

    def upsert_edges(self, edges: Sequence[EdgeRecord], accumulate: Sequence[str] = ()) -> None:
        """Insert or replace edges by (src, type, dst, key); `accumulate` as for nodes.
        Both end nodes must exist: a graph database cannot hold a dangling edge."""

    def delete_nodes(self, ids: Sequence[str]) -> int:
        """Delete nodes and their edges; returns how many nodes went."""

    def delete_edges(self, rel_type: Rel | None = None, src: str | None = None,
                     dst: str | None = None) -> int: ...

    def clear_derived(self, labels: Sequence[Label], rel_types: Sequence[Rel]) -> None:
        """Remove every node of `labels` and every edge of `rel_types` (used by rebuilds)."""

    # ---- reads
    def get_node(self, id: str) -> NodeRecord | None: ...

    def get_nodes(self, ids: Sequence[str]) -> list[NodeRecord]: ...

    def has_nodes(self, ids: Sequence[str]) -> set[str]:
        """The subset of `ids` that exist."""

    def find_nodes(self, label: Label | None = None, where: dict[str, Any] | None = None,
                   limit: int | None = None, with_embedding: bool = False) -> list[NodeRecord]:
        """Nodes of a label whose props equal every `where` item."""

    def edges(self, rel_type: Rel | None = None, src: str | None = None,
              dst: str | None = None) -> list[EdgeRecord]: ...

    def neighbors(self, id: str, rel_type: Rel | None = None,
                  direction: Direction = "out") -> list[tuple[EdgeRecord, NodeRecord]]: ...

    def expand(self, seeds: dict[str, float], rel_types: Sequence[Rel], hops: int,
               decay: float) -> dict[str, float]:
        """Decayed k-hop spread from weighted seed nodes over `rel_types` (both directions), a
        truncated personalised PageRank: at each hop every frontier node passes
        weight * decay, split evenly among its neighbours (one share per edge); a node's result
        is its seed weight plus everything it received, summed over all walks of up to `hops`
        steps (a walk may come back to where it started). Pushed down to the backend."""

    def vector_top_k(self, label: Label, vector: np.ndarray, k: int,
                     where: dict[str, Any] | None = None) -> list[tuple[NodeRecord, float]]:
        """The k nodes of `label` with the highest cosine similarity to `vector`."""

    def text_search(self, query: str, label: Label | None = None,
                    k: int = 10) -> list[tuple[NodeRecord, float]]:
        """Full-text search over node text, best first."""

    def count_by_label(self) -> dict[str, int]: ...

    def count_by_type(self) -> dict[str, int]: ...

    # ---- embeddings cache and metadata
    def cached_embeddings(self, model: str, hashes: Sequence[str]) -> dict[str, np.ndarray]: ...

    def cache_embeddings(self, model: str, items: dict[str, np.ndarray]) -> None: ...

    def get_meta(self, key: str, default: Any = None) -> Any: ...

    def meta_items(self) -> dict[str, Any]:
        """Every metadata key of this namespace (for copying a graph)."""

    def embedding_cache_items(self) -> Iterator[tuple[str, str, np.ndarray]]:
        """(model, hash, vector) for the whole embedding cache (for copying a graph)."""

    def set_meta(self, key: str, value: Any) -> None: ...

    def generation(self) -> int:
        """A number that changes whenever the graph is written; caches key on it."""

    def close(self) -> None: ...


def iter_batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for it in items:
        batch.append(it)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def to_networkx(store: GraphStore, labels: Sequence[Label] | None = None,
                rel_types: Sequence[Rel] | None = None) -> nx.MultiDiGraph:
    """The graph (or the subgraph of `labels` / `rel_types`) as a networkx MultiDiGraph.

    Node attributes: label, text and props; edge attributes: type, key and props.
    Works on any backend because it only uses the protocol.
    """
    g = nx.MultiDiGraph()
    wanted = set(labels) if labels else None
    for label in (wanted or list(Label)):
        for rec in store.find_nodes(label):
            g.add_node(rec.id, **{**_flat(rec.props), "label": rec.label.value, "text": rec.text})
    for rel in (rel_types or list(Rel)):
        for e in store.edges(rel):
            if e.src in g and e.dst in g:
                g.add_edge(e.src, e.dst, key=f"{e.type.value}:{e.key}",
                           **{**_flat(e.props), "type": e.type.value})
    return g


def _flat(props: dict[str, Any]) -> dict[str, Any]:
    """Drop the bulky raw steps so the networkx view stays light."""
    return {k: v for k, v in props.items() if k not in ("steps", "key")}


_PROP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_prop_names(names: Sequence[str]) -> list[str]:
    """Accumulated props are spliced into SQL/Cypher: plain identifiers only."""
    for k in names:
        if not _PROP_NAME.match(k):
            raise ValueError(f"bad property name {k!r}")
    return list(names)


def merge_dupes(items: Sequence[Any], key: Callable[[Any], Any],
                accumulate: Sequence[str]) -> list[Any]:
    """Collapse repeated ids inside one upsert batch, as every backend must: later wins,
    accumulated props add up. The caller's records are never mutated."""
    out: dict[Any, Any] = {}
    for it in items:
        k = key(it)
        prev = out.get(k)
        if prev is not None and accumulate:
            it = it.model_copy(update={"props": dict(it.props)})
            for a in accumulate:
                it.props[a] = (prev.props.get(a) or 0) + (it.props.get(a) or 0)
        out[k] = it
    return list(out.values())
