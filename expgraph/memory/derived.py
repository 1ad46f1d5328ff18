"""What distillation and refinement own, read from the store on demand and cached until its
next write: the skills that apply in a state or plan a task, the guardrails triggered in a
state, the tasks of a cluster. After a write (an ingest distils online) the next query pays a
few indexed look-ups for the states and tasks it touches, instead of re-reading every skill,
APPLIES_IN / PLANS_FOR edge and task of the store (which grew with the store: ~1 s at
100,000 steps)."""

from __future__ import annotations

import threading
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from expgraph.memory.sources import next_in_sequence
from expgraph.models import Label, NodeRecord, Rel, Status, TaskNode
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


@dataclass
class Voters:
    """The served skills of one state (APPLIES_IN) or task (PLANS_FOR) as arrays, by id: what
    a skill vote reads without a Python step per skill. Built once per state or task and kept
    until a write touches its edges or one of its skills."""

    ids: np.ndarray  # skill ids, ascending (str)
    views: list[SkillView]
    first: np.ndarray  # template id of each one's first action (-1: not in the vocabulary yet)
    weight: np.ndarray  # its vote: max(utility, 0.05)
    support: np.ndarray
    holding: dict[str, np.ndarray]  # template -> positions of the skills whose actions hold it
    members: frozenset[str]

    @classmethod
    def of(cls, views: list[SkillView], known: dict[str, int]) -> Voters:
        views = sorted(views, key=lambda v: v.id)
        holding: dict[str, list[int]] = defaultdict(list)
        for r, v in enumerate(views):
            for t in dict.fromkeys(v.actions):
                holding[t].append(r)
        return cls(ids=np.asarray([v.id for v in views], dtype=str), views=views,
                   first=np.asarray([known.get(v.actions[0], NO) for v in views], np.int64),
                   weight=np.asarray([max(v.utility, 0.05) for v in views], np.float64),
                   support=np.asarray([v.support for v in views], np.int64),
                   holding={t: np.asarray(r, np.int64) for t, r in holding.items()},
                   members=frozenset(v.id for v in views))


    def patched(self, changed: set[str], view: Callable[[str], SkillView | None],
                ) -> Voters | None:
        """These voters after a write that rewrote the skills `changed` but none of this
        state's or task's edges: what `of` would build from the skills' new views, without a
        pass over every skill (a catch-all state holds thousands), when each changed member
        is still served with the same actions (only its utility or support moved); else None
        (build it again)."""
        views, weight, support = list(self.views), self.weight.copy(), self.support.copy()
        for i in sorted(self.members & changed):
            r = int(np.searchsorted(self.ids, i))
            new = view(i)
            if r >= len(views) or views[r].id != i or new is None \
                    or new.actions != views[r].actions:
                return None
            views[r] = new
            weight[r] = max(new.utility, 0.05)
            support[r] = new.support
        return Voters(ids=self.ids, views=views, first=self.first, weight=weight,
                      support=support, holding=self.holding, members=self.members)


SkillVotes = tuple[dict[int, float], dict[int, list[str]]]


