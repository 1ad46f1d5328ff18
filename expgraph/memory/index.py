"""`StepMemory`: every Step of a store as arrays, built once per store generation and grown in
place by ingest (no rebuild after a write). What every candidate source and feature reads."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from expgraph.distill.corpus import CONSTANTS_META
from expgraph.memory import ann
from expgraph.memory.ann import ANN_MIN_STEPS, Column, DistinctVectors
from expgraph.memory.derived import DerivedLayer, SkillView, ingests_only
from expgraph.memory.records import STEPS_REWRITTEN_META, said_texts
from expgraph.models import Label, NodeRecord
from expgraph.store.base import GraphStore
from expgraph.templates import template

__all__ = ["NO", "SkillView", "StepMemory", "build_memory", "remember", "step_memory"]

NO = -1  # "none" in the integer columns (no previous action, no state, no cluster)
MEMO = 4096  # entries of `StepMemory.memo`


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
    reward: list[float | None] = field(default_factory=list)  # the episode's, after the step
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
    _task_vecs: Column | None = None  # one row per task (growable: no copy per refresh)
    _unknown_tasks: set[int] = field(default_factory=set)  # tasks whose vector is not read yet
    task_steps: list[list[int]] = field(default_factory=list)  # step indices of each task
    episode_steps: list[list[int]] = field(default_factory=list)  # step indices of each episode
    _by_label: dict[int, Column] = field(default_factory=dict)  # step indices per action
    # skills, guardrails and task clusters, looked up per query and cached until a write
    derived: DerivedLayer | None = None
    state_index: dict[str, int] = field(default_factory=dict)
    _arrays: dict[str, np.ndarray] | None = None
    _memo: dict[Any, Any] = field(default_factory=dict)  # see `memo`
    lock: threading.RLock = field(default_factory=threading.RLock)
    # approximate nearest-neighbour index per vector view, from `ann_min_steps` steps on
    ann_min_steps: int = ANN_MIN_STEPS
    _views: dict[str, DistinctVectors] = field(default_factory=dict)
    # each step's features.plan_status (-1: not computed yet), grown by features on demand
    plan_status: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    rewritten: int = 0  # the store's STEPS_REWRITTEN_META when the steps were read

    def __post_init__(self) -> None:
        self._cols = {"new": Column(np.float32, self.dim), "win": Column(np.float32, self.dim),
                      "said": Column(np.float32, self.dim),
                      "label": Column(np.int64), "prev1": Column(np.int64),
                      "prev2": Column(np.int64), "episode": Column(np.int64),
                      "task": Column(np.int64), "ok": Column(bool), "err": Column(bool),
                      "position": Column(np.int64), "state": Column(np.int64)}
        self._views = {"new": DistinctVectors(self.dim), "win": DistinctVectors(self.dim)}
        self._task_vecs = Column(np.float32, self.dim)
        if self.derived is None:
            self.derived = DerivedLayer(None, self.constants, self.action_id, self.action_index)

    # ---------------------------------------------------------------- building
    def action_id(self, tmpl: str) -> int:
        i = self.action_index.get(tmpl)
        if i is None:
            i = self.action_index[tmpl] = len(self.actions)
            self.actions.append(tmpl)
        return i

    def template(self, key: str) -> str:
        return template(key, self.constants)

    def task_id(self, text: str, vec: np.ndarray | None = None) -> int:
        i = self.task_index.get(text)
        if i is None:
            i = self.task_index[text] = len(self.tasks)
            self.tasks.append(text)
            self._task_vecs.append(np.zeros(self.dim, np.float32) if vec is None else vec)
            self.task_steps.append([])
            if vec is None:
                self._unknown_tasks.add(i)
        return i

    def add(self, rec: NodeRecord, win_vec: np.ndarray, said_vec: np.ndarray | None = None,
            ) -> None:
        """One Step node (with its newest-message embedding), its window vector and the
        vector of its previous action as written (`records.said_texts`; zeros for none)."""
        p = rec.props
        if rec.embedding is None:
            return
        ep = p.get("episode", "")
        e = self.episode_index.get(ep)
        if e is None:
            e = self.episode_index[ep] = len(self.episodes)
            self.episodes.append(ep)
            self.episode_steps.append([])
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
        self.task.append(self.task_id(p.get("task", "")))
        self.task_steps[self.task[-1]].append(len(self.step_ids) - 1)
        self.episode_steps[e].append(len(self.step_ids) - 1)
        self.ok.append(bool(p.get("success")))
        self.err.append(bool(p.get("error")))
        self.reward.append(None if p.get("reward") is None else float(p["reward"]))
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
        c["said"].append(np.zeros(self.dim, np.float32) if said_vec is None else said_vec)
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

    def refresh_derived(self, store: GraphStore, embedder: Any) -> None:
        """After a write: new action constants relabel the steps; the skills, guardrails and
        task clusters take in what distillation noted it wrote (`derived.sync`), or are looked
        up again as queries need them after any other write; the vectors of tasks new since
        the last refresh come from the embedding cache. Nothing is read per skill, edge or
        task of the store: a write costs the next query what it changed."""
        constants = _constants(store)
        same = constants == self.constants
        if not same:
            self.relabel(constants)
        self.derived.sync(store, constants, self.generation, store.generation())
        if self._unknown_tasks:
            todo = sorted(self._unknown_tasks)
            for t, vec in zip(todo, embedder.embed([self.tasks[t] for t in todo]), strict=True):
                self._task_vecs[t] = np.asarray(vec, np.float32)
            self._unknown_tasks.clear()
        self._arrays = None

    def skills_for(self, states: set[str], tasks: set[str]) -> list[SkillView]:
        """The active skills applying in these states or planning these tasks (node ids)."""
        return self.derived.skills_for(states, tasks)

    def guardrails_in(self, states: set[str]) -> list[tuple[str, str, list[int], float]]:
        """(guardrail id, trigger state, forbidden template ids, severity) in these states."""
        return self.derived.guardrails_in(states)

    def cluster_of(self, task: int) -> int:
        return self.derived.cluster_of(self.tasks[task])

    def cluster_tasks(self, cluster: int) -> np.ndarray:
        """Indices of the memory's tasks in `cluster`."""
        idx = [self.task_index[t] for t in self.derived.cluster_tasks(cluster)
               if t in self.task_index]
        return np.asarray(sorted(idx), np.int64)

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

    def view(self, name: str) -> DistinctVectors:
        """One vector view ("new" or "win"): its distinct vectors and their ANN index."""
        return self._views[name]

    def sims(self, view: str, steps: np.ndarray, q: np.ndarray) -> np.ndarray:
        """The similarity of these steps' vectors (one view) to `q`."""
        return self._views[view].sims(steps, q)

    def distinct(self, view: str) -> int:
        return len(self._views[view])

    def earlier_in_episode(self, i: int) -> list[int]:
        """The steps of step `i`'s episode taken before it (lower position), by step index:
        a lookup in its episode, not a pass over every step."""
        pos = self.position
        return [j for j in self.episode_steps[self.episode[i]] if pos[j] < pos[i]]

    def stalled(self, i: int) -> bool:
        """Whether step `i` is one of a failed episode's steps that reported a reward and came
        after the episode's last gain in reward (over 0 before its first step): what the run
        tried where it stopped making progress. A step without a reward says nothing (an
        agent that reports only the final score marks at most its last step)."""
        if self.ok[i] or self.reward[i] is None:
            return False
        memo = self.memo().setdefault("last_gain", {})
        e = self.episode[i]
        last = memo.get(e)
        if last is None:
            last, best = -1, 0.0
            for j in sorted(self.episode_steps[e], key=self.position.__getitem__):
                r = self.reward[j]
                if r is not None and r > best:
                    last, best = self.position[j], r
            memo[e] = last
        return self.position[i] > last

    def memo(self, arrays: dict[str, np.ndarray] | None = None) -> dict[Any, Any]:
        """Results over every step that several questions share (the votes of the steps
        after one previous action, of one abstract state...): kept while the columns are
        the same, dropped with them by any add, relabelling or refresh; at most MEMO entries.
        `arrays`: the columns the caller computes from; when a write replaced them since,
        a scratch dict (nothing computed from old columns is kept for new ones)."""
        with self.lock:
            if self.arrays is not arrays and arrays is not None:  # (rebuilt: empty memo)
                return {}
            if len(self._memo) >= MEMO:
                self._memo = {}
            return self._memo

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        """The columns as numpy arrays: views of the growable columns (no copy per step)
        plus the task table (one row per task, rebuilt after `add` or a refresh)."""
        with self.lock:
            if self._arrays is None:
                self._arrays = {name: col.view() for name, col in self._cols.items()}
                self._arrays["task_vecs"] = self._task_vecs.view()
                arr = self._arrays
                arr["failing"] = failure_evidence(arr, len(self.episodes), len(self.actions))
                self._memo = {}
            return self._arrays


