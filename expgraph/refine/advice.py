"""The advice pass: fit the learned fusion and the avoid model on the store's own episodes
(`expgraph.memory.model`), with out-of-fold features, and keep them in the store's metadata.
Runs last: it reads the skills and guardrails the other passes settled."""

from __future__ import annotations

from expgraph.memory.index import step_memory
from expgraph.memory.model import META_KEY, fit, load_model
from expgraph.refine.common import RefineContext
from expgraph.refine.report import Change, PassReport


def advice_pass(ctx: RefineContext) -> PassReport:
    report = PassReport(name="advice")
    if ctx.embedder is None:
        report.note = "needs the embedder (for the step memory's window vectors)"
        return report
    mem = step_memory(ctx.store, ctx.embedder)
    model = fit(mem, embed=ctx.embedder.embed)
    report.counts["steps"] = len(mem)
    report.counts["trained_on"] = model.trained_on
    old = load_model(ctx.store).to_json()
    new = model.to_json()
    if old == new:
        return report
    report.add(Change(id="advice", label="Graph", name="advice model", kind="fitted",
                      before={"trained_on": old.get("trained_on", 0)},
                      after={"trained_on": model.trained_on,
                             "threshold": round(model.threshold, 4)}))
    if not ctx.dry_run:
        ctx.store.set_meta(META_KEY, new)
    return report
