"""The approximate nearest-neighbour index behind the step memory: the same top-k as exact
search on a fixed store, and the same candidate rows as exact search where it is used."""

from __future__ import annotations

import numpy as np
import pytest
from test_retrieval_suggest import _results, shop_episodes

from expgraph.graph import ExperienceGraph
from expgraph.memory import ann
from expgraph.memory.features import Probe, candidate_rows
from expgraph.memory.index import StepMemory, step_memory
from expgraph.models import Label, NodeRecord
from expgraph.store import SQLiteStore

DIM = 384
ACTIONS = [f"act{i}[x]" for i in range(40)]


def _clustered(rng: np.random.Generator, centres: np.ndarray, n: int) -> np.ndarray:
    """Unit vectors around fixed centres: the shape sentence embeddings have (topics)."""
    v = centres[rng.integers(len(centres), size=n)] + 0.6 * rng.standard_normal(
        (n, DIM)).astype(np.float32)
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def _exact_top(vecs: np.ndarray, q: np.ndarray, k: int) -> list[int]:
    return np.argsort(-(vecs @ q), kind="stable")[:k].tolist()


def test_vector_index_returns_the_exact_top_k_on_a_fixed_store():
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((50, DIM)).astype(np.float32)
    vecs = _clustered(rng, centres, 3000)
    index = ann.VectorIndex(DIM)
    index.sync(vecs[:1000])
    index.sync(vecs)  # grown in place: the rows appended since are taken in
    assert len(index) == 3000
    for q in _clustered(rng, centres, 30):
        assert index.search(q, 10).tolist() == _exact_top(vecs, q, 10)


def test_a_row_appended_after_a_search_is_found():
    rng = np.random.default_rng(8)
    centres = rng.standard_normal((10, DIM)).astype(np.float32)
    vecs = _clustered(rng, centres, 500)
    index = ann.VectorIndex(DIM)
    index.sync(vecs[:400])
    assert 450 not in index.search(vecs[450], 5).tolist()
    index.sync(vecs)
    assert index.search(vecs[450], 1).tolist() == [450]


def _memory(threshold: int, n: int = 3000, distinct: int | None = None) -> StepMemory:
    """A fixed memory of `n` clustered steps: 10-step episodes, 40 actions (mostly the one of
    the step's topic), a quarter of the episodes failed, some steps errored. With `distinct`,
    the steps share that many messages (a real store repeats most of its texts: ties)."""
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((60, DIM)).astype(np.float32)
    topic = rng.integers(60, size=n)
    new = centres[topic] + 0.6 * rng.standard_normal((n, DIM)).astype(np.float32)
    new /= np.linalg.norm(new, axis=1, keepdims=True)
    win = _clustered(rng, centres, n)
    if distinct:
        shared = rng.integers(distinct, size=n)
        new, win, topic = new[shared], win[shared], topic[shared]
    mem = StepMemory(generation=0, dim=DIM, constants={}, ann_min_steps=threshold)
    for i in range(n):
        act = ACTIONS[topic[i] % 40] if rng.random() < 0.7 else ACTIONS[rng.integers(40)]
        mem.add(NodeRecord.model_construct(id=f"s{i}", label=Label.STEP, embedding=new[i], props={
            "episode": f"e{i // 10}", "key": act,
            "prev": [ACTIONS[(topic[i - 1]) % 40]] if i % 10 else [], "task": f"t{i // 30}",
            "success": (i // 10) % 4 != 0, "error": i % 23 == 0,
            "state": f"st{int(rng.integers(300))}", "index": i % 10}), win[i])
    tasks = _clustered(rng, centres, len(mem.tasks))
    for t in range(len(mem.tasks)):
        mem._task_vecs[t] = tasks[t]
    return mem


@pytest.mark.parametrize("distinct", [None, 300])
def test_the_approximate_universe_gives_the_candidate_rows_of_exact_search(distinct):
    exact, approx = _memory(10**9, distinct=distinct), _memory(0, distinct=distinct)
    if distinct:
        assert approx.distinct("new") == len(set(map(bytes, exact.arrays["new"])))
    assert not exact.approximate and approx.approximate
    rng = np.random.default_rng(11)
    centres = np.random.default_rng(3).standard_normal((60, DIM)).astype(np.float32)
    qn, qw, qt = (_clustered(rng, centres, 25) for _ in range(3))
    close = 0
    for j in range(25):
        probe = Probe(new=qn[j], win=qw[j], task=qt[j], history=[int(rng.integers(40))])
        a, b = candidate_rows(exact, probe), candidate_rows(approx, probe)
        assert a.candidates == b.candidates
        assert np.array_equal(a.neighbours, b.neighbours)
        assert np.allclose(a.next_x, b.next_x, atol=1e-6)
        # the risk rows too, but for how near the nearest successful step of a far action is
        close += np.allclose(a.risk_x, b.risk_x, atol=1e-6)
    assert close >= 23
    assert approx._views["new"].index is not None and exact._views["new"].index is None


def test_a_left_out_episode_stays_out_of_the_approximate_universe():
    mem = _memory(threshold=0)
    a = mem.arrays
    i = 1234
    probe = Probe(new=a["new"][i], win=a["win"][i], task=a["task_vecs"][a["task"][i]],
                  exclude_episode=int(a["episode"][i]))
    rows = candidate_rows(mem, probe)
    assert int(a["episode"][i]) not in set(a["episode"][rows.neighbours].tolist())
    assert i not in rows.neighbours.tolist()



def test_suggest_through_the_index_answers_as_exact_search(tmp_path, model, monkeypatch):
    eps = shop_episodes()
    state = _results("blue kettle", "B0BLU22222")
    answers = []
    for threshold in (10**9, 0):
        monkeypatch.setattr(ann, "ANN_MIN_STEPS", threshold)
        g = ExperienceGraph(store=SQLiteStore(tmp_path / f"t{threshold}.db"), embedder=model)
        g.ingest(eps)
        res = g.suggest(state, task="buy a blue kettle", history=["search[blue kettle]"])
        assert step_memory(g.store, g.embedder).approximate == (threshold == 0)
        answers.append([(n.action, n.score) for n in res.next])
        g.close()
    assert answers[0] == answers[1] and answers[0][0][0] == "click[<item>]"
