"""Passes over the action sequences of episodes: prune (atomic skills that functional skills
fully cover become `redundant`) and promote (atomic sequences newly frequent in successful
episodes become functional skills). Both read each episode's step keys as templates."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from expgraph.audit import add_history, touch
from expgraph.distill.corpus import load_corpus
from expgraph.distill.skills import MIN_SUPPORT, closed_sequences
from expgraph.models import Label, NodeRecord, SkillNode, Status, Tier
from expgraph.refine.common import RefineContext, merge_target, name_of
from expgraph.refine.merge import norm_actions
from expgraph.refine.report import Change, PassReport
from expgraph.scoring import utility

PROMOTE_MIN_SUPPORT = MIN_SUPPORT  # distinct successful episodes, as distillation mines


def episode_sequences(store) -> list[tuple[str, bool | None, list[str]]]:  # noqa: ANN001
    """(episode node id, success, templates of what it did) per stored episode, read the way
    distillation reads them (its corpus: constants learned over all episodes, thoughts and
    errored steps left out), so refine and distill count the same sequences."""
    corpus = load_corpus(store)
    return [(e.id, e.success, [s.template for s in e.procedure()]) for e in corpus.distinct]


def occurrences(seq: Sequence[str], pattern: Sequence[str]) -> list[int]:
    """Start positions of `pattern` as a contiguous run in `seq`."""
    n = len(pattern)
    if not n:
        return []
    return [i for i in range(len(seq) - n + 1) if tuple(seq[i:i + n]) == tuple(pattern)]


def coverage(sequences: Sequence[Sequence[str]], patterns: Sequence[Sequence[str]],
             ) -> dict[str, tuple[int, int]]:
    """Per template: (uses, uses not inside any occurrence of a pattern)."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for seq in sequences:
        norm = [norm_actions([a])[0] for a in seq]
        covered = [False] * len(norm)
        for p in patterns:
            for i in occurrences(norm, p):
                for j in range(i, i + len(p)):
                    covered[j] = True
        for a, c in zip(norm, covered, strict=True):
            out[a][0] += 1
            out[a][1] += 0 if c else 1
    return {k: (v[0], v[1]) for k, v in out.items()}


def prune_pass(ctx: RefineContext) -> PassReport:
    """An atomic skill is redundant when every use of its action in a successful episode lies
    inside an occurrence of an active functional skill and it carries no pitfalls (the one
    thing an atomic skill knows that a procedure does not); active again when that changes."""
    report = PassReport(name="prune")
    skills = ctx.store.find_nodes(Label.SKILL)
    functional = [norm_actions(r.props.get("actions") or []) for r in skills
                  if r.props.get("tier") == Tier.FUNCTIONAL.value
                  and r.props.get("status", "active") == Status.ACTIVE.value]
    seqs = [s for _, ok, s in episode_sequences(ctx.store) if ok]
    cov = coverage(seqs, [f for f in functional if len(f) > 1])
    changed: list[NodeRecord] = []
    for rec in skills:
        actions = norm_actions(rec.props.get("actions") or [])
        status = rec.props.get("status", Status.ACTIVE.value)
        if rec.props.get("tier") != Tier.ATOMIC.value or len(actions) != 1 or status not in (
                Status.ACTIVE.value, Status.REDUNDANT.value):
            continue
        uses, uncovered = cov.get(actions[0], (0, 0))
        covered = uses > 0 and uncovered == 0 and not rec.props.get("pitfalls")
        if status == Status.ACTIVE.value and covered:
            new, kind = Status.REDUNDANT.value, "redundant"
        elif status == Status.REDUNDANT.value and not covered:
            new, kind = Status.ACTIVE.value, "reactivated"
        else:
            continue
        rec.props["status"] = new
        add_history(rec.props, kind, {"successful_uses": uses, "uncovered": uncovered}, ctx.now)
        changed.append(touch(rec, ctx.now))
        report.add(Change(id=rec.id, label="Skill", name=name_of(rec), kind=kind,
                          before={"status": status},
                          after={"status": new, "uses": uses, "uncovered": uncovered}))
    report.counts["functional_active"] = len(functional)
    ctx.write(changed)
    return report


