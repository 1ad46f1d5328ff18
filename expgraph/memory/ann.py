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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

ANN_MIN_STEPS = 20_000  # below this, exact search over every step (identical answers)
POOL = 128  # nearest distinct vectors by each view whose steps every query's universe holds
MEMBERS = 64  # steps of one distinct vector a search returns at most (the earliest)
HNSW_M = 16
EF_CONSTRUCTION = 160
EF_SEARCH = 256
EXACT_SUBSET = 4096  # a subset this small is searched exactly
TASK_STEPS = 4096  # steps of near tasks added to a universe at most
MAX_TASKS = 64  # near tasks looked at
FAILURE_POOL = 64  # neighbourhood of a near failing step (how unusual its action was)
ACTION_STEPS = 20  # nearest good steps of a candidate action a universe takes in (suggest
# grounds a proposed template in its 20 nearest successful steps: queries/suggest.py)


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

    def __len__(self) -> int:
        return self.n

    def __setitem__(self, i: int, value: Any) -> None:
        """Row `i` again (`i` < len)."""
        if not 0 <= i < self.n:
            raise IndexError(f"row {i} of a column of {self.n}")
        self.buf[i] = value


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
        self.members: list[Column] = []  # per distinct vector: all its steps
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
            self.members.append(Column(np.int64))
        self.members[d].append(step)
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

    def nearest(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(About) the k distinct vectors nearest to `q` and their similarity; the index
        first takes in the vectors that arrived since the last search."""
        with self.lock:
            if self.index is None:
                self.index = VectorIndex(self.dim)
            self.index.sync(self.vecs.view())
            top = self.index.search(q, k)
        return top, (self.vecs.view()[top] @ q if top.size else np.zeros(0, np.float32))

    def catch_up(self) -> None:
        """Take the vectors that arrived since into the index, if one is built (the writer
        pays it, at ingest: the next query does not)."""
        with self.lock:
            if self.index is not None:
                self.index.sync(self.vecs.view())

    def search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The first MEMBERS steps of each of the k distinct vectors nearest to `q`, and
        their similarity."""
        top, sims = self.nearest(q, k)
        if not top.size:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        steps = self.head.view()[top]  # (k, MEMBERS), -1 past each one's steps
        keep = steps >= 0
        return steps[keep], np.broadcast_to(sims[:, None], steps.shape)[keep]

    def all_steps(self, top: np.ndarray, sims: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every step of these distinct vectors, with their similarity."""
        if not top.size:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        parts = [self.members[d].view() for d in top.tolist()]
        return np.concatenate(parts), np.repeat(sims, [len(p) for p in parts])


@dataclass
class Universe:
    """The steps a query's neighbour features read (sorted global indices) with each one's
    newest-message, window and task similarity to the query. `full`: every step (exact)."""

    idx: np.ndarray
    new: np.ndarray
    win: np.ndarray
    task: np.ndarray
    full: bool
    pool: np.ndarray | None = None  # every step of the POOL nearest newest messages
    pool_sims: np.ndarray | None = None
    trusted: float = -1.0  # pool steps at least this alike are surely the nearest
    # the builder that collected it: `with_steps_of` goes on with it (its similarities and
    # searches done), as long as it holds exactly these steps
    builder: _Builder | None = None

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
    """Collects a universe's steps with their newest-message similarity, each computed once:
    per distinct vector (steps sharing a text share it), memoised for the query, and the
    steps kept in parts joined when read (no copy of the whole universe per addition)."""

    def __init__(self, mem: Any, new: np.ndarray) -> None:
        self.mem, self.q = mem, new
        self._idx: list[np.ndarray] = []
        self._sims: list[np.ndarray] = []
        self.seen = np.zeros(len(mem), bool)
        self._widths: set[int] = set()
        self.view = mem.view("new")
        self.dsim = np.full(len(self.view), np.nan, np.float32)  # per distinct vector
        self._mark = np.zeros(len(self.view), bool)  # scratch of `step_sims`, all False

    @property
    def idx(self) -> np.ndarray:
        if len(self._idx) != 1:
            self._idx = [np.concatenate(self._idx) if self._idx else np.zeros(0, np.int64)]
        return self._idx[0]

    @property
    def sims(self) -> np.ndarray:
        if len(self._sims) != 1:
            self._sims = [np.concatenate(self._sims) if self._sims
                          else np.zeros(0, np.float32)]
        return self._sims[0]

    def step_sims(self, steps: np.ndarray) -> np.ndarray:
        """The similarity of each step's newest message to the query."""
        d = self.view.vid.view()[steps]
        todo = d[np.isnan(self.dsim[d])]
        if todo.size:
            # distinct and ascending (what np.unique gives) by marking, not sorting
            self._mark[todo] = True
            todo = np.flatnonzero(self._mark)
            self._mark[todo] = False
            self.dsim[todo] = self.view.vecs.view()[todo] @ self.q
        return self.dsim[d]

    def add(self, steps: np.ndarray, sims: np.ndarray | None = None) -> None:
        steps = np.asarray(steps, np.int64)
        fresh = ~self.seen[steps]
        steps, first = np.unique(steps[fresh], return_index=True)  # listed twice: once
        sims = sims[fresh][first] if sims is not None else None
        if steps.size:
            self.seen[steps] = True
            if sims is None:
                sims = self.step_sims(steps)
            self._idx.append(steps)
            self._sims.append(np.asarray(sims, np.float32))

    def wide(self, width: int) -> None:
        if width not in self._widths:
            self._widths.add(width)
            self.add(*self.mem.search("new", self.q, width))

    def subset(self, steps: np.ndarray, mask: np.ndarray | None = None, k: int = 1) -> None:
        """Every step of `steps` when few; else the nearest of wider and wider searches until
        `k` of `mask` are in."""
        if steps.size <= EXACT_SUBSET:
            self.add(steps)
            return
        self.wider(mask, k)

    def wider(self, mask: np.ndarray | None, k: int) -> None:
        """The nearest of wider and wider searches until `k` of `mask` are in."""
        for width in (2 * POOL, 8 * POOL):
            self.wide(width)
            if mask is None or np.count_nonzero(mask[self.idx]) >= k:
                return


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
    view = mem.view("new")
    top, top_sims = view.nearest(new, POOL)
    near, near_sims = view.all_steps(top, top_sims)  # every step as near: ties included
    floor = float(np.min(top_sims)) if top_sims.size else -1.0  # nothing outside is nearer
    # HNSW's ranking is reliable at its head, less in its tail: a need is taken as covered
    # only by steps in the nearer half
    trusted = float(top_sims[min(POOL // 2, top_sims.size) - 1]) if top_sims.size else 1.0
    heads = view.head.view()[top]
    b.add(heads[heads >= 0], np.broadcast_to(top_sims[:, None], heads.shape)[heads >= 0])
    b.add(mem.search("win", win, POOL)[0])
    for need in needs:
        # the need's k best among the nearest vectors' steps are its true k best when there
        # are k of them (or the rest are below its min_sim)
        sel = need.mask[near]
        b.add(*_best(near[sel], near_sims[sel], need.k))
        if trusted >= need.min_sim and \
                int(np.count_nonzero(sel & (near_sims >= trusted))) < need.k:
            if np.count_nonzero(need.mask) <= EXACT_SUBSET:  # (no index list of many)
                b.add(np.flatnonzero(need.mask))
            else:
                b.wider(need.mask, need.k)
    if task_sim.size:
        added, scored = 0, 0
        best = np.zeros(0, np.float32)  # the k best (message + task) / 2 of good steps so far
        for t in np.argsort(-task_sim, kind="stable")[:MAX_TASKS].tolist():
            if added >= TASK_STEPS:
                break
            if task_sim[t] < same_task:
                idx, sims = b.idx[scored:], b.sims[scored:]  # the steps added since
                scored = b.idx.size
                ok = good[idx]
                best = np.concatenate([best, 0.5 * (sims[ok] + task_sim[arrays["task"][idx[ok]]])])
                if best.size > k:
                    best = np.partition(best, best.size - k)[best.size - k:]
                # a step of this task (or a farther one) reaches at most (floor + its sim) / 2
                if best.size >= k and best.min() >= 0.5 * (floor + float(task_sim[t])):
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
                b.add(_failure_pool(mem, step))
    order = np.argsort(b.idx, kind="stable")
    idx, s_new = b.idx[order], b.sims[order]
    s_task = task_sim[arrays["task"][idx]] if task_sim.size else np.zeros(idx.size, np.float32)
    return Universe(idx=idx, new=s_new, win=mem.sims("win", idx, win), task=s_task,
                    full=False, pool=near, pool_sims=near_sims, trusted=trusted, builder=b)


def _failure_pool(mem: Any, step: int) -> np.ndarray:
    """The steps of the FAILURE_POOL distinct messages nearest to a stored step's own: the
    same for every question until the next write (kept in the memory's memo, which a write
    drops, as the index takes in new vectors)."""
    arrays = mem.arrays
    memo = mem.memo(arrays)
    key = ("failure_pool", int(mem.view("new").vid.view()[step]))
    hit = memo.get(key)
    if hit is None:
        hit = memo[key] = mem.search("new", arrays["new"][step], FAILURE_POOL)[0]
    return hit


def _best(steps: np.ndarray, sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k highest `sims`, ties by step index (as `sources.top_k` orders them)."""
    if steps.size <= k:
        return steps, sims
    kth = np.partition(sims, sims.size - k)[sims.size - k]
    keep = sims >= kth
    steps, sims = steps[keep], sims[keep]
    order = np.lexsort((steps, -sims))[:k]
    return steps[order], sims[order]


def with_steps_of(u: Universe, mem: Any, new: np.ndarray, win: np.ndarray,
                  task_sim: np.ndarray, good: np.ndarray, actions: list[int],
                  whole: Sequence[int] = ()) -> Universe:
    """`u` plus, for each action in `actions` no good step of its pool took (or only a far
    one), its ACTION_STEPS nearest good steps (found among all of them when few, else among a
    wider search): what the nearest successful step per candidate action, and the grounding
    of a proposed action in its nearest successful steps, need. The actions of `whole` (the
    caller's own candidates) bring every good step of theirs when few."""
    if u.full:
        return u
    arrays = mem.arrays
    labels = arrays["label"]
    pool = u.pool if u.pool is not None else u.idx
    sims = u.pool_sims if u.pool_sims is not None else u.new
    ok = good[pool]
    b = u.builder
    if b is None or b.idx.size != u.idx.size:  # (a universe grown once already: anew)
        b = _Builder(mem, new)
        b.add(u.idx, u.new)
    # the nearest good step of each action in the pool (ties: the lowest index)
    steps, s = pool[ok], sims[ok]
    order = np.lexsort((steps, -s))
    first_labels, first = np.unique(labels[steps[order]], return_index=True)
    best = {int(c): (int(steps[order[i]]), float(s[order[i]]))
            for c, i in zip(first_labels.tolist(), first.tolist(), strict=True)}
    missing, found = [], []
    for c in actions:  # its nearest good step is in the pool when one there took it
        hit = best.get(c)
        if hit is not None:
            found.append(hit)
        if hit is None or hit[1] < u.trusted:
            missing.append(c)
    if found:
        b.add(np.asarray([f[0] for f in found], np.int64),
              np.asarray([f[1] for f in found], np.float32))
    whole = set(whole)
    few = {c: mem.steps_taking(c) for c in missing}
    few = {c: steps[good[steps]] for c, steps in few.items() if steps.size <= EXACT_SUBSET}
    if few:  # their similarities in one product (one per distinct vector)
        b.step_sims(np.concatenate(list(few.values())))
    for c in missing:
        steps = few.get(c)
        if steps is None:
            b.subset(mem.steps_taking(c))
            continue
        if c in whole:
            b.add(steps)
        else:  # the nearest few (ties: the lowest index, as sources.top_k)
            b.add(*_best(steps, b.step_sims(steps), ACTION_STEPS))
    if b.idx.size == u.idx.size:
        return u
    order = np.argsort(b.idx, kind="stable")
    idx, s_new = b.idx[order], b.sims[order]
    s_task = task_sim[arrays["task"][idx]] if task_sim.size else np.zeros(idx.size, np.float32)
    return Universe(idx=idx, new=s_new, win=mem.sims("win", idx, win), task=s_task,
                    full=False, pool=u.pool, pool_sims=u.pool_sims, trusted=u.trusted)
