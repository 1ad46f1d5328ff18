"""`expgraph show ID`: one node with its evidence, status and history — where its counts came
from, what it was merged into or absorbed, the feedback it got, and when its status moved."""

from __future__ import annotations

from collections import Counter
from typing import Any

from expgraph.audit import SERVED_LABELS
from expgraph.errors import UsageError
from expgraph.models import Rel
from expgraph.refine.common import name_of
from expgraph.scoring import item_counts, outcomes
from expgraph.store.base import GraphStore

_BULKY = ("steps", "history")
EVIDENCE_FIELDS = ("support", "uses", "successes", "failures", "total", "feedback_successes",
                   "feedback_failures", "alternative_successes", "alternative_total",
                   "member_count", "count", "attempts")


def _chain(store: GraphStore, id: str) -> list[str]:
    """Ids this node was merged into, in order (empty when it is not merged)."""
    out, cur, seen = [], id, {id}
    while (nxt := sorted(e.dst for e in store.edges(Rel.MERGED_INTO, src=cur))):
        cur = nxt[0]
        if cur in seen:
            break
        seen.add(cur)
        out.append(cur)
    return out


def _absorbed(store: GraphStore, id: str, depth: int = 0) -> list[dict[str, Any]]:
    """The nodes merged into this one, recursively (a lineage tree)."""
    if depth > 20:
        return []
    kids = sorted(e.src for e in store.edges(Rel.MERGED_INTO, dst=id))
    return [{"id": k, "absorbed": _absorbed(store, k, depth + 1)} for k in kids]


def describe(store: GraphStore, id: str) -> dict[str, Any]:
    """The node as a JSON-able dict; raises ValueError when the id is unknown."""
    rec = store.get_node(id)
    if rec is None:
        raise UsageError(f"no node with id {id!r} in namespace {store.namespace!r}")
    p = rec.props
    out_edges, in_edges = store.edges(src=id), store.edges(dst=id)
    evidence: dict[str, Any] = {k: p[k] for k in EVIDENCE_FIELDS if k in p}
    evidence["episodes"] = list(p.get("episodes") or [])
    derived = sorted({e.dst for e in out_edges if e.type == Rel.DERIVED_FROM})
    if derived:
        evidence["derived_from"] = derived[:50]
        evidence["derived_from_count"] = len(derived)
    out: dict[str, Any] = {
        "id": rec.id, "label": rec.label.value, "name": name_of(rec), "text": rec.text,
        "status": p.get("status"), "props": {k: v for k, v in p.items() if k not in _BULKY},
        "evidence": evidence, "history": list(p.get("history") or []),
        "edges": {"out": dict(Counter(e.type.value for e in out_edges)),
                  "in": dict(Counter(e.type.value for e in in_edges))},
    }
    if rec.label in SERVED_LABELS:
        evidence["utility"] = p.get("utility", 0.0)
        evidence["outcomes"] = outcomes(*item_counts(p, rec.label.value))
        chain = _chain(store, id)
        out["lineage"] = {
            "merged_into": chain, "current": chain[-1] if chain else id,
            "supersedes": sorted(e.dst for e in out_edges if e.type == Rel.SUPERSEDES),
            "superseded_by": sorted(e.src for e in in_edges if e.type == Rel.SUPERSEDES),
            "absorbed": _absorbed(store, id),
        }
        out["feedback"] = sorted(
            ({"episode": e.dst, "helped": bool(e.props.get("helped")),
              "served": e.props.get("served", id), "at": e.props.get("at"),
              "via_merge": e.props.get("via_merge")}
             for e in out_edges if e.type == Rel.RETRIEVED_FOR),
            key=lambda d: (str(d["at"]), d["episode"]))
    return out
