"""What distillation and refinement own, read from the store on demand and cached until its
next write: the skills that apply in a state or plan a task, the guardrails triggered in a
state, the tasks of a cluster. After a write (an ingest distils online) the next query pays a
few indexed look-ups for the states and tasks it touches, instead of re-reading every skill,
APPLIES_IN / PLANS_FOR edge and task of the store (which grew with the store: ~1 s at
100,000 steps)."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from expgraph.models import Label, Rel, Status, TaskNode
from expgraph.store.base import GraphStore
from expgraph.templates import template

NO = -1


@dataclass
class SkillView:
    """A served skill as the advice needs it: its action templates and where it applies
    (among the states and tasks it was looked up by)."""

    id: str
    tier: str
    actions: list[str]
    utility: float
    support: int
    states: frozenset[str]
    tasks: frozenset[str]
    episodes: frozenset[str]


# (guardrail id, trigger state id, forbidden template ids, severity)
Guardrail = tuple[str, str, list[int], float]


class DerivedLayer:
    """Per-generation caches over one store; `clear` after every write it did not see."""

    def __init__(self, store: GraphStore | None, constants: dict[str, set[str]],
                 action_id: Callable[[str], int]) -> None:
        self._store = weakref.ref(store) if store is not None else None
        self.constants = constants
        self.action_id = action_id
        self.lock = threading.Lock()
        self.clear()

    def bind(self, store: GraphStore, constants: dict[str, set[str]]) -> None:
        self._store = weakref.ref(store)
        self.constants = constants
        self.clear()

    def clear(self) -> None:
        self._applies: dict[str, frozenset[str]] = {}
        self._plans: dict[str, frozenset[str]] = {}
        self._skills: dict[str, dict[str, Any] | None] = {}
        self._guards: dict[str, list[Guardrail]] = {}
        self._cluster_of: dict[str, int] = {}
        self._cluster_tasks: dict[int, frozenset[str]] = {}

    @property
    def store(self) -> GraphStore | None:
        return self._store() if self._store is not None else None

    # ------------------------------------------------------------------ skills
    def skills_for(self, states: Iterable[str], tasks: Iterable[str]) -> list[SkillView]:
        """The active skills that APPLIES_IN any of `states` or PLANS_FOR any of `tasks`
        (task node ids), by id."""
        store = self.store
        if store is None:
            return []
        states, tasks = sorted(set(states)), sorted(set(tasks))
        with self.lock:
            by_state = {s: self._edges(store, Rel.APPLIES_IN, s, self._applies) for s in states}
            by_task = {t: self._edges(store, Rel.PLANS_FOR, t, self._plans) for t in tasks}
            ids = sorted(set().union(*by_state.values(), *by_task.values()))
            missing = [i for i in ids if i not in self._skills]
            if missing:
                for rec in store.get_nodes(missing):
                    self._skills[rec.id] = dict(rec.props) if rec.label == Label.SKILL else None
                for i in missing:
                    self._skills.setdefault(i, None)
            out = []
            for i in ids:
                p = self._skills[i]
                if p is None or p.get("status", Status.ACTIVE.value) != Status.ACTIVE.value \
                        or not p.get("actions"):
                    continue
                out.append(SkillView(
                    id=i, tier=str(p.get("tier") or ""),
                    actions=[template(str(a), self.constants) for a in p["actions"]],
                    utility=float(p.get("utility") or 0.0), support=int(p.get("support") or 0),
                    states=frozenset(s for s, srcs in by_state.items() if i in srcs),
                    tasks=frozenset(t for t, srcs in by_task.items() if i in srcs),
                    episodes=frozenset(p.get("episodes") or ())))
        return out

    @staticmethod
    def _edges(store: GraphStore, rel: Rel, dst: str,
               cache: dict[str, frozenset[str]]) -> frozenset[str]:
        hit = cache.get(dst)
        if hit is None:
            hit = cache[dst] = frozenset(e.src for e in store.edges(rel, dst=dst))
        return hit

    # ------------------------------------------------------------------ guardrails
    def guardrails_in(self, states: Iterable[str]) -> list[Guardrail]:
        """The active guardrails whose trigger state is one of `states`, by id."""
        store = self.store
        if store is None:
            return []
        out: list[Guardrail] = []
        with self.lock:
            for sid in sorted(set(states)):
                hit = self._guards.get(sid)
                if hit is None:
                    hit = []
                    for rec in store.find_nodes(Label.GUARDRAIL, where={"trigger_state": sid}):
                        p = rec.props
                        if p.get("status", Status.ACTIVE.value) == Status.ACTIVE.value:
                            bans = [self.action_id(template(str(a), self.constants))
                                    for a in p.get("forbidden") or ()]
                            hit.append((rec.id, sid, bans, float(p.get("severity") or 0.0)))
                    self._guards[sid] = hit
                out += hit
        return sorted(out)

    # ------------------------------------------------------------------ task clusters
    def cluster_of(self, task_text: str) -> int:
        store = self.store
        if store is None:
            return NO
        with self.lock:
            hit = self._cluster_of.get(task_text)
            if hit is None:
                recs = store.get_nodes([task_node_id(task_text)])
                c = recs[0].props.get("cluster") if recs else None
                hit = self._cluster_of[task_text] = NO if c is None else int(c)
        return hit

    def cluster_tasks(self, cluster: int) -> frozenset[str]:
        """The texts of the tasks in `cluster`."""
        store = self.store
        if store is None or cluster == NO:
            return frozenset()
        with self.lock:
            hit = self._cluster_tasks.get(cluster)
            if hit is None:
                hit = self._cluster_tasks[cluster] = frozenset(
                    r.props.get("text", r.text)
                    for r in store.find_nodes(Label.TASK, where={"cluster": cluster}))
        return hit


def task_node_id(text: str) -> str:
    return TaskNode(text=text).id