def _canonical_templates(ctx: RefineContext, skills: list[NodeRecord]) -> dict[str, str]:
    """Template of each merged atomic skill -> the template of the skill it was merged into,
    so sequences split across near-duplicate wordings count together after a merge."""
    by_id = {r.id: r for r in skills}
    out: dict[str, str] = {}
    for r in skills:
        if r.props.get("tier") != Tier.ATOMIC.value or r.props.get("status") != "merged":
            continue
        tgt = by_id.get(merge_target(ctx.store, r.id))
        if tgt is not None and len(tgt.props.get("actions") or []) == 1:
            src = norm_actions(r.props.get("actions") or [])
            if len(src) == 1:
                out[src[0]] = norm_actions(tgt.props["actions"])[0]
    return out


def frequent_runs(sequences: Sequence[tuple[str, Sequence[str]]], allowed: set[str],
                  min_support: int = PROMOTE_MIN_SUPPORT) -> dict[tuple[str, ...], set[str]]:
    """Closed contiguous runs in >= min_support episodes (distillation's own miner), kept when
    every template in them is an allowed (live atomic) skill."""
    closed = closed_sequences({eid: list(seq) for eid, seq in sequences}, min_support)
    return {r: e for r, e in closed.items() if all(a in allowed for a in r)}


def promote_pass(ctx: RefineContext) -> PassReport:
    """Functional skills for closed atomic runs in >= 2 successful episodes that no skill of
    any status holds yet (a merged or retired one is never re-created)."""
    report = PassReport(name="promote")
    skills = ctx.store.find_nodes(Label.SKILL)
    known = {norm_actions(r.props.get("actions") or []) for r in skills
             if r.props.get("tier") == Tier.FUNCTIONAL.value}
    canon = _canonical_templates(ctx, skills)
    atomic = {norm_actions(r.props.get("actions") or [])[0]: r for r in skills
              if r.props.get("tier") == Tier.ATOMIC.value and len(r.props.get("actions") or []) == 1
              and r.props.get("status", "active") in ("active", "redundant")}
    eps = episode_sequences(ctx.store)
    ok_seqs = [(eid, [canon.get(a, a) for a in norm_actions(s)]) for eid, ok, s in eps if ok]
    fail_seqs = [[canon.get(a, a) for a in norm_actions(s)] for _, ok, s in eps if ok is False]
    runs = frequent_runs(ok_seqs, set(atomic))
    report.counts["candidates"] = len(runs)
    new: list[NodeRecord] = []
    for run, eids in sorted(runs.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        if run in known:
            continue
        fails = sum(1 for s in fail_seqs if occurrences(s, run))
        parts = [name_of(atomic[a]) for a in run]
        node = SkillNode(
            tier=Tier.FUNCTIONAL, name=" then ".join(parts)[:120],
            description=f"Do in order: {'; '.join(parts)}.", actions=list(run),
            support=len(eids), uses=len(eids), successes=len(eids), failures=fails,
            utility=utility(len(eids), fails), source="promoted",
            episodes=sorted(eids)[:20], created_at=ctx.now, updated_at=ctx.now)
        rec = node.to_record(ctx.store.namespace)
        add_history(rec.props, "promoted", {"support": len(eids), "from": list(run)}, ctx.now)
        if ctx.embedder is not None:
            rec.embedding = ctx.embedder.embed([rec.text])[0].tolist()
        new.append(rec)
        report.add(Change(id=rec.id, label="Skill", name=node.name, kind="created",
                          after={"tier": "functional", "support": len(eids), "actions": run}))
    ctx.write(new, _composition_edges(ctx, new, atomic))
    return report


def _composition_edges(ctx: RefineContext, new: list[NodeRecord],
                       atomic: dict[str, NodeRecord]) -> list:
    from expgraph.models import EdgeRecord, Rel

    edges = []
    for rec in new:
        for i, a in enumerate(norm_actions(rec.props["actions"])):
            edges.append(EdgeRecord(src=rec.id, dst=atomic[a].id, type=Rel.COMPOSED_OF,
                                    key=str(i), props={"order": i},
                                    namespace=ctx.store.namespace))
        for ep in rec.props.get("episodes", []):
            edges.append(EdgeRecord(src=rec.id, dst=ep, type=Rel.DERIVED_FROM,
                                    namespace=ctx.store.namespace))
    return edges
