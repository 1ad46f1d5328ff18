"""Refinement: offline passes that keep the distilled graph small and honest — merge
near-duplicates, rescore, retire what does not work, promote what became frequent, prune what
is covered, consolidate guardrails, re-cluster when the data grew — plus execution feedback.

`refine(store, embedder)` runs the passes in order; each is idempotent and reports what it
changed, so a second run reports zero changes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from expgraph.errors import UsageError
from expgraph.refine.advice import advice_pass
from expgraph.refine.common import RefineContext
from expgraph.refine.consolidate import consolidate_pass
from expgraph.refine.lifecycle import rescore_pass, retire_pass
from expgraph.refine.llm import rename_pass
from expgraph.refine.merge import merge_pass
from expgraph.refine.recluster import recluster_pass
from expgraph.refine.report import Change, PassReport, RefineReport
from expgraph.refine.sequences import promote_pass, prune_pass
from expgraph.store.base import GraphStore

# Order matters: a rebuild first; merges before anything counts; promote/prune over the merged
# skills; utility after every count moved; retire on the fresh utility; names last.
PASSES: dict[str, Callable[[RefineContext], PassReport]] = {
    "recluster": recluster_pass,
    "merge": merge_pass,
    "consolidate": consolidate_pass,
    "promote": promote_pass,
    "rescore": rescore_pass,
    "retire": retire_pass,
    # Prune last: it asks which functional skills are active, so it must see what retire
    # decided in this run, or the next run would undo it.
    "prune": prune_pass,
    "rename": rename_pass,
    # Advice last: the fusion and avoid models are fit on the graph the other passes left.
    "advice": advice_pass,
}

__all__ = ["PASSES", "Change", "PassReport", "RefineReport", "refine"]


def refine(store: GraphStore, embedder: Any = None, passes: Sequence[str] | None = None,
           dry_run: bool = False, llm: Any = None) -> RefineReport:
    """Run `passes` (default: all, in the canonical order) and report every change.
    With `dry_run` nothing is written; each pass then sees the graph as it was."""
    names = list(PASSES) if not passes else [p.strip().lower() for p in passes]
    unknown = [n for n in names if n not in PASSES]
    if unknown:
        raise UsageError(f"unknown refine pass {', '.join(unknown)}; "
                         f"choose from {', '.join(PASSES)}")
    ordered = [n for n in PASSES if n in names]
    ctx = RefineContext(store=store, embedder=embedder, llm=llm, dry_run=dry_run)
    report = RefineReport(dry_run=dry_run)
    for name in ordered:
        if name == "recluster" or dry_run:
            report.passes.append(PASSES[name](ctx))
            continue
        with store.transaction():  # a pass lands whole or not at all
            report.passes.append(PASSES[name](ctx))
    return report
