"""Nearest steps without reading every step.

Exact search reads both vectors of every step per query (2 x 384 floats x n): linear in the
store. A real store repeats most of its messages ("Nothing happens.", the retail greeting), so
each vector view keeps its distinct vectors once (`DistinctVectors`: 100,000 realistic steps
have ~16,000 distinct newest messages) with the steps that share each; past `ANN_MIN_STEPS`
steps those get a faiss HNSW index (inner product on unit vectors), grown as steps arrive,
and a query's neighbour features are computed over a `Universe`: the steps nearest to it by
either view, plus the steps its other features must see (steps of the nearest tasks, the
neighbourhoods of near failing steps, the steps of a candidate action). Below the threshold
the universe is every step, so small stores answer exactly as exact search does
(bench/query_latency.py measures recall@10 against exact above it; bench/ann_compare.py
why faiss HNSW).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

ANN_MIN_STEPS = 20_000  # below this, exact search over every step (identical answers)
POOL = 128  # nearest distinct vectors by each view whose steps every query's universe holds
MEMBERS = 64  # steps of one distinct vector a search returns at most (the earliest)
HNSW_M = 16
EF_CONSTRUCTION = 80
EF_SEARCH = 160
EXACT_SUBSET = 1024  # a subset this small is searched exactly
TASK_STEPS = 4096  # steps of near tasks added to a universe at most
MAX_TASKS = 64  # near tasks looked at
FAILURE_POOL = 64  # neighbourhood of a near failing step (how unusual its action was)


class Column:
    """A growable numpy column: rows appended in amortised O(1) (capacity doubles), the
    filled part read as a view. Appending never copies the rows a reader holds, so a write
    costs the new rows, not the store (no rebuild of every vector after an ingest)."""

    def __init__(self, dtype: Any, width: int | None = None) -> None:
        self.shape = () if width is None else (width,)
        self.buf = np.zeros((16, *self.shape), dtype=dtype)
        self.n = 0

    def append(self, value: Any) -> None:
        if self.n == len(self.buf):
            grown = np.zeros((2 * len(self.buf), *self.shape), dtype=self.buf.dtype)
            grown[:self.n] = self.buf[:self.n]
            self.buf = grown
        self.buf[self.n] = value
        self.n += 1

    def assign(self, values: list[Any]) -> None:
        """Every row again (relabelling after new action constants)."""
        self.buf = np.zeros((max(16, len(values)), *self.shape), dtype=self.buf.dtype)
        self.buf[:len(values)] = values
        self.n = len(values)

    def view(self) -> np.ndarray:
        return self.buf[:self.n]


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


class DistinctVectors:
    """One vector view's distinct vectors (identical texts embed identically), the steps that
    share each (ascending), and, once asked, the ANN index over the distinct vectors."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.ids: dict[bytes, int] = {}
        self.vecs = Column(np.float32, dim)
        self.vid = Column(np.int64)  # per step: its distinct vector
        self.head = Column(np.int64, MEMBERS)  # per distinct vector: its first steps, -1 after
        self.count: list[int] = []
        self.index: VectorIndex | None = None
        self.lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.count)

    def add(self, step: int, vec: np.ndarray) -> None:
        key = vec.tobytes()
        d = self.ids.get(key)
        if d is None:
            d = self.ids[key] = len(self.count)
            self.vecs.append(vec)
            self.head.append(-1)
            self.count.append(0)
        if self.count[d] < MEMBERS:
            self.head.buf[d, self.count[d]] = step
        self.count[d] += 1
        self.vid.append(d)

    def sims(self, steps: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Similarity of each step's vector to `q`, one product per distinct vector."""
        if not len(steps):
            return np.zeros(0, np.float32)
        uv, inv = np.unique(self.vid.view()[steps], return_inverse=True)
        return (self.vecs.view()[uv] @ q)[inv]

    def search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The steps of (about) the k distinct vectors nearest to `q`, and their similarity;
        the index first takes in the vectors that arrived since the last search."""
        with self.lock:
            if self.index is None:
                self.index = VectorIndex(self.dim)
            self.index.sync(self.vecs.view())
            top = self.index.search(q, k)
        if not top.size:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        sims = self.vecs.view()[top] @ q
        steps = self.head.view()[top]  # (k, MEMBERS), -1 past each one's steps
        keep = steps >= 0
        return steps[keep], np.broadcast_to(sims[:, None], steps.shape)[keep]


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
    """Collects a universe's steps with their newest-message similarity, each computed once."""

    def __init__(self, mem: Any, new: np.ndarray) -> None:
        self.mem, self.q = mem, new
        self.idx = np.zeros(0, np.int64)
        self.sims = np.zeros(0, np.float32)
        self.seen = np.zeros(len(mem), bool)
        self._wide = False

    def add(self, steps: np.ndarray, sims: np.ndarray | None = None) -> None:
        steps = np.asarray(steps, np.int64)
        fresh = ~self.seen[steps]
        steps, first = np.unique(steps[fresh], return_index=True)  # listed twice: once
        sims = sims[fresh][first] if sims is not None else None
        if steps.size:
            self.seen[steps] = True
            if sims is None:
                sims = self.mem.sims("new", steps, self.q)
            self.idx = np.concatenate([self.idx, steps])
            self.sims = np.concatenate([self.sims, sims])

    def wide(self) -> None:
        if not self._wide:
            self._wide = True
            self.add(*self.mem.search("new", self.q, 2 * POOL))

    def subset(self, steps: np.ndarray) -> None:
        """Every step of `steps` when few, else the nearest of a wider search."""
        if steps.size <= EXACT_SUBSET:
            self.add(steps)
        else:
            self.wide()


def approximate_universe(mem: Any, new: np.ndarray, win: np.ndarray, task_sim: np.ndarray,
                         good: np.ndarray, failing: np.ndarray, needs: list[Need], k: int,
                         same_task: float) -> Universe:
    """The universe of a large store (`mem`: a StepMemory). The steps of the POOL nearest
    distinct vectors by each view: a masked top-k within them is the true one when they hold
    k of the mask (nothing outside is nearer); each of `needs` they do not cover adds its
    subset. Then the steps of the tasks at least `same_task` alike, and of the next nearest
    tasks while a step of theirs could still enter the top `k` good steps by (message + task)
    / 2; and, for each of the 5 nearest failing steps, where its action's nearest successful
    step is. `good` and `failing` already leave out what the query may not see."""
    arrays = mem.arrays
    b = _Builder(mem, new)
    near, near_sims = mem.search("new", new, POOL)
    b.add(near, near_sims)
    floor = float(np.min(near_sims)) if near_sims.size else -1.0  # nothing outside is nearer
    b.add(mem.search("win", win, POOL)[0])
    for need in needs:
        if floor >= need.min_sim and int(np.count_nonzero(need.mask[near])) < need.k:
            b.subset(np.flatnonzero(need.mask))
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
            b.add(np.asarray(mem.task_steps[t], np.int64))
            added += b.idx.size - before
    bad = np.flatnonzero(failing[b.idx])
    labels = arrays["label"]
    for i in bad[np.argsort(-b.sims[bad], kind="stable")[:5]].tolist():
        if b.sims[i] >= 0.6:
            step = int(b.idx[i])
            same = mem.steps_taking(int(labels[step]))
            if same.size <= EXACT_SUBSET:
                b.add(same[good[same]])
            else:
                b.add(mem.search("new", arrays["new"][step], FAILURE_POOL)[0])
    order = np.argsort(b.idx, kind="stable")
    idx, s_new = b.idx[order], b.sims[order]
    s_task = task_sim[arrays["task"][idx]] if task_sim.size else np.zeros(idx.size, np.float32)
    return Universe(idx=idx, new=s_new, win=mem.sims("win", idx, win), task=s_task,
                    full=False, pool=near)


def with_steps_of(u: Universe, mem: Any, new: np.ndarray, win: np.ndarray,
                  task_sim: np.ndarray, good: np.ndarray, actions: list[int]) -> Universe:
    """`u` plus, for each action in `actions` no good step of its pool took, the good steps
    that took it (all of them when few, else the nearest of a wider search): what the nearest
    successful step per candidate action needs."""
    if u.full:
        return u
    arrays = mem.arrays
    labels = arrays["label"]
    pool = u.pool if u.pool is not None else u.idx
    have = set(labels[pool][good[pool]].tolist())  # its nearest good step is in the pool
    missing = [c for c in actions if c not in have]
    if not missing:
        return u
    b = _Builder(mem, new)
    b.add(u.idx, u.new)
    for c in missing:
        steps = mem.steps_taking(c)
        b.subset(steps[good[steps]] if steps.size <= EXACT_SUBSET else steps)
    if b.idx.size == u.idx.size:
        return u
    order = np.argsort(b.idx, kind="stable")
    idx, s_new = b.idx[order], b.sims[order]
    s_task = task_sim[arrays["task"][idx]] if task_sim.size else np.zeros(idx.size, np.float32)
    return Universe(idx=idx, new=s_new, win=mem.sims("win", idx, win), task=s_task,
                    full=False, pool=u.pool)
