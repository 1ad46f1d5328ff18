"""Rescore and retire: utility from the counts, status from the utility.

Both are functions of the stored counts, so running them twice changes nothing, and a skill
retired for low utility comes back as soon as feedback lifts it over the threshold."""

from __future__ import annotations

from expgraph.audit import SERVED_LABELS, add_history, touch
from expgraph.models import Label, Status
from expgraph.refine.common import RefineContext, name_of
from expgraph.refine.report import Change, PassReport
from expgraph.scoring import (
    RETIRE_MIN_OUTCOMES,
    RETIRE_UTILITY,
    item_counts,
    item_utility,
    outcomes,
    should_retire,
)

EPS = 1e-9


def rescore_pass(ctx: RefineContext) -> PassReport:
    report = PassReport(name="rescore")
    changed = []
    for label in SERVED_LABELS:
        recs = ctx.store.find_nodes(label)
        report.counts[f"examined_{label.value.lower()}"] = len(recs)
        for rec in recs:
            old = float(rec.props.get("utility") or 0.0)
            new = item_utility(rec.props, label.value)
            if abs(new - old) <= EPS:
                continue
            rec.props["utility"] = new
            changed.append(touch(rec, ctx.now))
            report.add(Change(id=rec.id, label=label.value, name=name_of(rec), kind="utility",
                              before={"utility": old}, after={"utility": new}))
    ctx.write(changed)
    return report


def retire_pass(ctx: RefineContext, threshold: float = RETIRE_UTILITY,
                min_outcomes: float = RETIRE_MIN_OUTCOMES) -> PassReport:
    """Active items with utility < threshold on >= min_outcomes outcomes become deprecated;
    deprecated ones whose utility is back at or above the threshold become active again."""
    report = PassReport(name="retire")
    changed = []
    for label in SERVED_LABELS:
        for rec in ctx.store.find_nodes(label):
            status = rec.props.get("status", Status.ACTIVE.value)
            if status not in (Status.ACTIVE.value, Status.DEPRECATED.value):
                continue
            u = item_utility(rec.props, label.value)
            n = outcomes(*item_counts(rec.props, label.value))
            if status == Status.ACTIVE.value and should_retire(u, n, threshold, min_outcomes):
                new, kind = Status.DEPRECATED.value, "retired"
            elif status == Status.DEPRECATED.value and u >= threshold:
                new, kind = Status.ACTIVE.value, "reactivated"
            else:
                continue
            rec.props["status"] = new
            rec.props["utility"] = u
            add_history(rec.props, kind, {"utility": round(u, 4), "outcomes": n}, ctx.now)
            changed.append(touch(rec, ctx.now))
            report.add(Change(id=rec.id, label=label.value, name=name_of(rec), kind=kind,
                              before={"status": status},
                              after={"status": new, "utility": u, "outcomes": n}))
    ctx.write(changed)
    report.note = f"threshold utility<{threshold} with >={min_outcomes:g} outcomes"
    return report


def active_counts(store, label: Label = Label.SKILL) -> dict[str, int]:  # noqa: ANN001
    """Active skills per tier (or active nodes of another label under key 'all')."""
    out: dict[str, int] = {}
    for rec in store.find_nodes(label, where={"status": Status.ACTIVE.value}):
        key = str(rec.props.get("tier", "all"))
        out[key] = out.get(key, 0) + 1
    return out