class DerivedLayer:
    """Per-generation caches over one store; `clear` after every write it did not see."""

    def __init__(self, store: GraphStore | None, constants: dict[str, set[str]],
                 action_id: Callable[[str], int], action_index: dict[str, int] | None = None,
                 ) -> None:
        self._store = weakref.ref(store) if store is not None else None
        self.constants = constants
        self.action_id = action_id
        self.action_index = action_index if action_index is not None else {}
        self.lock = threading.Lock()
        self.clear()

    def bind(self, store: GraphStore, constants: dict[str, set[str]]) -> None:
        self._store = weakref.ref(store)
        self.constants = constants
        self.clear()

    def sync(self, store: GraphStore, constants: dict[str, set[str]], valid_at: int,
             gen: int) -> None:
        """Bring the caches (valid at generation `valid_at`) to `gen`: in place from the
        journal when marks chain from `valid_at` to `gen` and the constants are the same,
        else dropped (looked up again on demand)."""
        journal = take_journal(store)
        at, writes = valid_at, []
        for entry in journal:
            if entry[0] == "mark" and entry[1] == at:
                at = entry[2]
            elif entry[0] == "write":
                writes.append(entry)
        if at != gen or constants != self.constants or self._store is None \
                or self._store() is not store:
            self.bind(store, constants)
            return
        with self.lock:
            for _, nodes, deleted, put, gone in writes:
                self._apply(nodes, deleted, put, gone)

    def _apply(self, nodes: list[NodeRecord], deleted: list[str], put: list[Any],
               gone: list[tuple[Any, str, str]]) -> None:
        edge_caches = {Rel.APPLIES_IN: self._applies, Rel.PLANS_FOR: self._plans}
        changed = {r.id for r in nodes if r.label == Label.SKILL} | set(deleted)
        # voters read their own relationship's edges only: those whose edges went, or came
        # from a skill they do not hold, are built again; edges rewritten for props alone
        # (counts) leave who votes as it was, and the changed skills are patched in below
        regrouped = {(Rel(t).value, dst) for t, _, dst in gone}
        for e in put:
            v = self._voters.get((Rel(e.type).value, e.dst))
            if v is not None and e.src not in v.members:
                regrouped.add((Rel(e.type).value, e.dst))
        self._voters = {k: v for k, v in self._voters.items() if k not in regrouped}
        touched = {k for k, v in self._voters.items() if v.members & changed}
        for t, src, dst in gone:
            cache = edge_caches.get(Rel(t))
            if cache is not None and dst in cache:
                cache[dst] = cache[dst] - {src}
        for e in put:
            cache = edge_caches.get(Rel(e.type))
            if cache is not None and (dst := e.dst) in cache:
                cache[dst] = cache[dst] | {e.src}
            elif cache is not None and self.complete:
                cache[dst] = frozenset({e.src})
        gone_ids = set(deleted)
        for rec in nodes:
            if rec.label == Label.SKILL:
                self._skills[rec.id] = dict(rec.props)
                self._views.pop(rec.id, None)
            elif rec.label == Label.GUARDRAIL:
                gone_ids.add(rec.id)  # dropped below, then filed under its trigger again
            elif rec.label == Label.TASK:
                text, c = rec.props.get("text", rec.text), rec.props.get("cluster")
                old = self._cluster_of.get(text)
                if old is not None and old in self._cluster_tasks:
                    self._cluster_tasks[old] = self._cluster_tasks[old] - {text}
                new = NO if c is None else int(c)
                self._cluster_of[text] = new
                if new != NO and (new in self._cluster_tasks or self.complete):
                    self._cluster_tasks[new] = self._cluster_tasks.get(new, frozenset()) | {text}
        for i in deleted:
            if i in self._skills:
                self._skills[i] = None
                self._views.pop(i, None)
        for k in touched:  # (after the skills' new props are in)
            patched = self._voters[k].patched(changed, self._view)
            if patched is None:
                del self._voters[k]
            else:
                self._voters[k] = patched
        if gone_ids:
            for sid, lst in self._guards.items():
                self._guards[sid] = [g for g in lst if g[0] not in gone_ids]
        for rec in nodes:
            p = rec.props
            sid = p.get("trigger_state")
            if rec.label != Label.GUARDRAIL or rec.id in set(deleted) or not sid:
                continue
            if p.get("status", Status.ACTIVE.value) == Status.ACTIVE.value and \
                    (sid in self._guards or self.complete):
                bans = [self.action_id(template(str(a), self.constants))
                        for a in p.get("forbidden") or ()]
                self._guards.setdefault(sid, []).append(
                    (rec.id, sid, bans, float(p.get("severity") or 0.0)))

    def clear(self) -> None:
        self.complete = False  # every key is cached (a miss means none), after `prefetch`
        self._applies: dict[str, frozenset[str]] = {}
        self._plans: dict[str, frozenset[str]] = {}
        self._skills: dict[str, dict[str, Any] | None] = {}
        self._views: dict[str, SkillView | None] = {}
        self._guards: dict[str, list[Guardrail]] = {}
        self._cluster_of: dict[str, int] = {}
        self._cluster_tasks: dict[int, frozenset[str]] = {}
        self._voters: dict[tuple[str, str], Voters] = {}

    def prefetch(self, tasks: list[NodeRecord]) -> None:
        """Everything at once, when the memory is built (a cold start reads the store anyway):
        warm queries then never touch the store. `tasks`: the Task nodes just read."""
        store = self.store
        if store is None:
            return
        applies: dict[str, set[str]] = defaultdict(set)
        for e in store.edges(Rel.APPLIES_IN):
            applies[e.dst].add(e.src)
        plans: dict[str, set[str]] = defaultdict(set)
        for e in store.edges(Rel.PLANS_FOR):
            plans[e.dst].add(e.src)
        skills = {r.id: dict(r.props) for r in store.find_nodes(Label.SKILL)}
        guards: dict[str, list[Guardrail]] = defaultdict(list)
        for rec in store.find_nodes(Label.GUARDRAIL):
            p = rec.props
            sid = p.get("trigger_state")
            if sid and p.get("status", Status.ACTIVE.value) == Status.ACTIVE.value:
                bans = [self.action_id(template(str(a), self.constants))
                        for a in p.get("forbidden") or ()]
                guards[sid].append((rec.id, sid, bans, float(p.get("severity") or 0.0)))
        clusters: dict[int, set[str]] = defaultdict(set)
        cluster_of: dict[str, int] = {}
        for r in tasks:
            text, c = r.props.get("text", r.text), r.props.get("cluster")
            cluster_of[text] = NO if c is None else int(c)
            if c is not None:
                clusters[int(c)].add(text)
        with self.lock:
            self._applies = {k: frozenset(v) for k, v in applies.items()}
            self._plans = {k: frozenset(v) for k, v in plans.items()}
            self._skills = skills
            self._guards = dict(guards)
            self._cluster_of = cluster_of
            self._cluster_tasks = {k: frozenset(v) for k, v in clusters.items()}
            self._voters = {}
            self.complete = True
        for key in self._applies:  # the skill votes' arrays of every state, built now (cold)
            self.voters(Rel.APPLIES_IN, key)

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
            by_state = {s: self._edges(store, Rel.APPLIES_IN, s, self._applies, self.complete)
                        for s in states}
            by_task = {t: self._edges(store, Rel.PLANS_FOR, t, self._plans, self.complete)
                       for t in tasks}
            ids = sorted(set().union(*by_state.values(), *by_task.values()))
            self._load_skills(store, ids)
            out = []
            for i in ids:
                v = self._view(i)
                if v is not None:
                    out.append(SkillView(
                        v.id, v.tier, v.actions, v.utility, v.support,
                        frozenset(s for s, srcs in by_state.items() if i in srcs),
                        frozenset(t for t, srcs in by_task.items() if i in srcs), v.episodes))
        return out

    def _load_skills(self, store: GraphStore, ids: Iterable[str]) -> None:
        missing = [i for i in ids if i not in self._skills]
        if missing:
            for rec in store.get_nodes(missing):
                self._skills[rec.id] = dict(rec.props) if rec.label == Label.SKILL else None
            for i in missing:
                self._skills.setdefault(i, None)

    def voters(self, rel: Rel, key: str) -> Voters:
        """The served skills applying in state `key` (APPLIES_IN) or planning task `key`
        (PLANS_FOR), as arrays; built once, kept until a write touches them."""
        store = self.store
        with self.lock:
            hit = self._voters.get((rel.value, key))
            if hit is None:
                views: list[SkillView] = []
                if store is not None:
                    cache = self._applies if rel == Rel.APPLIES_IN else self._plans
                    ids = sorted(self._edges(store, rel, key, cache, self.complete))
                    self._load_skills(store, ids)
                    views = [v for i in ids if (v := self._view(i)) is not None]
                hit = self._voters[(rel.value, key)] = Voters.of(views, self.action_index)
        return hit

    def skill_votes(self, states: Iterable[str], tasks: Iterable[str],
                    history: list[str], own: str | None) -> SkillVotes:
        """Each active skill applying in `states` or planning `tasks` (node ids) votes the
        action that follows `history` (templates) in it (`sources.next_in_sequence`) with
        max(utility, 0.05); a skill of support 1 mined from episode `own` does not vote.
        Returns the votes over the top one and, per action, the skills behind it (by id).

        The same sums as a loop over the skills in id order (the sums run in that order):
        only skills holding the last history action need the alignment; every other one
        votes its first action, read from arrays built once per state and task."""
        groups = [self.voters(Rel.APPLIES_IN, k) for k in sorted(set(states))]
        groups += [self.voters(Rel.PLANS_FOR, k) for k in sorted(set(tasks))]
        groups = [g for g in groups if len(g.views)]
        if not groups:
            return {}, {}
        last = history[-1] if history else None
        if len(groups) == 1:
            g = groups[0]
            ids, first, weight, support = g.ids, g.first, g.weight, g.support
            view = g.views.__getitem__
            special = g.holding.get(last, np.zeros(0, np.int64)) if last is not None \
                else np.zeros(0, np.int64)
        else:
            ids, at = np.unique(np.concatenate([g.ids for g in groups]), return_index=True)
            starts = np.cumsum([0] + [len(g.views) for g in groups])
            group_of = np.searchsorted(starts, at, side="right") - 1  # of each distinct skill
            within = at - starts[group_of]

            def view(r: int) -> SkillView:  # the r-th distinct skill, without a list of all
                return groups[int(group_of[r])].views[int(within[r])]

            first = np.concatenate([g.first for g in groups])[at]
            weight = np.concatenate([g.weight for g in groups])[at]
            support = np.concatenate([g.support for g in groups])[at]
            special = np.zeros(0, np.int64)
            if last is not None:
                held = [g.ids[g.holding[last]] for g in groups if last in g.holding]
                if held:
                    special = np.searchsorted(ids, np.unique(np.concatenate(held)))
        nxt = first.copy()
        keep = np.ones(len(ids), bool)
        if own is not None:
            for r in np.flatnonzero(support <= 1).tolist():
                if own in view(r).episodes:
                    keep[r] = False
        # in id order, as the loop would meet them: the aligned skills, and first actions not
        # in the vocabulary yet (`action_id` adds them: the same ids in the same order)
        todo = np.union1d(special, np.flatnonzero(first == NO)).tolist()
        is_special = set(special.tolist())
        for r in todo:
            if not keep[r]:
                continue
            t = aligned(view(r).actions, history) if r in is_special \
                else view(r).actions[0]
            if t is None:
                keep[r] = False
            else:
                nxt[r] = self.action_id(t)
        for g in groups:  # first actions now known: resolved once
            unknown = np.flatnonzero(g.first == NO)
            for r in unknown.tolist():
                g.first[r] = self.action_index.get(g.views[r].actions[0], NO)
        c, w, who = nxt[keep], weight[keep], ids[keep]
        if not c.size:
            return {}, {}
        total = np.bincount(c, weights=w)  # sums in id order, as the loop adds
        labels, at = np.unique(c, return_index=True)
        labels = labels[np.argsort(at, kind="stable")]  # as the loop first met them
        top = float(total.max())
        order = np.argsort(c, kind="stable")
        bounds = np.searchsorted(c[order], labels)
        ends = np.searchsorted(c[order], labels, side="right")
        behind = {int(a): who[order[b:e]].tolist()
                  for a, b, e in zip(labels.tolist(), bounds.tolist(), ends.tolist(),
                                     strict=True)}
        votes = {int(a): float(total[a]) / top for a in labels.tolist()} if top > 0 else {}
        return votes, behind

    def _view(self, i: str) -> SkillView | None:
        """The served skill `i` (None when inactive or empty), built once per generation."""
        hit = self._views.get(i, False)
        if hit is False:
            p = self._skills[i]
            hit = None
            if p is not None and p.get("status", Status.ACTIVE.value) == Status.ACTIVE.value \
                    and p.get("actions"):
                hit = SkillView(
                    id=i, tier=str(p.get("tier") or ""),
                    actions=[template(str(a), self.constants) for a in p["actions"]],
                    utility=float(p.get("utility") or 0.0), support=int(p.get("support") or 0),
                    states=frozenset(), tasks=frozenset(),
                    episodes=frozenset(p.get("episodes") or ()))
            self._views[i] = hit
        return hit

    @staticmethod
    def _edges(store: GraphStore, rel: Rel, dst: str, cache: dict[str, frozenset[str]],
               complete: bool) -> frozenset[str]:
        hit = cache.get(dst)
        if hit is None and complete:
            return frozenset()
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
                if hit is None and self.complete:
                    hit = []
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
            if hit is None and self.complete:
                hit = NO
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
            if hit is None and self.complete:
                hit = frozenset()
            if hit is None:
                hit = self._cluster_tasks[cluster] = frozenset(
                    r.props.get("text", r.text)
                    for r in store.find_nodes(Label.TASK, where={"cluster": cluster}))
        return hit


