"""The merge pass: near-duplicate skills of one tier become one.

Duplicates are found in two stages: the same action template sequence (case and spacing
folded), then cosine >= 0.90 (SkillX) between skill texts (name + description + template)
when the two do the same actions at the verb level. Losers are never deleted: they get
status `merged`, a MERGED_INTO edge to the winner, and the winner a SUPERSEDES edge back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from expgraph.models import EdgeRecord, Label, NodeRecord, Rel, Status
from expgraph.refine.common import (
    COUNT_FIELDS,
    RefineContext,
    add_history,
    merge_target,
    name_of,
    rescore_props,
    touch,
)
from expgraph.refine.report import Change, PassReport
from expgraph.templates import template_name

MERGE_SIMILARITY = 0.90  # SkillX's near-duplicate threshold
MERGEABLE = (Status.ACTIVE.value, Status.DEPRECATED.value)
LIST_CAPS = {"examples": 10, "episodes": 20, "preconditions": 20, "verification": 20,
             "parameters": 20, "pitfalls": 20, "scopes": 50}
_NO_COPY = (Rel.MERGED_INTO, Rel.SUPERSEDES)


def norm_actions(actions: Sequence[str]) -> tuple[str, ...]:
    return tuple(" ".join(str(a).lower().split()) for a in actions)


def verbs(actions: Sequence[str]) -> tuple[str, ...]:
    return tuple(template_name(a).lower() for a in norm_actions(actions))


def group_duplicates(items: Sequence[tuple[str, str, Sequence[str], float]],
                     vectors: np.ndarray | None, threshold: float = MERGE_SIMILARITY,
                     compatible: Callable[[Sequence[str], Sequence[str]], bool] | None = None,
                     ) -> dict[str, list[str]]:
    """Leader clustering over (id, tier, actions, support): visited by support then id, each
    item joins the first leader of its tier with the same actions, else the most similar
    leader (>= threshold, same verbs), else leads. Leaders are compared with members one by
    one, so similarity never chains (A~B, B~C does not pull C to A). Returns winner -> losers."""
    same = compatible or (lambda a, b: verbs(a) == verbs(b))
    order = sorted(range(len(items)), key=lambda i: (-items[i][3], items[i][0]))
    leaders: list[int] = []
    groups: dict[int, list[int]] = {}
    by_key: dict[tuple[str, tuple[str, ...]], int] = {}
    for i in order:
        iid, tier, actions, _ = items[i]
        key = (tier, norm_actions(actions))
        if key in by_key:
            groups[by_key[key]].append(i)
            continue
        best, best_sim = -1, threshold
        if vectors is not None and leaders:
            cand = [j for j in leaders if items[j][1] == tier and same(items[j][2], actions)]
            if cand:
                sims = vectors[cand] @ vectors[i]
                k = int(np.argmax(sims))
                if sims[k] >= best_sim:
                    best, best_sim = cand[k], float(sims[k])
        if best >= 0:
            groups[best].append(i)
            continue
        leaders.append(i)
        groups[i] = []
        by_key[key] = i
    return {items[w][0]: [items[x][0] for x in ls] for w, ls in groups.items() if ls}


def _union(a: Sequence[Any], b: Sequence[Any], cap: int) -> list[Any]:
    out = list(a)
    for x in b:
        if x not in out:
            out.append(x)
    return out[:cap]


def absorb(winner: dict[str, Any], loser: dict[str, Any], label: Label) -> None:
    """Add a loser's counts and provenance into the winner's props (in place)."""
    for f in COUNT_FIELDS[label]:
        winner[f] = (winner.get(f) or 0) + (loser.get(f) or 0)
    if label == Label.SKILL:
        winner.setdefault("scopes", [winner.get("scope", "")])
        winner["scopes"] = _union(winner["scopes"], loser.get("scopes", [loser.get("scope", "")]),
                                  LIST_CAPS["scopes"])
    for f, cap in LIST_CAPS.items():
        if f != "scopes" and (f in winner or f in loser):
            winner[f] = _union(winner.get(f) or [], loser.get(f) or [], cap)
    winner["merged_from"] = _union(winner.get("merged_from") or [], [loser["_id"]], 1000)


def counts_of(props: dict[str, Any], label: Label) -> dict[str, float]:
    return {f: props.get(f) or 0 for f in COUNT_FIELDS[label]}


def merge_records(ctx: RefineContext, report: PassReport, winner: NodeRecord,
                  losers: Sequence[NodeRecord]) -> list[EdgeRecord]:
    """Fold `losers` into `winner`: counts, provenance, edges, lineage, history. Mutates the
    records (the caller writes them) and returns the edges to write."""
    label = winner.label
    ns = ctx.store.namespace
    before = {"utility": winner.props.get("utility", 0.0), **counts_of(winner.props, label)}
    edges: list[EdgeRecord] = []
    for lo in losers:
        absorb(winner.props, {**lo.props, "_id": lo.id}, label)
        edges += _carry_edges(ctx, lo.id, winner.id)
        edges.append(EdgeRecord(src=lo.id, dst=winner.id, type=Rel.MERGED_INTO,
                                props={"at": ctx.now}, namespace=ns))
        edges.append(EdgeRecord(src=winner.id, dst=lo.id, type=Rel.SUPERSEDES,
                                props={"at": ctx.now}, namespace=ns))
        old_status = lo.props.get("status", Status.ACTIVE.value)
        lo.props["status"] = Status.MERGED.value
        lo.props["merged_into"] = winner.id
        lo.props["merged_counts"] = counts_of(lo.props, label)
        add_history(lo.props, "merged", {"into": winner.id, "from_status": old_status}, ctx.now)
        touch(lo, ctx.now)
        report.add(Change(id=lo.id, label=label.value, name=name_of(lo), kind="merged",
                          before={"status": old_status},
                          after={"status": Status.MERGED.value, "into": winner.id}))
    rescore_props(winner.props, label)
    add_history(winner.props, "absorbed", {"losers": [lo.id for lo in losers]}, ctx.now)
    touch(winner, ctx.now)
    report.add(Change(id=winner.id, label=label.value, name=name_of(winner), kind="absorbed",
                      before=before, after={"utility": winner.props["utility"],
                                            **counts_of(winner.props, label)}))
    return edges


def _carry_edges(ctx: RefineContext, loser: str, winner: str) -> list[EdgeRecord]:
    """Copy the loser's edges onto the winner (kept on the loser for audit); parents'
    COMPOSED_OF edges are re-pointed, so compositions name the active skill."""
    store = ctx.store
    have = {e.ident for e in store.edges(src=winner)} | {e.ident for e in store.edges(dst=winner)}
    out: list[EdgeRecord] = []
    for e in store.edges(src=loser):
        if e.type in _NO_COPY or e.type == Rel.COMPOSED_OF or e.dst == winner:
            continue
        props = {**e.props, "via_merge": loser} if e.type == Rel.RETRIEVED_FOR else e.props
        new = e.model_copy(update={"src": winner, "props": props})
        if new.ident not in have:
            out.append(new)
    for e in store.edges(dst=loser):
        if e.type in _NO_COPY or e.src == winner:
            continue
        new = e.model_copy(update={"dst": winner})
        if e.type == Rel.COMPOSED_OF and not ctx.dry_run:
            store.delete_edges(Rel.COMPOSED_OF, src=e.src, dst=loser)
        if new.ident not in have:
            out.append(new)
    return out


def sync_merged(ctx: RefineContext, report: PassReport, label: Label) -> list[NodeRecord]:
    """Keep merges true when the distiller re-upserts a merged node: put its status back and
    forward any counts it gained since the merge to the node it was merged into."""
    links = ctx.store.edges(Rel.MERGED_INTO)
    if not links:
        return []
    losers = {r.id: r for r in ctx.store.get_nodes([e.src for e in links]) if r.label == label}
    targets: dict[str, NodeRecord] = {}
    out: list[NodeRecord] = []
    for lid in sorted(losers):
        lo = losers[lid]
        cur, snap = counts_of(lo.props, label), lo.props.get("merged_counts") or {}
        delta = {f: cur[f] - (snap.get(f) or 0) for f in cur if cur[f] > (snap.get(f) or 0)}
        resurrected = lo.props.get("status") != Status.MERGED.value
        if not delta and not resurrected:
            continue
        tid = merge_target(ctx.store, lid)
        if delta and tid != lid:
            tgt = targets.get(tid) or ctx.store.get_node(tid)
            if tgt is not None:
                targets[tid] = tgt
                before = counts_of(tgt.props, label)
                for f, d in delta.items():
                    tgt.props[f] = (tgt.props.get(f) or 0) + d
                rescore_props(tgt.props, label)
                add_history(tgt.props, "forwarded", {"from": lid, "counts": delta}, ctx.now)
                report.add(Change(id=tid, label=label.value, name=name_of(tgt), kind="forwarded",
                                  before=before, after=counts_of(tgt.props, label)))
        if resurrected:
            report.add(Change(id=lid, label=label.value, name=name_of(lo), kind="re-merged",
                              before={"status": lo.props.get("status")},
                              after={"status": Status.MERGED.value}))
            add_history(lo.props, "re-merged", {"into": tid}, ctx.now)
        lo.props["status"] = Status.MERGED.value
        lo.props["merged_counts"] = cur
        out.append(touch(lo, ctx.now))
    return out + [touch(t, ctx.now) for t in targets.values()]


def _vectors(ctx: RefineContext, recs: Sequence[NodeRecord]) -> np.ndarray | None:
    if not recs:
        return None
    missing = [i for i, r in enumerate(recs) if not r.embedding]
    if missing and ctx.embedder is None:
        return None
    dim = len(next((r.embedding for r in recs if r.embedding), [])) or ctx.embedder.dim
    mat = np.zeros((len(recs), dim), dtype=np.float32)
    for i, r in enumerate(recs):
        if r.embedding:
            mat[i] = r.embedding
    if missing:
        mat[missing] = ctx.embedder.embed([recs[i].text for i in missing])
    norms = np.linalg.norm(mat, axis=1, keepdims=True)
    return mat / np.where(norms == 0, 1.0, norms)


def merge_pass(ctx: RefineContext) -> PassReport:
    report = PassReport(name="merge")
    synced = sync_merged(ctx, report, Label.SKILL)
    ctx.write(synced)
    recs = [r for r in ctx.store.find_nodes(Label.SKILL, with_embedding=True)
            if r.props.get("status", Status.ACTIVE.value) in MERGEABLE]
    report.counts["examined"] = len(recs)
    by_id = {r.id: r for r in recs}
    items = [(r.id, str(r.props.get("tier")), r.props.get("actions") or [],
              float(r.props.get("support") or 0)) for r in recs]
    groups = group_duplicates(items, _vectors(ctx, recs))
    nodes: list[NodeRecord] = []
    edges: list[EdgeRecord] = []
    for wid in sorted(groups):
        winner, losers = by_id[wid], [by_id[x] for x in groups[wid]]
        edges += merge_records(ctx, report, winner, losers)
        nodes += [winner, *losers]
    ctx.write(nodes, edges)
    return report
