"""Nearest steps without reading every step.

Exact search reads both vectors of every step per query (2 x 384 floats x n): linear in the
store. Past `ANN_MIN_STEPS` steps each vector view gets a faiss HNSW index (inner product on
unit vectors), grown with the memory's columns, and a query's neighbour features are computed
over a `Universe`: the steps nearest to it by either view, plus the steps its other features
must see (steps of the nearest tasks, the neighbourhoods of near failing steps, the steps of a
candidate action). Below the threshold the universe is every step, so small stores answer
exactly as exact search does (bench/query_latency.py measures recall@10 against exact above
it; bench/ann_compare.py why faiss HNSW).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

ANN_MIN_STEPS = 20_000  # below this, exact search over every step (identical answers)
POOL = 256  # nearest steps by each view that every query's universe holds
HNSW_M = 16
EF_CONSTRUCTION = 80
EF_SEARCH = 2 * POOL
EXACT_SUBSET = 1024  # a subset this small is searched exactly (its rows gathered)
TASK_STEPS = 4096  # steps of near tasks added to a universe at most
MAX_TASKS = 64  # near tasks looked at
FAILURE_POOL = 64  # neighbourhood of a near failing step (how unusual its action was)


class VectorIndex:
    """faiss HNSW over the rows of one growing column; `sync` adds the rows appended since."""

    def __init__(self, dim: int) -> None:
        import faiss

        self.index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = EF_CONSTRUCTION
        self.params = faiss.SearchParametersHNSW(efSearch=EF_SEARCH)
        self.lock = threading.Lock()

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def sync(self, vecs: np.ndarray) -> None:
        with self.lock:
            have = len(self)
            if len(vecs) > have:
                self.index.add(np.ascontiguousarray(vecs[have:], dtype=np.float32))

    def search(self, q: np.ndarray, k: int) -> np.ndarray:
        """Indices of (about) the k rows with the largest inner product with `q`."""
        k = min(k, len(self))
        if k <= 0:
            return np.zeros(0, np.int64)
        _, ids = self.index.search(np.asarray(q, np.float32).reshape(1, -1), k,
                                   params=self.params)
        ids = ids[0]
        return ids[ids >= 0].astype(np.int64)


@dataclass
class Universe:
    """The steps a query's neighbour features read (sorted global indices) with each one's
    newest-message, window and task similarity to the query. `full`: every step (exact)."""

    idx: np.ndarray
    new: np.ndarray
    win: np.ndarray
    task: np.ndarray
    full: bool
    pool: np.ndarray | None = None  # the POOL nearest steps by the newest message


    def local(self, col: np.ndarray) -> np.ndarray:
        """A per-step column restricted to the universe (the column itself when full)."""
        return col if self.full else col[self.idx]


class Rows:
    """Rows of a column addressed by universe positions, gathered on use only."""

    def __init__(self, col: np.ndarray, idx: np.ndarray) -> None:
        self.col, self.idx = col, idx

    def __getitem__(self, sel: Any) -> np.ndarray:
        return self.col[self.idx[sel]]


def exact_universe(arrays: dict[str, np.ndarray], new: np.ndarray, win: np.ndarray,
                   task_sim: np.ndarray) -> Universe:
    n = len(arrays["label"])
    s_task = task_sim[arrays["task"]] if task_sim.size else np.zeros(n, np.float32)
    return Universe(idx=np.arange(n), new=arrays["new"] @ new if n else np.zeros(0, np.float32),
                    win=arrays["win"] @ win if n else np.zeros(0, np.float32), task=s_task,
                    full=True)


@dataclass
class Need:
    """A masked nearest-k a feature takes from the universe: the `k` nearest steps by the
    newest message among `mask`, or only those at least `min_sim` alike."""

    mask: np.ndarray
    k: int
    min_sim: float = -1.0


class _Builder:
    """Collects a universe's steps; their newest-message similarities computed once each."""

    def __init__(self, arrays: dict[str, np.ndarray], search: Callable[..., np.ndarray],
                 new: np.ndarray) -> None:
        self.arrays, self.search, self.q = arrays, search, new
        self.idx = np.zeros(0, np.int64)
        self.sims = np.zeros(0, np.float32)
        self._wide: np.ndarray | None = None

    def add(self, steps: np.ndarray) -> None:
        steps = np.setdiff1d(np.asarray(steps, np.int64), self.idx)
        if steps.size:
            self.idx = np.concatenate([self.idx, steps])
            self.sims = np.concatenate([self.sims, self.arrays["new"][steps] @ self.q])

    def wide(self) -> np.ndarray:
        if self._wide is None:
            self._wide = self.search("new", self.q, 4 * POOL)
        return self._wide

    def subset(self, mask: np.ndarray) -> None:
        """Every step of `mask` when few, else the nearest of a wider search."""
        steps = np.flatnonzero(mask)
        self.add(steps if steps.size <= EXACT_SUBSET else self.wide())


