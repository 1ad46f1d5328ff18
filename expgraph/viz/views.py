"""Structural views: the skill hierarchy, the failure → guardrail map and the overview.

Each builder returns a display graph (see `scene.add_node`) plus its layout hints; the
path views (transitions, episode, query) live in `paths.py`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import networkx as nx

from expgraph.models import Label, NodeRecord, Rel
from expgraph.viz.scene import add_edge, add_node
from expgraph.viz.source import Source, describe

TIER_LAYER = {"strategic": 0, "functional": 1, "atomic": 2}


@dataclass
class Filters:
    """Pre-filters applied in Python (the page filters the drawn nodes again, live)."""

    labels: set[str] | None = None
    tiers: set[str] | None = None
    cluster: int | None = None
    include_inactive: bool = False

    def keeps(self, src: Source, rec: NodeRecord) -> bool:
        if self.labels and rec.label.value not in self.labels:
            return False
        if self.tiers and rec.label == Label.SKILL and rec.props.get("tier") not in self.tiers:
            return False
        if not self.include_inactive and not src.is_active(rec):
            return False
        return self.cluster is None or self.cluster in src.clusters(rec)


@dataclass
class ViewGraph:
    """A display graph and how to lay it out."""

    title: str
    g: nx.MultiDiGraph
    layout: str = "layered"  # layered | spring | fixed
    orientation: str = "LR"
    layers: list[str] = field(default_factory=list)
    fixed: dict[str, tuple[float, float]] = field(default_factory=dict)
    note: str = ""


def put(g: nx.MultiDiGraph, src: Source, rec: NodeRecord, layer: int | None = None,
        highlight: bool = False, evidence: Iterable[str] = (), name: str | None = None) -> None:
    d = describe(rec)
    add_node(g, rec.id, rec.label.value, name or d["name"], d["text"], tier=d["tier"],
             status=d["status"], evidence=[*evidence, *d["evidence"]], weight=d["weight"],
             clusters=src.clusters(rec), namespace=src.namespace, layer=layer,
             highlight=highlight)


def hierarchy(src: Source, f: Filters) -> ViewGraph:
    """Plans (strategic) → functional → atomic skills, joined by COMPOSED_OF {order}."""
    g = nx.MultiDiGraph()
    skills = {i: r for i, r in src.nodes(Label.SKILL).items() if f.keeps(src, r)}
    for rec in skills.values():
        put(g, src, rec, layer=TIER_LAYER.get(str(rec.props.get("tier")), 2))
    for e in src.edges(Rel.COMPOSED_OF):
        if e.src in skills and e.dst in skills:
            order = e.props.get("order")
            add_edge(g, e.src, e.dst, "COMPOSED_OF", label="" if order is None else f"{order}",
                     title=f"step {order}" if order is not None else "composed of")
    note = "" if skills else "no skills in this store yet: run `expgraph distill`"
    return ViewGraph("Skill hierarchy: plans → functional → atomic", g, orientation="TB",
                     layers=["strategic plans", "functional skills", "atomic skills"], note=note)


def failures(src: Source, f: Filters) -> ViewGraph:
    """Where things went wrong (State ← Failure), which rule prevents it (Guardrail), and what
    that rule guards (State / Skill)."""
    g = nx.MultiDiGraph()
    fails = {i: r for i, r in src.nodes(Label.FAILURE).items() if f.keeps(src, r)}
    guards = {i: r for i, r in src.nodes(Label.GUARDRAIL).items() if f.keeps(src, r)}
    for rec in fails.values():
        put(g, src, rec, layer=1)
    for rec in guards.values():
        put(g, src, rec, layer=2)
    states, skills = src.nodes(Label.STATE), src.nodes(Label.SKILL)

    def attach(nid: str) -> bool:
        if nid in g:
            return True
        if nid in states:
            put(g, src, states[nid], layer=0)
            return True
        if nid in skills:
            put(g, src, skills[nid], layer=3)
            return True
        return False

    for e in src.edges(Rel.OBSERVED_IN):
        if e.src in fails and attach(e.dst):
            add_edge(g, e.src, e.dst, "OBSERVED_IN", title="observed in this state")
    for e in src.edges(Rel.PREVENTS):
        if e.src in guards and e.dst in fails:
            add_edge(g, e.src, e.dst, "PREVENTS", title="prevents")
    for e in src.edges(Rel.GUARDS):
        if e.src in guards and attach(e.dst):
            add_edge(g, e.src, e.dst, "GUARDS", title="guards")
    note = "" if (fails or guards) else "no failures or guardrails in this store yet"
    return ViewGraph("Failures → guardrails", g,
                     layers=["states", "failures", "guardrails", "guarded skills"], note=note)


MAX_ISOLATED = 30
OVERVIEW_LABELS = (Label.TASK, Label.STATE, Label.ACTION, Label.SKILL, Label.FAILURE,
                   Label.GUARDRAIL)


def overview(src: Source, f: Filters, with_episodes: bool = False) -> ViewGraph:
    """Everything but the episodes (they are many and say little on their own)."""
    g = nx.MultiDiGraph()
    labels = [*OVERVIEW_LABELS, *([Label.EPISODE] if with_episodes else [])]
    for label in labels:
        for rec in src.nodes(label).values():
            if f.keeps(src, rec):
                put(g, src, rec)
    seen: set[tuple[str, str, str]] = set()
    for rel in Rel:
        for e in src.edges(rel):
            if e.src in g and e.dst in g and e.src != e.dst:
                if (e.src, e.dst, rel.value) in seen:
                    continue  # parallel transitions: one line is enough here
                seen.add((e.src, e.dst, rel.value))
                add_edge(g, e.src, e.dst, rel.value, title=rel.value)
    # Tasks link to the rest only through episodes (left out), so most would float alone.
    alone = [n for n in g if g.degree(n) == 0]
    note = ""
    if len(alone) > MAX_ISOLATED:
        g.remove_nodes_from(alone)
        note = (f"{len(alone)} nodes with no edge in this view are left out (mostly tasks: "
                f"they connect through episodes; use with_episodes=True to draw them)")
    return ViewGraph("Experience graph overview", g, layout="spring", note=note)
