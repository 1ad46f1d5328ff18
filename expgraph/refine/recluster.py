"""The recluster pass: once enough new episodes arrived (+20% since the last clustering), the
states and task clusters are rebuilt by distillation itself (`distill(rebuild=True)`).

Why a rebuild and not a second state-merging routine here: state ids are baked into every
episode's steps, TRANSITION/VISITS edges, preconditions, Failure identities and guardrail
triggers; re-pointing all of that from refine would duplicate the rebuild and drift from it.
Refine's own evidence (execution feedback, each node's history) is carried across by the
rebuild itself (`expgraph.distill.evidence`). Merges, retirements and promotions are functions
of the graph, so the passes that run after this one redo them."""

from __future__ import annotations

import math

from expgraph.distill import distill
from expgraph.models import Label
from expgraph.refine.common import RefineContext
from expgraph.refine.report import Change, PassReport

RECLUSTER_GROWTH = 0.20
META_KEY = "refine.recluster_episodes"


def due(episodes: int, last: int | None, growth: float = RECLUSTER_GROWTH) -> bool:
    """True when the episode count grew by `growth` since `last` (never on the first look)."""
    return last is not None and episodes >= max(last + 1, math.ceil(last * (1 + growth)))


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
    change = Change(id="graph", label="Graph", name="states and task clusters", kind="rebuilt",
                    before={"episodes": int(last)}, after={"episodes": n})
    if ctx.dry_run:
        report.add(change)
        return report
    change.after["restored"] = distill(ctx.store, ctx.embedder, llm=ctx.llm,
                                       rebuild=True).restored
    ctx.store.set_meta(META_KEY, n)
    report.add(change)
    return report
