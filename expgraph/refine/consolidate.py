"""The consolidate pass: guardrails that forbid the same action(s) under the same trigger
become one, and the survivor's severity grows with the support it gathered.

"Same trigger" = the same readable trigger text, or trigger states whose signature embeddings
sit at or above the state-merge threshold (the threshold ingest uses to call two
observations one abstract state)."""

from __future__ import annotations

import numpy as np

from expgraph.audit import touch
from expgraph.distill.states import STATE_MERGE_THRESHOLD
from expgraph.models import Label, NodeRecord, Status
from expgraph.refine.common import RefineContext, name_of
from expgraph.refine.merge import (
    group_duplicates,
    merge_groups,
    norm_actions,
    settle,
    sync_merged,
    write_merges,
)
from expgraph.refine.report import Change, PassReport
from expgraph.scoring import guardrail_severity


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
    recs_m, links, edges = sync_merged(ctx, report, Label.GUARDRAIL)
    recs = [r for r in ctx.store.find_nodes(Label.GUARDRAIL)
            if r.id not in links and r.props.get("status", Status.ACTIVE.value) in (
                Status.ACTIVE.value, Status.DEPRECATED.value)]
    report.counts["examined"] = len(recs)
    by_id = {r.id: recs_m.get(r.id, r) for r in recs}
    # Group key = the forbidden set; "actions" = the trigger text, matched exactly first.
    items = [(r.id, "|".join(sorted(norm_actions(r.props.get("forbidden") or []))),
              [" ".join(str(r.props.get("trigger") or r.props.get("trigger_state")).split())],
              float(r.props.get("support") or 0)) for r in recs]
    groups = group_duplicates(items, _trigger_vectors(ctx, recs), STATE_MERGE_THRESHOLD,
                              compatible=lambda a, b: True)
    dirty = merge_groups(ctx, report, groups, by_id, recs_m, links, edges)
    # Severity follows the settled support of every winner (old merges included).
    settled = settle(ctx, PassReport(name="scratch"), {k: v.model_copy(deep=True)
                                                         for k, v in recs_m.items()}, links,
                     Label.GUARDRAIL)
    for r in settled:
        p = recs_m[r.id].props
        old = float(p.get("severity") or 0.0)
        sev = round(guardrail_severity(float(r.props.get("support") or 0),
                                       float(r.props.get("failures") or 0),
                                       float(r.props.get("total") or 0)), 4)
        if abs(sev - old) > 1e-12:
            p["severity"] = sev
            dirty.append(touch(recs_m[r.id], ctx.now))
            report.add(Change(id=r.id, label="Guardrail", name=name_of(r), kind="severity",
                              before={"severity": old}, after={"severity": sev}))
    write_merges(ctx, report, Label.GUARDRAIL, recs_m, links, dirty, edges)
    return report
