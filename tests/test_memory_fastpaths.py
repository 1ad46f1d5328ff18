"""The fast paths of `suggest` at scale give the answers of the computations they replace, on
fixed stores: the per-write memo of whole-store votes, the universe builder carried into
`with_steps_of`, grounding from an action's own steps, and online distillation's single pass
when nobody else wrote."""

from __future__ import annotations

import numpy as np
import pytest
from test_memory_ann import _clustered, _memory
from test_retrieval_suggest import shop_episodes

import expgraph.distill as distill_mod
from expgraph.distill import distill
from expgraph.graph import ExperienceGraph
from expgraph.memory import ann, features
from expgraph.memory.features import Probe, candidate_rows
from expgraph.memory.sources import top_k
from expgraph.models import Label, NodeRecord
from expgraph.store import SQLiteStore
from queries.suggest import grounded
from queries.votes import concrete

DIM = 384


def _probes(n: int, seed: int) -> list[Probe]:
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(3).standard_normal((60, DIM)).astype(np.float32)
    qn, qw, qt = (_clustered(rng, centres, n) for _ in range(3))
    # few distinct histories, so questions share them (what the memo keeps)
    return [Probe(new=qn[j], win=qw[j], task=qt[j], history=[int(rng.integers(4))] * (j % 3),
                  state=f"st{int(rng.integers(300))}") for j in range(n)]


def _same_rows(a, b) -> None:  # noqa: ANN001
    assert a.candidates == b.candidates
    assert np.array_equal(a.next_x, b.next_x) and np.array_equal(a.risk_x, b.risk_x)
    assert np.array_equal(a.neighbours, b.neighbours)
    assert a.skills_of == b.skills_of and a.guards_of == b.guards_of


def _uncached(monkeypatch):  # noqa: ANN001, ANN202
    """The old computation: every whole-store vote computed per question."""
    monkeypatch.setattr(features, "_once", lambda memo, key, compute: compute())


@pytest.mark.parametrize("threshold", [10**9, 0])
def test_memoised_votes_give_the_rows_of_the_computation_per_question(threshold, monkeypatch):
    mem = _memory(threshold)
    probes = _probes(30, 5)
    fast = [candidate_rows(mem, p) for p in probes]
    again = [candidate_rows(mem, p) for p in probes]  # read from the memo now
    assert len(mem.memo()) > 0
    with monkeypatch.context() as m:
        _uncached(m)
        slow = []
        for p in probes:
            mem._memo = {}  # the failure neighbourhoods searched again too
            slow.append(candidate_rows(mem, p))
    for a, b, c in zip(fast, again, slow, strict=True):
        _same_rows(a, c)
        _same_rows(b, c)


def test_an_added_step_drops_the_memo(monkeypatch):
    mem = _memory(10**9)
    probe = _probes(1, 6)[0]
    before = candidate_rows(mem, probe)
    rec = NodeRecord.model_construct(id="extra", label=Label.STEP, embedding=probe.new, props={
        "episode": "e-extra", "key": "act39[x]", "prev": [], "task": "t0", "success": True,
        "error": False, "state": probe.state, "index": len(probe.history)})
    for _ in range(40):  # enough to move the votes after this history
        mem.add(rec.model_copy(update={"id": f"extra{_}"}), probe.win)
    after = candidate_rows(mem, probe)
    with monkeypatch.context() as m:
        _uncached(m)
        _same_rows(after, candidate_rows(mem, probe))
    added = mem.label[-1]
    assert added in after.candidates
    assert after.next_x[after.candidates.index(added), features.NEXT_FEATURES.index("prior")] \
        > before.next_x[before.candidates.index(added),
                        features.NEXT_FEATURES.index("prior")] if added in before.candidates \
        else True


def test_with_steps_of_going_on_with_the_universe_builder_adds_the_same_steps():
    mem = _memory(0, distinct=300)
    a = mem.arrays
    good = a["ok"] & ~a["err"]
    for p in _probes(15, 7):
        task_sim = a["task_vecs"] @ p.task
        needs = [ann.Need(good, 10), ann.Need(np.ones(len(mem), bool), 20)]
        u = ann.approximate_universe(mem, p.new, p.win, task_sim, good, a["failing"], needs,
                                     10, features.SAME_TASK)
        actions = list(range(len(mem.actions)))
        fresh = ann.with_steps_of(ann.Universe(**{**u.__dict__, "builder": None}), mem,
                                  p.new, p.win, task_sim, good, actions)
        reused = ann.with_steps_of(u, mem, p.new, p.win, task_sim, good, actions)
        assert np.array_equal(fresh.idx, reused.idx)
        # one product per distinct vector either way; BLAS may round a row differently in
        # another batch (as the old code's per-action products did), never by more than this
        assert np.allclose(fresh.new, reused.new, rtol=0, atol=1e-6)
        assert np.allclose(fresh.win, reused.win, rtol=0, atol=1e-6)
        again = ann.with_steps_of(u, mem, p.new, p.win, task_sim, good, actions)
        assert np.array_equal(again.idx, fresh.idx)  # a used builder is not taken twice


def test_grounding_from_the_actions_own_steps_is_the_scan_over_every_step():
    mem = _memory(0, distinct=300)
    a = mem.arrays
    for p in _probes(10, 8):
        rows = candidate_rows(mem, p)
        for c in rows.candidates:
            pool = a["ok"] & ~a["err"] & (a["label"] == c)  # the old scan
            near = top_k(rows.sims, pool, 20)
            want = {concrete(mem, i) for i in near.tolist()}
            got = grounded(mem, rows, c, "", limit=100)
            assert {t for t, _, _ in got} == want


def test_online_distillation_in_one_pass_leaves_what_a_second_pass_would(tmp_path, model):
    g = ExperienceGraph(store=SQLiteStore(tmp_path / "s.db"), embedder=model)
    eps = shop_episodes()
    calls = []
    real = distill_mod.distill

    def counted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append(1)
        return real(*args, **kwargs)

    distill_mod.distill = counted
    try:
        for ep in eps:
            g.ingest([ep])
    finally:
        distill_mod.distill = real
    assert len(calls) == len(eps)  # one pass per ingest: nobody else wrote
    again = distill(g.store, g.embedder, episode_ids=[])
    assert again.written == 0 and again.deleted == 0
    g.close()


def test_a_write_by_another_connection_during_the_first_pass_brings_the_second(tmp_path,
                                                                                model):
    path = tmp_path / "s.db"
    g = ExperienceGraph(store=SQLiteStore(path), embedder=model)
    eps = shop_episodes()
    g.ingest(eps[:-1])
    other = SQLiteStore(path)
    calls = []
    real = distill_mod.distill

    def meddling(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append(1)
        report = real(*args, **kwargs)
        if len(calls) == 1:
            other.set_meta("someone", "else")  # another process commits meanwhile
        return report

    distill_mod.distill = meddling
    try:
        g.ingest([eps[-1]])
    finally:
        distill_mod.distill = real
    assert len(calls) == 2
    other.close()
    g.close()


def test_votes_computed_from_columns_a_write_replaced_are_not_kept():
    mem = _memory(10**9, n=200)
    old = mem.arrays
    mem.memo(old)["x"] = 1
    mem.add(NodeRecord.model_construct(id="late", label=Label.STEP, embedding=old["new"][0],
                                       props={"episode": "e-late", "key": "act1[x]"}),
            old["win"][0])
    scratch = mem.memo(old)  # a question that read the columns before the write
    scratch["y"] = 2
    assert "x" not in mem.memo(mem.arrays) and "y" not in mem.memo(mem.arrays)