def failure_evidence(arr: dict[str, np.ndarray], n_episodes: int, n_actions: int,
                     ) -> np.ndarray:
    """Which steps are evidence of failure: an errored step; in a failed episode that names
    no errored step (nobody said which step went wrong), each step whose action successful
    runs never took in that abstract state. A routine step of a failed run (the lookup every
    run makes) is not held against the action: the failure is looked for where the run
    departed from what worked."""
    has_err = np.zeros(n_episodes, dtype=bool)
    has_err[arr["episode"][arr["err"]]] = True
    unnamed = ~arr["ok"] & ~has_err[arr["episode"]]
    if not unnamed.any():
        return arr["err"].copy()
    known = arr["state"] != NO
    pair = np.where(known, arr["state"] * max(n_actions, 1) + arr["label"], 0)
    done = np.zeros(int(pair.max()) + 1, dtype=bool)  # (state, action) pairs a success took
    done[pair[arr["ok"] & ~arr["err"] & known]] = True
    return arr["err"] | (unnamed & ~(done[pair] & known))


def _constants(store: GraphStore) -> dict[str, set[str]]:
    return {k: set(v) for k, v in (store.get_meta(CONSTANTS_META) or {}).items()}


def _load_tasks(mem: StepMemory, store: GraphStore) -> list[NodeRecord]:
    recs = store.find_nodes(Label.TASK, with_embedding=True)
    for rec in recs:
        vec = np.asarray(rec.embedding, np.float32) if rec.embedding else None
        mem.task_id(rec.props.get("text", rec.text), vec)
    return recs


