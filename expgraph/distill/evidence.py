"""What a rebuild must carry across: execution feedback (RETRIEVED_FOR edges and episode-less
feedback from the history log) and each served node's history. Node ids are deterministic, so
the rebuilt skills and guardrails get their evidence back by id."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from expgraph.audit import SERVED_LABELS, add_history, rescore_props, touch
from expgraph.models import EdgeRecord, Rel
from expgraph.store.base import GraphStore


def snapshot(store: GraphStore) -> dict[str, Any]:
    """Refine-owned evidence on Skill/Guardrail nodes, keyed by (deterministic) node id."""
    edges = [e for e in store.edges(Rel.RETRIEVED_FOR) if not e.props.get("via_merge")]
    manual: dict[str, list[bool]] = defaultdict(list)
    history: dict[str, list] = {}
    for label in SERVED_LABELS:
        for rec in store.find_nodes(label):
            log = rec.props.get("history") or []
            if log:
                history[rec.id] = log
            for h in log:
                if h.get("event") == "feedback" and isinstance(h.get("detail"), dict):
                    manual[rec.id].append(bool(h["detail"].get("success")))
    return {"edges": edges, "manual": dict(manual), "history": history}


def restore(store: GraphStore, snap: dict[str, Any], now: str) -> int:
    """Put feedback counters, RETRIEVED_FOR edges and history back on the nodes that the
    rebuild re-created; returns how many nodes got evidence back."""
    fb: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for e in snap["edges"]:
        fb[e.src][0 if e.props.get("helped") else 1] += 1
    for nid, outs in snap["manual"].items():
        for ok in outs:
            fb[nid][0 if ok else 1] += 1
    ids = set(fb) | set(snap["history"])
    recs = store.get_nodes(sorted(ids))
    alive = {r.id for r in recs}
    for rec in recs:
        s, f = fb.get(rec.id, (0, 0))
        rec.props["feedback_successes"] = s
        rec.props["feedback_failures"] = f
        rec.props["history"] = list(snap["history"].get(rec.id, []))
        add_history(rec.props, "rebuilt", {"feedback": [s, f]}, now)
        rescore_props(rec.props, rec.label)
        touch(rec, now)
    edges: list[EdgeRecord] = [e for e in snap["edges"] if e.src in alive]
    with store.transaction():
        store.upsert_nodes(recs)
        store.upsert_edges(edges)
    return len(recs)
