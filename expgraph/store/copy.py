"""Move a whole graph between stores (embedded <-> Neo4j / Bolt), then check the counts.

Nodes (with embeddings) go first, label by label, then edges type by type, then metadata and
the embedding cache, all in batches through the `GraphStore` protocol only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from expgraph.models import Label, Rel
from expgraph.progress import Progress
from expgraph.progress import report as report_progress
from expgraph.store.base import GraphStore, iter_batches


@dataclass
class CopyReport:
    """Per label / type counts on both sides after a copy; `ok` when they all agree."""

    nodes: dict[str, tuple[int, int]] = field(default_factory=dict)
    edges: dict[str, tuple[int, int]] = field(default_factory=dict)
    meta: tuple[int, int] = (0, 0)
    cache: tuple[int, int] = (0, 0)  # embedding-cache entries copied / present in the target
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        pairs = [*self.nodes.values(), *self.edges.values(), self.meta]
        return all(a == b for a, b in pairs) and self.cache[1] >= self.cache[0]

    def rows(self) -> list[tuple[str, str, int, int, str]]:
        def check(a: int, b: int) -> str:
            return "ok" if a == b else "DIFFERS"

        out = [("node", k, a, b, check(a, b)) for k, (a, b) in self.nodes.items()]
        out += [("edge", k, a, b, check(a, b)) for k, (a, b) in self.edges.items()]
        out.append(("meta", "keys", *self.meta, check(*self.meta)))
        out.append(("cache", "embeddings", *self.cache,
                    "ok" if self.cache[1] >= self.cache[0] else "DIFFERS"))
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "seconds": round(self.seconds, 3),
                "nodes": {k: {"source": a, "target": b} for k, (a, b) in self.nodes.items()},
                "edges": {k: {"source": a, "target": b} for k, (a, b) in self.edges.items()},
                "meta": {"source": self.meta[0], "target": self.meta[1]},
                "cache": {"source": self.cache[0], "target": self.cache[1]}}


def copy_graph(src: GraphStore, dst: GraphStore, batch_size: int = 500,
               progress: Progress | None = None) -> CopyReport:
    """Copy every node, edge, metadata key and cached embedding of `src`'s namespace to `dst`;
    `progress` counts the nodes and edges written."""
    t0 = time.perf_counter()
    total = sum(src.count_by_label().values()) + sum(src.count_by_type().values())
    done = 0
    report_progress(progress, done, total, "nodes")
    for label in Label:
        for batch in iter_batches(src.find_nodes(label, with_embedding=True), batch_size):
            dst.upsert_nodes(batch)
            done += len(batch)
            report_progress(progress, done, total, f"{label.value} nodes")
    for rel in Rel:
        for batch in iter_batches(src.edges(rel), batch_size):
            dst.upsert_edges(batch)
            done += len(batch)
            report_progress(progress, done, total, f"{rel.value} edges")
    meta = src.meta_items()
    if meta:
        with dst.transaction():
            for k, v in meta.items():
                dst.set_meta(k, v)
    copied = 0
    by_model: dict[str, dict[str, np.ndarray]] = {}
    for model, h, vec in src.embedding_cache_items():
        by_model.setdefault(model, {})[h] = vec
        if len(by_model[model]) >= batch_size:
            dst.cache_embeddings(model, by_model.pop(model))
        copied += 1
    for model, items in by_model.items():
        dst.cache_embeddings(model, items)
    report = compare(src, dst)
    report.meta = (len(meta), sum(1 for k in meta if dst.get_meta(k, _MISSING) is not _MISSING))
    report.cache = (copied, copied and _cache_present(src, dst))
    report.seconds = time.perf_counter() - t0
    return report


_MISSING = object()


def compare(src: GraphStore, dst: GraphStore) -> CopyReport:
    """Counts per label and per type on both sides."""
    a_nodes, b_nodes = src.count_by_label(), dst.count_by_label()
    a_edges, b_edges = src.count_by_type(), dst.count_by_type()
    return CopyReport(
        nodes={k: (a_nodes.get(k, 0), b_nodes.get(k, 0)) for k in sorted({*a_nodes, *b_nodes})},
        edges={k: (a_edges.get(k, 0), b_edges.get(k, 0)) for k in sorted({*a_edges, *b_edges})})


def _cache_present(src: GraphStore, dst: GraphStore) -> int:
    by_model: dict[str, list[str]] = {}
    for model, h, _ in src.embedding_cache_items():
        by_model.setdefault(model, []).append(h)
    return sum(len(dst.cached_embeddings(m, hs)) for m, hs in by_model.items())
