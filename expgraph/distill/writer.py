"""Write the distilled layer as a diff against what the store holds.

Unchanged nodes and edges are not rewritten and unchanged texts are not re-embedded, so the
online path (re-mine everything after each ingest) writes only what the new episodes changed.
Fields that refinement owns (status, execution feedback) survive a re-mine.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from expgraph.embedder import CachedEmbedder
from expgraph.memory.derived import note_written
from expgraph.models import (
    EdgeRecord,
    GraphNode,
    GuardrailNode,
    Label,
    NodeRecord,
    Rel,
    SkillNode,
    Status,
    utcnow,
)
from expgraph.scoring import utility
from expgraph.store.base import GraphStore

DERIVED_LABELS = (Label.SKILL, Label.FAILURE, Label.GUARDRAIL)
DERIVED_RELS = (Rel.USES, Rel.APPLIES_IN, Rel.LEADS_TO, Rel.COMPOSED_OF, Rel.PLANS_FOR,
                Rel.DERIVED_FROM, Rel.OBSERVED_IN, Rel.CAUSED_BY, Rel.OCCURRED_IN, Rel.PREVENTS,
                Rel.GUARDS)
REFINE_OWNED = ("status", "feedback_successes", "feedback_failures")
_VOLATILE = ("created_at", "updated_at")
_DIGITS = re.compile(r"\d+(?:\.\d+)?")


@dataclass
class WriteStats:
    written: int = 0
    unchanged: int = 0
    deleted: int = 0
    embedded: int = 0
    edges_written: int = 0
    edges_deleted: int = 0


def owned_by_distill(rec: NodeRecord) -> bool:
    """Nodes distillation may replace or delete: not imported, merged or promoted skills."""
    if rec.label == Label.FAILURE:
        return True
    return rec.props.get("source", "distilled") == "distilled"


def carry_over(node: GraphNode, old: NodeRecord | None) -> None:
    """Keep what refinement decided about a node that mining produced again."""
    if old is None or not isinstance(node, (SkillNode, GuardrailNode)):
        return
    for f in REFINE_OWNED:
        if f in old.props:
            setattr(node, f, Status(old.props[f]) if f == "status" else old.props[f])
    if isinstance(node, SkillNode):
        node.utility = utility(node.successes, node.failures, node.feedback_successes,
                               node.feedback_failures)
    else:
        node.utility = utility(node.failures, node.total - node.failures,
                               node.feedback_successes, node.feedback_failures)


def _masked(text: str) -> str:
    """Text with its numbers masked: a description whose counts moved keeps its embedding
    (the counts do not move the meaning), so an online update re-embeds only what is new."""
    return _DIGITS.sub("#", text)


def _same(a: NodeRecord, b: NodeRecord) -> bool:
    strip = lambda p: {k: v for k, v in p.items() if k not in _VOLATILE}  # noqa: E731
    return a.text == b.text and strip(a.props) == strip(b.props)


def write_layer(store: GraphStore, embedder: CachedEmbedder, nodes: Sequence[GraphNode],
                edges: Sequence[EdgeRecord], extra: Sequence[NodeRecord] = ()) -> WriteStats:
    """Upsert `nodes` and `edges` (plus `extra` raw-layer records such as Task clusters),
    delete the distilled nodes that mining no longer produces."""
    ns = store.namespace
    stats = WriteStats()
    existing = {r.id: r for label in DERIVED_LABELS for r in store.find_nodes(label)}
    now = utcnow().isoformat()
    recs: list[NodeRecord] = []
    embed_idx: list[int] = []
    new_ids: set[str] = set()
    for node in nodes:
        old = existing.get(node.id)
        if old is not None and not owned_by_distill(old):
            continue  # an imported/merged/promoted skill with the same identity wins
        carry_over(node, old)
        rec = node.to_record(ns)
        new_ids.add(rec.id)
        if old is not None and _same(rec, old):
            stats.unchanged += 1
            continue
        rec.props["updated_at"] = now
        if old is None or _masked(old.text) != _masked(rec.text):
            embed_idx.append(len(recs))
        recs.append(rec)
    if embed_idx:
        before = embedder.embedded
        vecs = embedder.embed([recs[i].text for i in embed_idx])
        stats.embedded = embedder.embedded - before
        for i, vec in zip(embed_idx, vecs, strict=True):
            recs[i].embedding = vec.tolist()
    # A merged skill stays for audit (its MERGED_INTO edge) even when mining stops producing it.
    stale = [i for i, r in existing.items() if owned_by_distill(r) and i not in new_ids
             and r.props.get("status") != Status.MERGED.value]
    keep = {(e.type, e.src, e.dst, e.key): e for e in edges if e.src in new_ids}
    old_edges = {(e.type, e.src, e.dst, e.key): e for rel in DERIVED_RELS
                 for e in store.edges(rel) if e.src in new_ids}
    gone = {(t, s, d) for (t, s, d, k) in old_edges if (t, s, d, k) not in keep}
    put = [e.model_copy(update={"namespace": ns}) for ident, e in keep.items()
           if ident not in old_edges or old_edges[ident].props != e.props
           or ident[:3] in gone]
    with store.transaction():
        stats.deleted = store.delete_nodes(stale) if stale else 0
        for t, s, d in sorted(gone):
            stats.edges_deleted += store.delete_edges(t, src=s, dst=d)
        by_label: dict[Label, list[NodeRecord]] = {}
        for r in [*recs, *extra]:
            by_label.setdefault(r.label, []).append(r)
        for label_recs in by_label.values():
            store.upsert_nodes(label_recs)
        store.upsert_edges(put)
    note_written(store, [*recs, *extra], stale, put, sorted(gone))  # the step memory's caches
    stats.written = len(recs)
    stats.edges_written = len(put)
    return stats
