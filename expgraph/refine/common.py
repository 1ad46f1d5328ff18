"""What every pass shares: the run context, the history log, the merge chain, and the list of
props refinement owns (the distiller must carry them over when it re-upserts a node)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from expgraph.models import EdgeRecord, Label, NodeRecord, Rel, Status, utcnow
from expgraph.store.base import GraphStore

# Props that refinement (and execution feedback) writes on Skill / Guardrail nodes. A distiller
# that re-upserts an existing node must keep these as stored (see `preserve_refined`).
REFINE_OWNED = (
    "status", "history", "feedback_successes", "feedback_failures", "merged_into",
    "merged_from", "own_counts", "refine_total", "scopes", "renamed_for",
)
# Mined counts: a merge winner carries its own plus its losers' (recomputed from the parts on
# every run, so a distiller that rewrites any of them with fresh mined counts stays right).
COUNT_FIELDS = {
    Label.SKILL: ("successes", "failures", "uses", "support"),
    Label.GUARDRAIL: ("support", "failures", "total", "alternative_successes",
                      "alternative_total"),
}
FEEDBACK_FIELDS = ("feedback_successes", "feedback_failures")


def preserve_refined(existing: dict[str, Any] | None, fresh: dict[str, Any]) -> dict[str, Any]:
    """Props for re-upserting a node the distiller mined again: its fresh fields, with the
    refinement-owned ones kept from the stored node and utility recomputed over both."""
    if not existing:
        return fresh
    out = dict(fresh)
    for k in REFINE_OWNED:
        if k in existing:
            out[k] = existing[k]
    return out


@dataclass
class RefineContext:
    store: GraphStore
    embedder: Any = None
    llm: Any = None
    dry_run: bool = False
    now: str = field(default_factory=lambda: utcnow().isoformat())

    def write(self, nodes: Sequence[NodeRecord] = (), edges: Sequence[EdgeRecord] = ()) -> None:
        """Write unless this is a dry run. Nodes keep their stored embedding (None = keep)."""
        if self.dry_run:
            return
        with self.store.transaction():
            if nodes:
                self.store.upsert_nodes(list(nodes))
            if edges:
                self.store.upsert_edges(list(edges))


def merge_target(store: GraphStore, id: str) -> str:
    """Follow MERGED_INTO from `id` to the node that now carries its evidence."""
    seen = {id}
    cur = id
    while True:
        out = store.edges(Rel.MERGED_INTO, src=cur)
        if not out:
            return cur
        nxt = sorted(e.dst for e in out)[0]
        if nxt in seen:  # a cycle should never happen; stop rather than spin
            return cur
        seen.add(nxt)
        cur = nxt


def served(rec: NodeRecord) -> bool:
    return rec.props.get("status", Status.ACTIVE.value) == Status.ACTIVE.value


def name_of(rec: NodeRecord) -> str:
    p = rec.props
    return str(p.get("name") or p.get("rule") or p.get("signature") or p.get("task") or rec.text)