# what `StepMemory.add` reads of a step's props (the rest, its texts above all, is dropped
# while a store's steps are read)
STEP_PROPS = ("episode", "key", "name", "action", "prev", "task", "success", "error", "reward",
              "state", "index", "raw", "arguments")


def _stored_steps(store: GraphStore) -> tuple[list[NodeRecord], list[str]]:
    """Every Step of the store, ordered by (episode, position), as records holding what `add`
    reads and their newest-message vector as float32, with each step's window text. Read in
    chunks where the store can (`iter_nodes`): a record with its vector as Python floats is
    ~12 KB, 12 GB at a million steps."""
    rows = getattr(store, "iter_nodes", None)
    if rows is None:  # a backend without a chunked read: every record at once
        rows = ((r.id, r.props, r.embedding)
                for r in store.find_nodes(Label.STEP, with_embedding=True))
    else:
        rows = rows(Label.STEP)
    shared: dict[str, str] = {}  # one string per distinct episode id, task and window
    steps, windows = [], []
    for id_, props, vec in rows:
        if vec is None:
            continue
        keep = {k: props[k] for k in STEP_PROPS if k in props}
        for k in ("episode", "task"):
            if k in keep:
                keep[k] = shared.setdefault(keep[k], keep[k])
        win = props.get("window") or ""
        windows.append(shared.setdefault(win, win))
        steps.append(NodeRecord.model_construct(id=id_, label=Label.STEP, props=keep,
                                                embedding=np.asarray(vec, np.float32)))
    order = sorted(range(len(steps)), key=lambda i: (steps[i].props.get("episode", ""),
                                                     int(steps[i].props.get("index") or 0)))
    return [steps[i] for i in order], [windows[i] for i in order]


