"""The recluster pass: once enough new episodes arrived (+20% since the last clustering), the
states and task clusters are rebuilt by distillation itself (`distill(rebuild=True)`).

Why a rebuild and not a second state-merging routine here: state ids are baked into every
episode's steps, TRANSITION/VISITS edges, preconditions, Failure identities and guardrail
triggers; re-pointing all of that from refine would duplicate the rebuild and drift from it.
What a rebuild would lose is refine's own evidence, so it is carried across: execution
feedback (RETRIEVED_FOR edges and episode-less feedback from the history log) and each node's
history. Merges, retirements and promotions are functions of the graph, so the passes that
run after this one redo them."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from expgraph.models import EdgeRecord, Label, Rel
from expgraph.refine.common import SERVED_LABELS, RefineContext, add_history, rescore_props, touch
from expgraph.refine.report import Change, PassReport

RECLUSTER_GROWTH = 0.20
META_KEY = "refine.recluster_episodes"


def due(episodes: int, last: int | None, growth: float = RECLUSTER_GROWTH) -> bool:
    """True when the episode count grew by `growth` since `last` (never on the first look)."""
    return last is not None and episodes >= max(last + 1, math.ceil(last * (1 + growth)))


def snapshot(store) -> dict[str, Any]:  # noqa: ANN001
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


def restore(store, snap: dict[str, Any], now: str) -> int:  # noqa: ANN001
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


def recluster_pass(ctx: RefineContext, growth: float = RECLUSTER_GROWTH) -> PassReport:
    report = PassReport(name="recluster")
    n = int(ctx.store.count_by_label().get(Label.EPISODE.value, 0))
    last = ctx.store.get_meta(META_KEY)
    report.counts["episodes"] = n
    if last is None:
        if not ctx.dry_run:
            ctx.store.set_meta(META_KEY, n)
        report.note = f"baseline recorded: {n} episodes"
        return report
    if not due(n, int(last), growth):
        report.note = (f"{n} episodes; last clustering at {last}, "
                       f"next at {max(int(last) + 1, math.ceil(int(last) * (1 + growth)))}")
        return report
    try:
        from expgraph.distill import distill
    except ImportError:
        report.note = "due, but distillation is not available"
        return report
    change = Change(id="graph", label="Graph", name="states and task clusters", kind="rebuilt",
                    before={"episodes": int(last)}, after={"episodes": n})
    if ctx.dry_run:
        report.add(change)
        return report
    snap = snapshot(ctx.store)
    distill(ctx.store, ctx.embedder, llm=ctx.llm, rebuild=True)
    change.after["restored"] = restore(ctx.store, snap, ctx.now)
    ctx.store.set_meta(META_KEY, n)
    report.add(change)
    return report
