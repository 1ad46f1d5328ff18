"""The consolidate pass: guardrails that forbid the same action(s) under the same trigger
become one, and the survivor's severity grows with the support it gathered.

"Same trigger" = the same readable trigger text, or trigger states whose signature embeddings
sit at or above the state-merge threshold (the threshold ingest uses to call two
observations one abstract state)."""

from __future__ import annotations

import numpy as np

from expgraph.distill.states import STATE_MERGE_THRESHOLD
from expgraph.models import EdgeRecord, Label, NodeRecord, Status
from expgraph.refine.common import RefineContext, name_of, touch
from expgraph.refine.merge import group_duplicates, merge_records, norm_actions, sync_merged
from expgraph.refine.report import Change, PassReport
from expgraph.refine.scoring import guardrail_severity


def _trigger_vectors(ctx: RefineContext, recs: list[NodeRecord]) -> np.ndarray | None:
    wanted = {r.props.get("trigger_state") for r in recs}
    states = {s.id: s.embedding for s in ctx.store.find_nodes(Label.STATE, with_embedding=True)
              if s.id in wanted and s.embedding}
    if not states:
        return None
    dim = len(next(iter(states.values())))
    mat = np.zeros((len(recs), dim), dtype=np.float32)
    for i, r in enumerate(recs):
        v = states.get(r.props.get("trigger_state"))
        if v is not None:
            mat[i] = v
    norms = np.linalg.norm(mat, axis=1, keepdims=True)
    return mat / np.where(norms == 0, 1.0, norms)


def consolidate_pass(ctx: RefineContext) -> PassReport:
    report = PassReport(name="consolidate")
    ctx.write(sync_merged(ctx, report, Label.GUARDRAIL))
    recs = [r for r in ctx.store.find_nodes(Label.GUARDRAIL)
            if r.props.get("status", Status.ACTIVE.value) in (Status.ACTIVE.value,
                                                               Status.DEPRECATED.value)]
    report.counts["examined"] = len(recs)
    by_id = {r.id: r for r in recs}
    # Group key = the forbidden set; "actions" = the trigger text, matched exactly first.
    items = [(r.id, "|".join(sorted(norm_actions(r.props.get("forbidden") or []))),
              [" ".join(str(r.props.get("trigger") or r.props.get("trigger_state")).split())],
              float(r.props.get("support") or 0)) for r in recs]
    groups = group_duplicates(items, _trigger_vectors(ctx, recs), STATE_MERGE_THRESHOLD,
                              compatible=lambda a, b: True)
    nodes: list[NodeRecord] = []
    edges: list[EdgeRecord] = []
    for wid in sorted(groups):
        winner, losers = by_id[wid], [by_id[x] for x in groups[wid]]
        edges += merge_records(ctx, report, winner, losers)
        p = winner.props
        old = float(p.get("severity") or 0.0)
        sev = max(old, guardrail_severity(float(p.get("support") or 0),
                                          float(p.get("failures") or 0),
                                          float(p.get("total") or 0)))
        if sev > old:
            p["severity"] = sev
            report.add(Change(id=wid, label="Guardrail", name=name_of(winner), kind="severity",
                              before={"severity": old}, after={"severity": sev}))
        nodes += [touch(winner, ctx.now), *losers]
    ctx.write(nodes, edges)
    return report