_ALIGNED: dict[tuple[tuple[str, ...], tuple[str, ...]], str | None] = {}
ALIGNED_MAX = 65_536  # entries of that memo (emptied when full)


def aligned(actions: list[str], history: list[str]) -> str | None:
    """`next_in_sequence(actions, history)`, memoised: it reads only the last len(actions)
    actions of the history (a suffix it matches ends inside `actions`), so that suffix and
    the actions are the key; the same skills meet the same recent actions call after call
    (several hundred skills hold a common action at 1,000,000 steps)."""
    key = (tuple(actions), tuple(history[-len(actions):]) if actions else ())
    hit = _ALIGNED.get(key, _ALIGNED)
    if hit is _ALIGNED:
        if len(_ALIGNED) >= ALIGNED_MAX:
            _ALIGNED.clear()
        hit = _ALIGNED[key] = next_in_sequence(actions, history)
    return hit  # type: ignore[return-value]


def task_node_id(text: str) -> str:
    return TaskNode(text=text).id


# ---------------------------------------------------------------------- change journal
# Distillation's writer notes exactly what it wrote (`note_written`); an ingest through the
# facade marks the generations it spanned (`mark_ingest`). A memory whose caches were valid
# at the mark's start applies the notes in place; any other write (a refine pass, another
# process) finds no matching mark, and the caches are dropped and looked up again.
_JOURNAL: weakref.WeakKeyDictionary[Any, list[tuple]] = weakref.WeakKeyDictionary()
_JOURNAL_LOCK = threading.Lock()
JOURNAL_MAX = 256  # entries kept per store; past that the chain is cut (caches dropped)


