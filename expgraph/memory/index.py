"""`StepMemory`: every Step of a store as arrays, built once per store generation and grown in
place by ingest (no rebuild after a write). What every candidate source and feature reads."""

from __future__ import annotations

import threading
import weakref
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from expgraph.distill.corpus import CONSTANTS_META
from expgraph.memory import ann
from expgraph.memory.ann import ANN_MIN_STEPS, Column, DistinctVectors
from expgraph.models import Label, NodeRecord, Rel, Status
from expgraph.store.base import GraphStore
from expgraph.templates import template

NO = -1  # "none" in the integer columns (no previous action, no state, no cluster)


@dataclass
class SkillView:
    """A served skill as the advice needs it: its action templates and where it applies."""

    id: str
    tier: str
    actions: list[str]
    utility: float
    support: int
    states: frozenset[str]
    tasks: frozenset[str]
    episodes: frozenset[str]


@dataclass
class StepMemory:
    generation: int
    dim: int
    constants: dict[str, set[str]]
    # one entry per step
    step_ids: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # action key (templates follow constants)
    prev_keys: list[list[str]] = field(default_factory=list)
    label: list[int] = field(default_factory=list)  # template index of the action taken
    prev1: list[int] = field(default_factory=list)
    prev2: list[int] = field(default_factory=list)
    episode: list[int] = field(default_factory=list)
    task: list[int] = field(default_factory=list)
    ok: list[bool] = field(default_factory=list)  # the episode succeeded
    err: list[bool] = field(default_factory=list)  # the step itself errored
    state: list[str | None] = field(default_factory=list)
    position: list[int] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)  # the concrete action as the agent wrote it
    arguments: list[dict[str, Any]] = field(default_factory=list)
    # the columns as growable arrays (what `arrays` serves, without copying)
    _cols: dict[str, Column] = field(default_factory=dict)
    # vocabularies
    actions: list[str] = field(default_factory=list)
    action_index: dict[str, int] = field(default_factory=dict)
    episodes: list[str] = field(default_factory=list)
    episode_index: dict[str, int] = field(default_factory=dict)
    tasks: list[str] = field(default_factory=list)
    task_index: dict[str, int] = field(default_factory=dict)
    task_cluster: list[int] = field(default_factory=list)
    _task_vecs: list[np.ndarray] = field(default_factory=list)
    task_steps: list[list[int]] = field(default_factory=list)  # step indices of each task
    _by_label: dict[int, Column] = field(default_factory=dict)  # step indices per action
    skills: list[SkillView] = field(default_factory=list)
    # (guardrail id, trigger state id, forbidden template ids, severity)
    guardrails: list[tuple[str, str, list[int], float]] = field(default_factory=list)
    state_index: dict[str, int] = field(default_factory=dict)
    _arrays: dict[str, np.ndarray] | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)
    # approximate nearest-neighbour index per vector view, from `ann_min_steps` steps on
    ann_min_steps: int = ANN_MIN_STEPS
    _views: dict[str, DistinctVectors] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._cols = {"new": Column(np.float32, self.dim), "win": Column(np.float32, self.dim),
                      "label": Column(np.int64), "prev1": Column(np.int64),
                      "prev2": Column(np.int64), "episode": Column(np.int64),
                      "task": Column(np.int64), "ok": Column(bool), "err": Column(bool),
                      "position": Column(np.int64), "state": Column(np.int64)}
        self._views = {"new": DistinctVectors(self.dim), "win": DistinctVectors(self.dim)}

    # ---------------------------------------------------------------- building
    def action_id(self, tmpl: str) -> int:
        i = self.action_index.get(tmpl)
        if i is None:
            i = self.action_index[tmpl] = len(self.actions)
            self.actions.append(tmpl)
        return i

    def template(self, key: str) -> str:
        return template(key, self.constants)

    def task_id(self, text: str, vec: np.ndarray | None, cluster: int | None) -> int:
        i = self.task_index.get(text)
        if i is None:
            i = self.task_index[text] = len(self.tasks)
            self.tasks.append(text)
            self.task_cluster.append(NO if cluster is None else int(cluster))
            self._task_vecs.append(np.zeros(self.dim, np.float32) if vec is None else vec)
            self.task_steps.append([])
        return i

    def add(self, rec: NodeRecord, win_vec: np.ndarray) -> None:
        """One Step node (with its newest-message embedding) and its window vector."""
        p = rec.props
        if rec.embedding is None:
            return
        ep = p.get("episode", "")
        e = self.episode_index.get(ep)
        if e is None:
            e = self.episode_index[ep] = len(self.episodes)
            self.episodes.append(ep)
        key = p.get("key") or p.get("name") or ""
        prev_keys = list(p.get("prev") or [])[:2]
        prev = [self.action_id(self.template(k)) for k in prev_keys]
        self.step_ids.append(rec.id)
        self.keys.append(key)
        self.prev_keys.append(prev_keys)
        self.label.append(self.action_id(self.template(key)))
        self.prev1.append(prev[0] if prev else NO)
        self.prev2.append(prev[1] if len(prev) > 1 else NO)
        self.episode.append(e)
        self.task.append(self.task_id(p.get("task", ""), None, None))
        self.task_steps[self.task[-1]].append(len(self.step_ids) - 1)
        self.ok.append(bool(p.get("success")))
        self.err.append(bool(p.get("error")))
        self.state.append(p.get("state"))
        self.position.append(int(p.get("index") or 0))
        self.raw.append(str(p.get("raw") or ""))
        self.arguments.append(dict(p.get("arguments") or {}))
        c = self._cols
        for name in ("label", "prev1", "prev2", "episode", "task", "ok", "err", "position"):
            c[name].append(getattr(self, name)[-1])
        c["state"].append(self.state_int(self.state[-1]))
        self._label_column(self.label[-1]).append(len(self.step_ids) - 1)
        c["new"].append(np.asarray(rec.embedding, dtype=np.float32))
        c["win"].append(win_vec)
        i = len(self.step_ids) - 1
        self._views["new"].add(i, c["new"].buf[i])
        self._views["win"].add(i, c["win"].buf[i])
        self._arrays = None

    def relabel(self, constants: dict[str, set[str]]) -> None:
        """New action constants (a distillation learned them): every step's template again."""
        self.constants = constants
        self.label = [self.action_id(self.template(k)) for k in self.keys]
        prev = [[self.action_id(self.template(k)) for k in ks] for ks in self.prev_keys]
        self.prev1 = [p[0] if p else NO for p in prev]
        self.prev2 = [p[1] if len(p) > 1 else NO for p in prev]
        for name in ("label", "prev1", "prev2"):
            self._cols[name].assign(getattr(self, name))
        self._by_label = {}
        for i, c in enumerate(self.label):
            self._label_column(c).append(i)
        self._arrays = None

    def refresh_derived(self, store: GraphStore) -> None:
        """Re-read what distillation and refinement own (constants, task clusters, skills,
        guardrails); the steps themselves are append-only and stay."""
        constants = _constants(store)
        if constants != self.constants:
            self.relabel(constants)
        _load_tasks(self, store)
        self.skills = _skill_views(store, constants)
        self.guardrails = _guardrails(self, store)
        self._arrays = None

    def state_int(self, sid: str | None) -> int:
        if sid is None:
            return NO
        i = self.state_index.get(sid)
        if i is None:
            i = self.state_index[sid] = len(self.state_index)
        return i

    def _label_column(self, c: int) -> Column:
        col = self._by_label.get(c)
        if col is None:
            col = self._by_label[c] = Column(np.int64)
        return col

    # ---------------------------------------------------------------- reading
    def steps_taking(self, c: int) -> np.ndarray:
        """Indices of the steps whose action has template id `c` (ascending)."""
        col = self._by_label.get(c)
        return col.view() if col is not None else np.zeros(0, np.int64)

    def __len__(self) -> int:
        return len(self.step_ids)

    @property
    def approximate(self) -> bool:
        """Large enough that nearest steps come from the ANN index (else exact search)."""
        return len(self) >= self.ann_min_steps

    def search(self, view: str, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The steps of about the k distinct vectors nearest to `q` by one view ("new" or
        "win"), from its ANN index, with their similarity."""
        return self._views[view].search(q, k)

    def sims(self, view: str, steps: np.ndarray, q: np.ndarray) -> np.ndarray:
        """The similarity of these steps' vectors (one view) to `q`."""
        return self._views[view].sims(steps, q)

    def distinct(self, view: str) -> int:
        return len(self._views[view])

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        """The columns as numpy arrays: views of the growable columns (no copy per step)
        plus the task table (one row per task, rebuilt after `add` or a refresh)."""
        with self.lock:
            if self._arrays is None:
                d = self.dim
                self._arrays = {name: col.view() for name, col in self._cols.items()}
                self._arrays["task_vecs"] = (np.vstack(self._task_vecs) if self._task_vecs
                                             else np.zeros((0, d), np.float32))
                self._arrays["cluster"] = np.asarray(self.task_cluster, dtype=np.int64)
                arr = self._arrays
                # Failure evidence: an errored step; in a failed episode without one (nobody
                # said which step went wrong), each of its steps.
                has_err = np.zeros(len(self.episodes), dtype=bool)
                has_err[arr["episode"][arr["err"]]] = True
                arr["failing"] = arr["err"] | (~arr["ok"] & ~has_err[arr["episode"]])
            return self._arrays


def _skill_views(store: GraphStore, constants: dict[str, set[str]]) -> list[SkillView]:
    applies: dict[str, set[str]] = defaultdict(set)
    for e in store.edges(Rel.APPLIES_IN):
        applies[e.src].add(e.dst)
    plans: dict[str, set[str]] = defaultdict(set)
    for e in store.edges(Rel.PLANS_FOR):
        plans[e.src].add(e.dst)
    out = []
    for rec in store.find_nodes(Label.SKILL):
        p = rec.props
        if p.get("status", Status.ACTIVE.value) != Status.ACTIVE.value or not p.get("actions"):
            continue
        out.append(SkillView(
            id=rec.id, tier=str(p.get("tier") or ""),
            actions=[template(str(a), constants) for a in p["actions"]],
            utility=float(p.get("utility") or 0.0), support=int(p.get("support") or 0),
            states=frozenset(applies.get(rec.id, ())), tasks=frozenset(plans.get(rec.id, ())),
            episodes=frozenset(p.get("episodes") or ())))
    return out


def _constants(store: GraphStore) -> dict[str, set[str]]:
    return {k: set(v) for k, v in (store.get_meta(CONSTANTS_META) or {}).items()}


def _load_tasks(mem: StepMemory, store: GraphStore) -> None:
    for rec in store.find_nodes(Label.TASK, with_embedding=True):
        text = rec.props.get("text", rec.text)
        vec = np.asarray(rec.embedding, np.float32) if rec.embedding else None
        i = mem.task_id(text, vec, rec.props.get("cluster"))
        cluster = rec.props.get("cluster")
        mem.task_cluster[i] = NO if cluster is None else int(cluster)
        if vec is not None:
            mem._task_vecs[i] = vec


def _guardrails(mem: StepMemory, store: GraphStore) -> list[tuple[str, str, list[int], float]]:
    out = []
    for rec in store.find_nodes(Label.GUARDRAIL):
        p = rec.props
        if p.get("status", Status.ACTIVE.value) == Status.ACTIVE.value and p.get("trigger_state"):
            bans = [mem.action_id(mem.template(str(a))) for a in p.get("forbidden") or ()]
            out.append((rec.id, p["trigger_state"], bans, float(p.get("severity") or 0.0)))
    return out


def build_memory(store: GraphStore, embedder: Any) -> StepMemory:
    """Every Step of the store (window vectors come from the embedding cache: no model call
    for texts ingest embedded), the tasks with their clusters, and the served skills."""
    constants = _constants(store)
    mem = StepMemory(generation=store.generation(), dim=int(embedder.dim), constants=constants,
                     ann_min_steps=ann.ANN_MIN_STEPS)
    _load_tasks(mem, store)
    steps = sorted(store.find_nodes(Label.STEP, with_embedding=True),
                   key=lambda r: (r.props.get("episode", ""), int(r.props.get("index") or 0)))
    wins = embedder.embed([r.props.get("window") or "" for r in steps]) if steps else []
    for rec, w in zip(steps, wins, strict=True):
        mem.add(rec, np.asarray(w, np.float32))
    mem.skills = _skill_views(store, constants)
    mem.guardrails = _guardrails(mem, store)
    return mem


_CACHE: weakref.WeakKeyDictionary[Any, StepMemory] = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()


def step_memory(store: GraphStore, embedder: Any) -> StepMemory:
    """The store's step memory for its current generation. Built once; after a write it is
    brought up to date in place when every stored step is already in it (ingest in this
    process hands its new steps over through `remember`), rebuilt otherwise."""
    gen = store.generation()
    with _CACHE_LOCK:
        mem = _CACHE.get(store)
    if mem is not None:
        with mem.lock:
            if mem.generation == gen:
                return mem
            if int(store.count_by_label().get(Label.STEP.value, 0)) == len(mem):
                mem.refresh_derived(store)
                mem.generation = gen
                return mem
    mem = build_memory(store, embedder)
    with _CACHE_LOCK:
        _CACHE[store] = mem
    return mem


def remember(store: GraphStore, steps: list[NodeRecord], windows: list[np.ndarray]) -> None:
    """Steps this process just committed, appended to the store's memory if one is built
    (the next `step_memory` call then only refreshes the derived layer)."""
    with _CACHE_LOCK:
        mem = _CACHE.get(store)
    if mem is None:
        return
    with mem.lock:
        known = set(mem.step_ids[-len(steps):]) if steps else set()
        for rec, w in zip(steps, windows, strict=True):
            if rec.id not in known:
                mem.add(rec, np.asarray(w, np.float32))