def approximate_universe(arrays: dict[str, np.ndarray], search: Callable[..., np.ndarray],
                         new: np.ndarray, win: np.ndarray, task_sim: np.ndarray,
                         task_steps: Callable[[int], list[int]],
                         steps_taking: Callable[[int], np.ndarray], good: np.ndarray,
                         failing: np.ndarray, needs: list[Need], k: int,
                         same_task: float) -> Universe:
    """The universe of a large store. The POOL nearest steps by each view: a masked top-k
    within them is the true one when the pool holds k of the mask (nothing outside the pool
    is nearer); each of `needs` that it does not cover adds its subset. Then the steps of
    the tasks at least `same_task` alike, and of the next nearest tasks while a step of
    theirs could still enter the top `k` good steps by (message + task) / 2; and, for each
    of the 5 nearest failing steps, where its action's nearest successful step is. `good`
    and `failing` already leave out what the query may not see."""
    b = _Builder(arrays, search, new)
    near = search("new", new, POOL)
    b.add(near)
    floor = float(np.min(b.sims)) if b.sims.size else -1.0  # nothing outside is nearer
    b.add(search("win", win, POOL))
    for need in needs:
        if floor >= need.min_sim and int(np.count_nonzero(need.mask[near])) < need.k:
            b.subset(need.mask)
    if task_sim.size:
        added = 0
        for t in np.argsort(-task_sim, kind="stable")[:MAX_TASKS].tolist():
            if added >= TASK_STEPS:
                break
            if task_sim[t] < same_task:
                ok = (0.5 * (b.sims + task_sim[arrays["task"][b.idx]]))[good[b.idx]]
                # a step of this task (or a farther one) reaches at most (floor + its sim) / 2
                if ok.size >= k and -np.partition(-ok, k - 1)[k - 1] >= \
                        0.5 * (floor + float(task_sim[t])):
                    break
            before = b.idx.size
            b.add(np.asarray(task_steps(t), np.int64))
            added += b.idx.size - before
    bad = np.flatnonzero(failing[b.idx])
    labels = arrays["label"]
    for i in bad[np.argsort(-b.sims[bad], kind="stable")[:5]].tolist():
        if b.sims[i] >= 0.6:
            step = int(b.idx[i])
            same = steps_taking(int(labels[step]))
            if same.size <= EXACT_SUBSET:
                b.add(same[good[same]])
            else:
                b.add(search("new", arrays["new"][step], FAILURE_POOL))
    order = np.argsort(b.idx, kind="stable")
    idx, s_new = b.idx[order], b.sims[order]
    s_task = task_sim[arrays["task"][idx]] if task_sim.size else np.zeros(idx.size, np.float32)
    return Universe(idx=idx, new=s_new, win=arrays["win"][idx] @ win, task=s_task, full=False,
                    pool=near)


def with_steps_of(u: Universe, arrays: dict[str, np.ndarray], search: Callable[..., np.ndarray],
                  steps_taking: Callable[[int], np.ndarray], new: np.ndarray, win: np.ndarray,
                  task_sim: np.ndarray, good: np.ndarray, actions: list[int]) -> Universe:
    """`u` plus, for each action in `actions` no good step of `u` took, the good steps that
    took it (all of them when few, else the nearest of a wider search): what the nearest
    successful step per candidate action needs."""
    if u.full:
        return u
    labels = arrays["label"]
    pool = u.pool if u.pool is not None else u.idx
    have = set(labels[pool][good[pool]].tolist())  # its nearest good step is in the pool
    missing = [c for c in actions if c not in have]
    if not missing:
        return u
    parts = [u.idx]
    wide: np.ndarray | None = None
    for c in missing:
        steps = steps_taking(c)
        if steps.size <= EXACT_SUBSET:
            parts.append(steps[good[steps]])
        else:
            if wide is None:
                wide = search("new", new, 4 * POOL)
                parts.append(wide)
    idx = np.unique(np.concatenate(parts))
    if idx.size == u.idx.size:
        return u
    s_task = task_sim[arrays["task"][idx]] if task_sim.size else np.zeros(idx.size, np.float32)
    return Universe(idx=idx, new=arrays["new"][idx] @ new, win=arrays["win"][idx] @ win,
                    task=s_task, full=False, pool=u.pool)