def build_memory(store: GraphStore, embedder: Any) -> StepMemory:
    """Every Step of the store (window vectors come from the embedding cache: no model call
    for texts ingest embedded; each distinct window once), the tasks with their clusters,
    and the served skills."""
    constants = _constants(store)
    mem = StepMemory(generation=store.generation(), dim=int(embedder.dim), constants=constants,
                     ann_min_steps=ann.ANN_MIN_STEPS,
                     rewritten=int(store.get_meta(STEPS_REWRITTEN_META, 0)))
    tasks = _load_tasks(mem, store)
    steps, windows = _stored_steps(store)
    distinct = list(dict.fromkeys(windows))
    vecs = np.asarray(embedder.embed(distinct), np.float32) if distinct else None
    row = {w: i for i, w in enumerate(distinct)}
    saids = said_vectors(embedder, said_of(steps))  # before the loop frees the records
    for n, rec in enumerate(steps):
        mem.add(rec, vecs[row[windows[n]]], saids[n])
        steps[n] = None  # type: ignore[call-overload]  # (its vector is in the columns now)
    mem.derived.bind(store, constants)
    mem.derived.prefetch(tasks)
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
            # every stored step is in it as stored: only ingests here since (no count of the
            # store's steps: a scan of every node, ~6 ms at 100,000 steps), or the count says
            # so and no rebuild rewrote them in place since
            if ingests_only(store, mem.generation, gen) or (
                    int(store.count_by_label().get(Label.STEP.value, 0)) == len(mem)
                    and int(store.get_meta(STEPS_REWRITTEN_META, 0)) == mem.rewritten):
                mem.refresh_derived(store, embedder)
                mem.generation = gen
                return mem
    mem = build_memory(store, embedder)
    with _CACHE_LOCK:
        _CACHE[store] = mem
    return mem


def said_of(steps: Sequence[NodeRecord]) -> list[str]:
    """Each Step node's previous action as written (`records.said_texts`), for Step nodes
    sorted by episode and index (the previous node is the previous step of its episode)."""
    out: list[str] = []
    for j, rec in enumerate(steps):
        p = rec.props
        prev = steps[j - 1].props if j else None
        if prev is None or prev.get("episode") != p.get("episode") or \
                int(prev.get("index") or 0) != int(p.get("index") or 0) - 1:
            out.append("")
        else:
            out.append(said_texts([prev, p])[1])
    return out


def said_vectors(embedder: Any, texts: Sequence[str]) -> list[np.ndarray | None]:
    """The embeddings of `said_of` texts (None where a step has no previous action)."""
    todo = list(dict.fromkeys(t for t in texts if t))
    vecs = dict(zip(todo, np.asarray(embedder.embed(todo), np.float32), strict=True)) \
        if todo else {}
    return [vecs.get(t) for t in texts]


def remember(store: GraphStore, steps: list[NodeRecord], windows: list[np.ndarray],
             saids: Sequence[np.ndarray | None] | None = None) -> None:
    """Steps this process just committed, appended to the store's memory if one is built
    (the next `step_memory` call then only refreshes the derived layer); `saids` are the
    vectors of `said_of(steps)`."""
    with _CACHE_LOCK:
        mem = _CACHE.get(store)
    if mem is None:
        return
    with mem.lock:
        known = set(mem.step_ids[-len(steps):]) if steps else set()
        saids = list(saids) if saids is not None else [None] * len(steps)
        for rec, w, v in zip(steps, windows, saids, strict=True):
            if rec.id not in known:
                mem.add(rec, np.asarray(w, np.float32), v)
        for view in mem._views.values():
            view.catch_up()