def _append(store: GraphStore, entry: tuple) -> None:
    with _JOURNAL_LOCK:
        journal = _JOURNAL.setdefault(store, [])
        if len(journal) >= JOURNAL_MAX:  # nobody is reading (no memory): keep it bounded
            journal.clear()
        journal.append(entry)


def note_written(store: GraphStore, nodes: Iterable[NodeRecord], deleted: Iterable[str],
                 put: Iterable[Any], gone: Iterable[tuple[Any, str, str]]) -> None:
    """What a derived-layer write changed: upserted nodes (skills, guardrails, task
    clusters...), deleted node ids, upserted edges and deleted (type, src, dst) edges."""
    _append(store, ("write", list(nodes), list(deleted), list(put), list(gone)))


def mark_ingest(store: GraphStore, start: int, end: int) -> None:
    """Every write between generations `start` and `end` was an ingest (steps, which the
    memory takes in through `remember`) or a noted derived write."""
    _append(store, ("mark", start, end))


def ingests_only(store: GraphStore, start: int, end: int) -> bool:
    """Whether the journal's marks chain from generation `start` to `end`: every write in
    between was an ingest in this process (its steps handed to the memory) or a noted
    derived write. Read without taking the journal."""
    with _JOURNAL_LOCK:
        journal = list(_JOURNAL.get(store, ()))
    at = start
    for entry in journal:
        if entry[0] == "mark" and entry[1] == at:
            at = entry[2]
    return at == end


def take_journal(store: GraphStore) -> list[tuple]:
    with _JOURNAL_LOCK:
        return _JOURNAL.pop(store, [])
