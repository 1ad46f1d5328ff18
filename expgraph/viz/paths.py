"""Path views: a task cluster's state transitions, one episode's path over the graph, and a
query's results with the graph paths from the nearest states to each of them."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import networkx as nx
import numpy as np

from expgraph.distill.states import canonicalize, state_id
from expgraph.errors import UsageError
from expgraph.models import Label, NodeRecord, Rel, episode_node_id
from expgraph.viz.scene import add_edge, add_node
from expgraph.viz.source import Source
from expgraph.viz.views import Filters, ViewGraph, put

MAX_LAYER = 14  # transitions: steps beyond this share the last column
# The graph signal of retrieval walks these (queries/config.py GraphConfig.rels); TRANSITION
# joins them here so a path may also run through the states an agent moves between.
PATH_RELS = (Rel.APPLIES_IN, Rel.GUARDS, Rel.COMPOSED_OF, Rel.PREVENTS, Rel.OBSERVED_IN,
             Rel.PLANS_FOR, Rel.TRANSITION, Rel.LEADS_TO)


def _rate_label(action: str, ok: int, n: int) -> str:
    return f"{action} {ok / n:.0%} of {n}" if n else action


def transitions(src: Source, f: Filters) -> ViewGraph:
    """States of a task cluster's episodes, columns by the step they are usually reached at,
    edges coloured by the success rate of the episodes that took them."""
    episodes = src.nodes(Label.EPISODE)
    wanted = [r for r in episodes.values()
              if f.cluster is None or src.episode_cluster.get(r.id) == f.cluster]
    first_step: dict[str, list[int]] = defaultdict(list)
    ends: dict[str, Counter[bool]] = defaultdict(Counter)
    pair: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    pair_ok: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for ep in wanted:
        ok = bool(ep.props.get("success"))
        seen: set[str] = set()
        steps = ep.props.get("steps") or []
        for i, s in enumerate(steps):
            a, b = s.get("state"), s.get("next_state")
            if a and a not in seen:
                seen.add(a)
                first_step[a].append(i)
            if a and b:
                pair[(a, b)][s.get("key") or s.get("action") or "?"] += 1
                pair_ok[(a, b)][s.get("key") or s.get("action") or "?"] += ok
                if b not in seen:
                    seen.add(b)
                    first_step[b].append(i + 1)
        if steps and steps[-1].get("next_state"):
            ends[steps[-1]["next_state"]][ok] += 1
    states = src.nodes(Label.STATE)
    g = nx.MultiDiGraph()
    for sid, firsts in first_step.items():
        if sid not in states:
            continue
        end = ends.get(sid, Counter())
        ev = [f"reached by {len(firsts)} episodes, usually at step "
              f"{statistics.median(firsts):g}"]
        if end:
            ev.append(f"episodes ending here: {end[True]} succeeded, {end[False]} failed")
        put(g, src, states[sid], layer=min(int(statistics.median(firsts)), MAX_LAYER),
            evidence=ev)
        g.nodes[sid]["weight"] = float(len(firsts))
    for (a, b), acts in pair.items():
        if a not in g or b not in g:
            continue
        n, ok = sum(acts.values()), sum(pair_ok[(a, b)].values())
        top = acts.most_common(1)[0][0]
        more = f" +{len(acts) - 1} more actions" if len(acts) > 1 else ""
        title = "\n".join(_rate_label(k, pair_ok[(a, b)][k], c) for k, c in acts.most_common(8))
        add_edge(g, a, b, "TRANSITION", label=f"{_short_action(top)}{more} · {ok / n:.0%}",
                 title=f"{n} transitions, {ok} in successful episodes\n{title}", weight=n,
                 rate=ok / n)
    which = "all episodes" if f.cluster is None else f"task cluster {f.cluster}"
    note = f"{len(wanted)} episodes ({which}); edge colour = share of successful episodes"
    if not wanted:
        note = f"no episodes in {which}"
    return ViewGraph(f"State transitions: {which}", g, note=note,
                     layers=[f"step {i}" for i in range(MAX_LAYER + 1)])


def _short_action(a: str, n: int = 28) -> str:
    return a if len(a) <= n else a[: n - 1] + "…"


def find_episode(src: Source, ref: str) -> NodeRecord:
    """An episode by node id, episode id, or ingest order number (`seq`)."""
    for nid in (ref, episode_node_id(ref)):
        rec = src.store.get_node(nid)
        if rec is not None and rec.label == Label.EPISODE:
            return rec
    if ref.isdigit():
        found = src.store.find_nodes(Label.EPISODE, where={"seq": int(ref)}, limit=1)
        if found:
            return found[0]
    raise UsageError(f"no episode {ref!r} in namespace {src.namespace!r}: give an episode node "
                     f"id, the episode's own id, or its ingest number (1, 2, ...)")


def episode(src: Source, f: Filters, ref: str, context: int = 3) -> ViewGraph:
    """The episode's states along a line (step order), its actions as highlighted edges, and
    around each state what the graph knows there: skills above, guardrails and other ways out
    below (grey)."""
    ep = find_episode(src, ref)
    steps = ep.props.get("steps") or []
    path = [s.get("state") for s in steps] + ([steps[-1].get("next_state")] if steps else [])
    path = [p for p in path if p]
    states = src.nodes(Label.STATE)
    g = nx.MultiDiGraph()
    fixed: dict[str, tuple[float, float]] = {}
    visits: dict[str, list[int]] = defaultdict(list)
    for i, sid in enumerate(path):
        visits[sid].append(i)
    for sid, at in visits.items():
        if sid in states:
            put(g, src, states[sid], highlight=True,
                evidence=[f"visited at step {', '.join(map(str, at))}"])
            fixed[sid] = (float(at[0]), 0.0)
    ok = ep.props.get("success")
    for i, s in enumerate(steps):
        a, b = s.get("state"), s.get("next_state")
        if a in g and b in g:
            err = bool(s.get("error"))
            add_edge(g, a, b, "PATH", label=f"{i}: {_short_action(s.get('key') or '')}",
                     title=f"step {i}: {s.get('raw') or s.get('key')}"
                     + (" (error)" if err else ""),
                     rate=0.0 if err else (1.0 if ok else None), highlight=True)
    skills, guards = src.nodes(Label.SKILL), src.nodes(Label.GUARDRAIL)

    def around(sid: str, items: list[tuple[str, str]], up: bool) -> None:
        x0 = fixed[sid][0]
        for j, (nid, rel) in enumerate(items[:context]):
            rec = skills.get(nid) or guards.get(nid) or states.get(nid)
            if rec is None or not f.keeps(src, rec):
                continue
            if nid not in g:
                put(g, src, rec)
                fixed[nid] = (x0 + 0.18 * (j - (context - 1) / 2),
                              (-1.0 if up else 1.0) * (1 + 0.55 * j))
            add_edge(g, nid, sid, rel, title=rel) if rel != "TRANSITION" else add_edge(
                g, sid, nid, rel, title="another way out of this state")

    by_state: dict[str, list[tuple[str, str]]] = defaultdict(list)
    below: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for e in src.edges(Rel.APPLIES_IN):
        if e.dst in fixed and e.src in skills:
            by_state[e.dst].append((e.src, "APPLIES_IN"))
    for e in src.edges(Rel.GUARDS):
        if e.dst in fixed and e.src in guards:
            below[e.dst].append((e.src, "GUARDS"))
    for sid in list(visits):
        if sid not in fixed:
            continue
        by_state[sid].sort(key=lambda t: -float(skills[t[0]].props.get("utility") or 0))
        around(sid, by_state[sid], up=True)
        around(sid, below[sid], up=False)
    task = ep.props.get("task", "")
    outcome = "succeeded" if ok else "failed" if ok is False else "outcome unknown"
    return ViewGraph(f"Episode {ep.props.get('seq', '')}: {task[:80]} ({outcome})", g,
                     layout="fixed", fixed=fixed,
                     note=f"{len(steps)} steps over {len(visits)} distinct states")


def _get(obj: Any, *names: str) -> Any:
    for n in names:
        v = obj.get(n) if isinstance(obj, dict) else getattr(obj, n, None)
        if v is not None:
            return v
    return None


def _signals(r: Any) -> dict[str, float]:
    s = _get(r, "signals")
    if s is None:
        return {}
    if hasattr(s, "model_dump"):
        s = s.model_dump()
    return {k: float(v) for k, v in dict(s).items() if isinstance(v, (int, float))}


def query(src: Source, f: Filters, text: str, results: Sequence[Any],
          embed: Callable[[list[str]], np.ndarray], seeds: int = 5, min_sim: float = 0.6,
          hops: int = 4) -> ViewGraph:
    """The query, the states nearest to it, and for each result the shortest path from one of
    those states through the graph; a result with no such path hangs off the query directly,
    labelled with its strongest signal."""
    g = nx.MultiDiGraph()
    qid = "query"
    add_node(g, qid, "Query", f"query: {text}", text, layer=0, highlight=True,
             namespace=src.namespace, weight=1.0)
    # seeded as retrieval seeds its graph walk: the state with the query's exact signature,
    # then the states whose signatures embed nearest to the query's
    signature = canonicalize(text)
    vec = np.asarray(embed([signature])[0], dtype=np.float32)
    exact = src.store.get_node(state_id(signature))
    near = [(exact, 1.0)] if exact is not None else []
    near += [(r, s) for r, s in src.store.vector_top_k(Label.STATE, vec, seeds)
             if s >= min_sim and (exact is None or r.id != exact.id)]
    for rec, sim in near:
        put(g, src, rec, layer=1, evidence=[f"cosine to the query: {sim:.3f}"])
        add_edge(g, qid, rec.id, "NEAREST", label=f"cos {sim:.2f}", weight=sim)
    und = nx.MultiGraph()
    for rel in PATH_RELS:
        for e in src.edges(rel):
            und.add_edge(e.src, e.dst, key=(rel.value, e.src, e.dst))
    starts = [r.id for r, _ in near if r.id in und]
    paths = nx.multi_source_dijkstra_path(und, starts, cutoff=hops) if starts else {}
    items = list(getattr(results, "results", results))
    last = max([len(p) for r in items if (p := paths.get(str(_get(r, "id"))))] or [1]) + 1
    for rank, r in enumerate(items, 1):
        rid = str(_get(r, "id"))
        rec = src.node(rid)
        sig = _signals(r)
        ev = [f"rank {rank}, score {float(_get(r, 'score') or 0):.4f}",
              *(f"{k}: {v:.3f}" for k, v in sig.items())]
        if rec is None:
            continue
        put(g, src, rec, layer=last, highlight=True, evidence=ev,
            name=f"#{rank} {_get(r, 'name') or rec.text}")
        path = paths.get(rid)
        if path and len(path) > 1:
            for h, (a, b) in enumerate(zip(path, path[1:], strict=False), 2):
                for nid in (a, b):
                    if nid not in g:
                        other = src.node(nid)
                        if other is None:
                            continue
                        put(g, src, other, layer=min(h, last - 1))
                rel, s, d = next(iter(und.get_edge_data(a, b)))
                add_edge(g, s, d, rel, title=f"path to result #{rank}", highlight=True)
        else:
            top = max(sig.items(), key=lambda kv: kv[1]) if sig else ("score", 0.0)
            add_edge(g, qid, rid, "NEAREST", label=f"{top[0]} {top[1]:.2f}",
                     title="no graph path from the nearest states; ranked by its signals")
    note = (f"{len(items)} results; {len(near)} nearest states (signature cosine ≥ {min_sim}); "
            f"paths of "
            f"up to {hops} hops over {', '.join(r.value for r in PATH_RELS)}")
    return ViewGraph(f"Query: {text[:90]}", g, note=note,
                     layers=["query", "nearest states", *["path"] * (last - 2), "results"])
