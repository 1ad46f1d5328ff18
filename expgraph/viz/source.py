"""Reads for the views: cached per draw, through the `GraphStore` protocol only, plus the
hover text of each node (its text, status and evidence)."""

from __future__ import annotations

from collections import defaultdict
from functools import cached_property
from typing import Any

from expgraph.models import EdgeRecord, Label, NodeRecord, Rel
from expgraph.store.base import GraphStore

ACTIVE = "active"


class Source:
    """One store's nodes and edges, each label / type read at most once per drawing."""

    def __init__(self, store: GraphStore) -> None:
        self.store = store
        self.namespace = store.namespace
        self._nodes: dict[Label, dict[str, NodeRecord]] = {}
        self._edges: dict[Rel, list[EdgeRecord]] = {}

    def nodes(self, label: Label) -> dict[str, NodeRecord]:
        if label not in self._nodes:
            self._nodes[label] = {r.id: r for r in self.store.find_nodes(label)}
        return self._nodes[label]

    def node(self, nid: str) -> NodeRecord | None:
        for recs in self._nodes.values():
            if nid in recs:
                return recs[nid]
        return self.store.get_node(nid)

    def edges(self, rel: Rel) -> list[EdgeRecord]:
        if rel not in self._edges:
            self._edges[rel] = self.store.edges(rel)
        return self._edges[rel]

    @cached_property
    def episode_cluster(self) -> dict[str, int]:
        """Episode node id -> task cluster (episodes of unclustered tasks are left out)."""
        tasks = self.nodes(Label.TASK)
        out: dict[str, int] = {}
        for e in self.edges(Rel.ATTEMPTS):
            t = tasks.get(e.dst)
            if t is not None and t.props.get("cluster") is not None:
                out[e.src] = int(t.props["cluster"])
        return out

    @cached_property
    def plan_clusters(self) -> dict[str, set[int]]:
        tasks = self.nodes(Label.TASK)
        out: dict[str, set[int]] = defaultdict(set)
        for e in self.edges(Rel.PLANS_FOR):
            c = tasks[e.dst].props.get("cluster") if e.dst in tasks else None
            if c is not None:
                out[e.src].add(int(c))
        return out

    @cached_property
    def state_clusters(self) -> dict[str, set[int]]:
        """State id -> clusters of the episodes that visited it."""
        out: dict[str, set[int]] = defaultdict(set)
        for e in self.edges(Rel.VISITS):
            c = self.episode_cluster.get(e.src)
            if c is not None:
                out[e.dst].add(c)
        return out

    def clusters(self, rec: NodeRecord) -> list[int]:
        """Task clusters a node belongs to: its own (tasks), those of the episodes that
        visited it (states), its plans' tasks, or those of the episodes it was seen in
        (provenance sample)."""
        if rec.label == Label.TASK:
            c = rec.props.get("cluster")
            return [int(c)] if c is not None else []
        if rec.label == Label.EPISODE:
            c = self.episode_cluster.get(rec.id)
            return [c] if c is not None else []
        if rec.label == Label.STATE:
            return sorted(self.state_clusters.get(rec.id, ()))
        found = set(self.plan_clusters.get(rec.id, ()))
        scope = str(rec.props.get("scope") or "")
        if scope.lstrip("-").isdigit():
            found.add(int(scope))
        for ep in rec.props.get("episodes") or ():
            c = self.episode_cluster.get(ep)
            if c is not None:
                found.add(c)
        return sorted(found)

    def is_active(self, rec: NodeRecord) -> bool:
        return str(rec.props.get("status") or ACTIVE) == ACTIVE


def describe(rec: NodeRecord) -> dict[str, Any]:
    """Display name, hover text, status, evidence lines and size weight of a node."""
    p = rec.props
    label = rec.label
    ev: list[str] = []
    name, text, weight = rec.text, rec.text, 1.0
    if label == Label.SKILL:
        name = p.get("name") or rec.text
        text = (p.get("description") or "") + "\nActions: " + " → ".join(p.get("actions") or [])
        weight = p.get("support") or 0
        ev = [f"tier: {p.get('tier')}", f"support: {p.get('support', 0)} episodes",
              f"successes / failures: {p.get('successes', 0)} / {p.get('failures', 0)}",
              f"utility: {float(p.get('utility') or 0):.3f}", f"source: {p.get('source', '')}"]
    elif label == Label.GUARDRAIL:
        name = p.get("rule") or "avoid " + ", ".join(p.get("forbidden") or [])
        text = (f"{p.get('rule', '')}\nWhen: {p.get('trigger', '')}\nForbidden: "
                f"{', '.join(p.get('forbidden') or [])}")
        if p.get("alternative"):
            text += f"\nInstead: {p['alternative']}"
        weight = p.get("support") or 0
        ev = [f"severity: {float(p.get('severity') or 0):.2f}",
              f"support: {p.get('support', 0)} episodes",
              f"forbidden action failed {p.get('failures', 0)} of {p.get('total', 0)} times",
              f"utility: {float(p.get('utility') or 0):.3f}"]
    elif label == Label.FAILURE:
        name = f"{p.get('error_class', 'failure')}: {p.get('action', '')}"
        text = p.get("symptom") or rec.text
        weight = p.get("count") or 0
        ev = [f"class: {p.get('error_class')}", f"action: {p.get('action')}",
              f"seen {p.get('count', 0)} times"]
    elif label == Label.STATE:
        name = (p.get("representative") or p.get("signature") or rec.text).strip()
        text = f"{p.get('representative', '')}\n\nsignature: {p.get('signature', '')}"
        weight = p.get("member_count") or 0
        ev = [f"observations: {p.get('member_count', 0)}"]
    elif label == Label.TASK:
        name = p.get("text") or rec.text
        weight = p.get("attempts") or 0
        ev = [f"cluster: {p.get('cluster')}",
              f"attempts / successes: {p.get('attempts', 0)} / {p.get('successes', 0)}"]
    elif label == Label.ACTION:
        name = p.get("name") or rec.text
        weight = p.get("uses") or 0
        ev = [f"uses: {p.get('uses', 0)}",
              "arguments: " + ", ".join(f"{k}: {v}" for k, v in
                                        (p.get("argument_schema") or {}).items())]
    elif label == Label.EPISODE:
        ok = p.get("success")
        name = f"{'✓' if ok else '✗' if ok is False else '?'} {p.get('task', '')}"
        text = p.get("task") or rec.text
        weight = p.get("n_steps") or 0
        ev = [f"agent: {p.get('agent')}", f"success: {ok}", f"reward: {p.get('reward')}",
              f"steps: {p.get('n_steps')}"]
    if p.get("episodes") and label not in (Label.EPISODE, Label.TASK):
        ev.append(f"evidence episodes (sample): {len(p['episodes'])}")
    return {"name": name or rec.id[:8], "text": text or "", "status": p.get("status"),
            "tier": p.get("tier") if label == Label.SKILL else None, "evidence": ev,
            "weight": float(weight or 0)}
