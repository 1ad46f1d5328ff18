"""The merge pass: near-duplicate skills of one tier become one.

Duplicates are found in two stages: the same action template sequence (case and spacing
folded), then cosine >= 0.90 (SkillX) between skill texts (name + description + template)
when the two templates agree step by step up to slot names (see `same_procedure`). Losers
are never deleted: they get status `merged`, a MERGED_INTO edge to the winner, and the
winner a SUPERSEDES edge back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from expgraph.audit import add_history, rescore_props, touch
from expgraph.models import EdgeRecord, Label, NodeRecord, Rel, Status
from expgraph.refine.common import (
    COUNT_FIELDS,
    FEEDBACK_FIELDS,
    RefineContext,
    merge_target,
    name_of,
)
from expgraph.refine.report import Change, PassReport
from expgraph.templates import split_key

MERGE_SIMILARITY = 0.90  # SkillX's near-duplicate threshold
MERGEABLE = (Status.ACTIVE.value, Status.DEPRECATED.value)
LIST_CAPS = {"examples": 10, "episodes": 20, "preconditions": 20, "verification": 20,
             "parameters": 20, "pitfalls": 20, "scopes": 50}
_NO_COPY = (Rel.MERGED_INTO, Rel.SUPERSEDES)


def norm_actions(actions: Sequence[str]) -> tuple[str, ...]:
    return tuple(" ".join(str(a).lower().split()) for a in actions)


def _slotted(action: str) -> tuple[str, str | None]:
    """(verb, constant argument) with every slot name folded to one `<>`."""
    name, arg = split_key(action)
    if arg is not None and arg.startswith("<") and arg.endswith(">"):
        arg = "<>"
    return name, arg


def same_procedure(a: Sequence[str], b: Sequence[str]) -> bool:
    """Two templates do the same thing when they match step by step up to slot names
    (`click[<option>]` ~ `click[<opt>]`); a constant (`click[black]`) never matches a slot or
    another constant — in WebShop every step is a click, so verbs alone say nothing."""
    na, nb = norm_actions(a), norm_actions(b)
    return len(na) == len(nb) and all(_slotted(x) == _slotted(y) for x, y in
                                      zip(na, nb, strict=True))


def group_duplicates(items: Sequence[tuple[str, str, Sequence[str], float]],
                     vectors: np.ndarray | None, threshold: float = MERGE_SIMILARITY,
                     compatible: Callable[[Sequence[str], Sequence[str]], bool] | None = None,
                     ) -> dict[str, list[str]]:
    """Leader clustering over (id, tier, actions, support): visited by support then id, each
    item joins the first leader of its tier with the same actions, else the most similar
    leader (>= threshold, `compatible`: by default the same procedure up to slot names), else
    leads. Leaders are compared with members one by
    one, so similarity never chains (A~B, B~C does not pull C to A). Returns winner -> losers."""
    same = compatible or same_procedure
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
    """Move a loser's feedback and provenance into the winner's props (in place). Mined counts
    are not added here: `settle` sums them from the parts."""
    for f in FEEDBACK_FIELDS:
        winner[f] = (winner.get(f) or 0) + (loser.get(f) or 0)
        loser[f] = 0
    if label == Label.SKILL:
        winner.setdefault("scopes", [winner.get("scope", "")])
        winner["scopes"] = _union(winner["scopes"], loser.get("scopes", [loser.get("scope", "")]),
                                  LIST_CAPS["scopes"])
    for f, cap in LIST_CAPS.items():
        if f != "scopes" and (f in winner or f in loser):
            winner[f] = _union(winner.get(f) or [], loser.get(f) or [], cap)
    winner["merged_from"] = _union(winner.get("merged_from") or [], [loser["_id"]], 1000)


def merge_records(ctx: RefineContext, report: PassReport, winner: NodeRecord,
                  losers: Sequence[NodeRecord]) -> list[EdgeRecord]:
    """Fold `losers` into `winner`: feedback, provenance, edges, lineage, history. Mutates the
    records (the caller settles counts and writes them) and returns the edges to write."""
    label = winner.label
    ns = ctx.store.namespace
    edges: list[EdgeRecord] = []
    for lo in losers:
        lp = {**lo.props, "_id": lo.id}
        absorb(winner.props, lp, label)
        for f in FEEDBACK_FIELDS:
            lo.props[f] = lp[f]
        edges += _carry_edges(ctx, lo.id, winner.id)
        edges.append(EdgeRecord(src=lo.id, dst=winner.id, type=Rel.MERGED_INTO,
                                props={"at": ctx.now}, namespace=ns))
        edges.append(EdgeRecord(src=winner.id, dst=lo.id, type=Rel.SUPERSEDES,
                                props={"at": ctx.now}, namespace=ns))
        old_status = lo.props.get("status", Status.ACTIVE.value)
        lo.props["status"] = Status.MERGED.value
        lo.props["merged_into"] = winner.id
        add_history(lo.props, "merged", {"into": winner.id, "from_status": old_status}, ctx.now)
        touch(lo, ctx.now)
        report.add(Change(id=lo.id, label=label.value, name=name_of(lo), kind="merged",
                          before={"status": old_status},
                          after={"status": Status.MERGED.value, "into": winner.id}))
    add_history(winner.props, "absorbed", {"losers": [lo.id for lo in losers]}, ctx.now)
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


def counts_of(props: dict[str, Any], label: Label) -> dict[str, float]:
    return {f: props.get(f) or 0 for f in COUNT_FIELDS[label]}


def settle(ctx: RefineContext, report: PassReport, recs: dict[str, NodeRecord],
           links: dict[str, str], label: Label) -> list[NodeRecord]:
    """Make every merge winner's counts = its own mined counts + its losers' (recursively).

    A node's own counts are its stored counts unless refine wrote them last (they equal the
    `refine_total` it left), in which case they are the `own_counts` it kept: so a distiller
    that re-mines a node and rewrites its counts is picked up, and nothing is added twice."""
    children: dict[str, list[str]] = {}
    for lo, w in sorted(links.items()):
        children.setdefault(w, []).append(lo)
    memo: dict[str, dict[str, float]] = {}

    def own(r: NodeRecord) -> dict[str, float]:
        cur = counts_of(r.props, label)
        if r.id in children and r.props.get("refine_total") == cur and r.props.get("own_counts"):
            return {f: r.props["own_counts"].get(f) or 0 for f in cur}
        return cur

    def total(nid: str, path: frozenset[str]) -> dict[str, float]:
        if nid not in memo:
            t = own(recs[nid])
            for c in children.get(nid, []):
                if c in recs and c not in path:
                    for f, v in total(c, path | {c}).items():
                        t[f] = t[f] + v
            memo[nid] = t
        return memo[nid]

    changed = []
    for wid in sorted(children):
        if wid not in recs:
            continue
        r = recs[wid]
        o, t = own(r), total(wid, frozenset({wid}))
        before = {"utility": r.props.get("utility", 0.0), **counts_of(r.props, label)}
        if r.props.get("refine_total") == t and counts_of(r.props, label) == t:
            continue
        r.props.update(t)
        r.props["own_counts"], r.props["refine_total"] = o, t
        rescore_props(r.props, label)
        changed.append(touch(r, ctx.now))
        report.add(Change(id=wid, label=label.value, name=name_of(r), kind="absorbed",
                          before=before, after={"utility": r.props["utility"], **t}))
    return changed


def sync_merged(ctx: RefineContext, report: PassReport, label: Label
                ) -> tuple[dict[str, NodeRecord], dict[str, str], list[EdgeRecord]]:
    """Existing merges made true again after a distiller re-mine: a merged node's status back
    to `merged`, the evidence edges it has and its root lacks carried over. Returns the
    records of every node in a merge, the links (loser -> winner) and the edges to write."""
    links = {e.src: e.dst for e in sorted(ctx.store.edges(Rel.MERGED_INTO), key=lambda e: e.dst)}
    recs = {r.id: r for r in ctx.store.get_nodes([*links, *links.values()]) if r.label == label}
    links = {lo: w for lo, w in links.items() if lo in recs and w in recs}
    edges: list[EdgeRecord] = []
    for lid in sorted(links):
        lo = recs[lid]
        root = merge_target(ctx.store, lid)
        carried = _carry_edges(ctx, lid, root)
        edges += carried
        if lo.props.get("status") != Status.MERGED.value:
            report.add(Change(id=lid, label=label.value, name=name_of(lo), kind="re-merged",
                              before={"status": lo.props.get("status")},
                              after={"status": Status.MERGED.value}))
            add_history(lo.props, "re-merged", {"into": links[lid]}, ctx.now)
            lo.props["status"] = Status.MERGED.value
            lo.props["_dirty"] = True
        elif carried:
            report.add(Change(id=lid, label=label.value, name=name_of(lo), kind="relinked",
                              after={"edges": len(carried), "onto": root}))
    return recs, links, edges


def write_merges(ctx: RefineContext, report: PassReport, label: Label,
                 recs: dict[str, NodeRecord], links: dict[str, str],
                 dirty: Sequence[NodeRecord], edges: Sequence[EdgeRecord]) -> None:
    """Settle counts over all merges (old and new) and write what moved."""
    settled = settle(ctx, report, recs, links, label)
    out = {r.id: r for r in dirty}
    for r in recs.values():
        if r.props.pop("_dirty", False):
            out[r.id] = touch(r, ctx.now)
    out.update({r.id: r for r in settled})
    for r in out.values():
        rescore_props(r.props, label)
    ctx.write(list(out.values()), edges)


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
    recs_m, links, edges = sync_merged(ctx, report, Label.SKILL)
    recs = [r for r in ctx.store.find_nodes(Label.SKILL, with_embedding=True)
            if r.props.get("status", Status.ACTIVE.value) in MERGEABLE and r.id not in links]
    report.counts["examined"] = len(recs)
    by_id = {r.id: recs_m.get(r.id, r) for r in recs}
    items = [(r.id, str(r.props.get("tier")), r.props.get("actions") or [],
              float(r.props.get("support") or 0)) for r in recs]
    groups = group_duplicates(items, _vectors(ctx, recs))
    dirty = merge_groups(ctx, report, groups, by_id, recs_m, links, edges)
    write_merges(ctx, report, Label.SKILL, recs_m, links, dirty, edges)
    return report


def merge_groups(ctx: RefineContext, report: PassReport, groups: dict[str, list[str]],
                 by_id: dict[str, NodeRecord], recs_m: dict[str, NodeRecord],
                 links: dict[str, str], edges: list) -> list[NodeRecord]:
    """Fold every group's losers into its winner (in memory; `edges` grows); returns the
    nodes to write. Shared by the skill merge and the guardrail consolidation."""
    dirty: list[NodeRecord] = []
    for wid in sorted(groups):
        winner, losers = by_id[wid], [by_id[x] for x in groups[wid]]
        edges += merge_records(ctx, report, winner, losers)
        dirty += [touch(winner, ctx.now), *losers]
        recs_m.update({n.id: n for n in (winner, *losers)})
        links.update({lo.id: wid for lo in losers})
    return dirty
