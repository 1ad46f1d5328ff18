"""The step memory: built from the store, grown in place by ingest, equal to a full rebuild."""

from __future__ import annotations

import numpy as np
from test_retrieval_suggest import _results, shop_episodes

from expgraph.graph import ExperienceGraph
from expgraph.memory.index import StepMemory, build_memory, step_memory
from expgraph.models import Label, NodeRecord
from expgraph.store import SQLiteStore


def _columns(mem) -> dict:
    a = mem.arrays
    order = np.argsort(mem.step_ids)  # the same steps, whatever the order they arrived in
    return {"ids": [mem.step_ids[i] for i in order],
            "labels": [mem.actions[a["label"][i]] for i in order],
            "prev1": [mem.actions[a["prev1"][i]] if a["prev1"][i] >= 0 else None for i in order],
            "ok": a["ok"][order].tolist(), "new": a["new"][order], "win": a["win"][order],
            "skills": sorted(s.id for s in mem.skills_for(set(mem.state_index),
                                                          {_task_id(t) for t in mem.tasks}))}


def _task_id(text: str) -> str:
    from expgraph.models import TaskNode

    return TaskNode(text=text).id


def test_ingest_grows_the_memory_in_place_and_matches_a_rebuild(tmp_path, model):
    eps = shop_episodes()
    g = ExperienceGraph(store=SQLiteStore(tmp_path / "m.db"), embedder=model)
    g.ingest(eps[:-1])
    first = step_memory(g.store, g.embedder)
    n = len(first)
    g.ingest(eps[-1])  # one more episode, distilled online
    grown = step_memory(g.store, g.embedder)
    assert grown is first and len(grown) == n + len(eps[-1].steps)  # updated, not rebuilt
    fresh = build_memory(g.store, g.embedder)
    a, b = _columns(grown), _columns(fresh)
    assert a["ids"] == b["ids"] and a["labels"] == b["labels"] and a["prev1"] == b["prev1"]
    assert a["ok"] == b["ok"] and a["skills"] == b["skills"]
    assert np.allclose(a["new"], b["new"]) and np.allclose(a["win"], b["win"])
    state = _results("blue kettle", "B0BLU22222")
    res = g.suggest(state, task="buy a blue kettle", history=["search[blue kettle]"])
    assert res.next[0].action == "click[<item>]"
    g.close()


def test_a_write_by_another_process_forces_a_rebuild(tmp_path, model):
    path = tmp_path / "two.db"
    eps = shop_episodes()
    a = ExperienceGraph(store=SQLiteStore(path), embedder=model)
    a.ingest(eps[:3])
    mem = step_memory(a.store, a.embedder)
    b = ExperienceGraph(store=SQLiteStore(path), embedder=model)  # a second writer
    b.ingest(eps[3:5])
    again = step_memory(a.store, a.embedder)
    assert again is not mem and len(again) == sum(len(e.steps) for e in eps[:5])
    a.close()
    b.close()


ITEMS = {"click": {"item 0", "item 1", "item 2"}}  # action constants: kept in templates


def _step(i: int, vec: np.ndarray) -> NodeRecord:
    return NodeRecord(id=f"s{i}", label=Label.STEP, embedding=vec.tolist(), props={
        "episode": f"e{i // 5}", "key": f"click[item {i % 3}]",
        "prev": [f"click[item {(i - 1) % 3}]"] if i % 5 else [], "task": f"task {i // 10}",
        "success": i % 4 != 0, "error": i % 7 == 0, "state": f"st{i % 6}", "index": i % 5})


def test_columns_grow_past_their_capacity_without_touching_views_already_read():
    rng = np.random.default_rng(3)
    new, win = rng.standard_normal((70, 4), np.float32), rng.standard_normal((70, 4), np.float32)
    mem = StepMemory(generation=0, dim=4, constants=ITEMS)
    for i in range(30):
        mem.add(_step(i, new[i]), win[i])
    held = mem.arrays
    held_new = held["new"].copy()
    for i in range(30, 70):  # capacity 16 -> 32 -> 64 -> 128
        mem.add(_step(i, new[i]), win[i])
    assert np.array_equal(held["new"], held_new) and len(held["new"]) == 30
    a = mem.arrays
    assert np.array_equal(a["new"], new) and np.array_equal(a["win"], win)
    assert a["ok"].tolist() == [i % 4 != 0 for i in range(70)]
    assert a["err"].tolist() == [i % 7 == 0 for i in range(70)]
    assert a["position"].tolist() == [i % 5 for i in range(70)]
    # states are numbered in order of first appearance: st0 -> 0, st1 -> 1, ...
    assert a["state"].tolist() == [i % 6 for i in range(70)]
    assert [mem.actions[x] for x in a["label"]] == [f"click[item {i % 3}]" for i in range(70)]
    assert a["prev1"][0] == -1 and mem.actions[a["prev1"][1]] == "click[item 0]"


def test_relabel_rewrites_the_label_columns():
    rng = np.random.default_rng(4)
    mem = StepMemory(generation=0, dim=4, constants=ITEMS)
    for i in range(20):
        mem.add(_step(i, rng.standard_normal(4, np.float32)), rng.standard_normal(4, np.float32))
    before = [mem.actions[x] for x in mem.arrays["label"]]
    mem.relabel({})  # the items are no longer constants: one slot template
    after = [mem.actions[x] for x in mem.arrays["label"]]
    assert before[:3] == ["click[item 0]", "click[item 1]", "click[item 2]"]
    assert set(after) != set(before) and len(set(after)) == 1  # one template for all three
    assert [mem.actions[x] for x in mem.arrays["prev1"][1:5]] == [after[0]] * 4


def _count_whole_reads(store) -> list:  # noqa: ANN001
    """Record every read of a whole label or relationship type on this store object."""
    whole: list = []
    find_nodes, edges = store.find_nodes, store.edges

    def counted_find(label=None, where=None, **kw):  # noqa: ANN001, ANN202
        if not where:
            whole.append(("find_nodes", label))
        return find_nodes(label, where, **kw)

    def counted_edges(rel_type=None, src=None, dst=None):  # noqa: ANN001, ANN202
        if src is None and dst is None:
            whole.append(("edges", rel_type))
        return edges(rel_type, src=src, dst=dst)

    store.find_nodes, store.edges = counted_find, counted_edges
    return whole


def _answers(g, states) -> list:  # noqa: ANN001
    return [g.suggest(s, task=t, history=h, explain=True).model_dump() for s, t, h in states]


def test_a_refresh_after_ingest_reads_only_what_changed_and_answers_as_a_rebuild(
        tmp_path, model):
    from test_retrieval_suggest import _item, _search


    eps = shop_episodes()
    path = tmp_path / "inc.db"
    g = ExperienceGraph(store=SQLiteStore(path), embedder=model)
    g.ingest(eps[:4])
    states = [(_search("blue kettle"), "buy a blue kettle", []),
              (_results("blue kettle", "B0BLU22222"), "buy a blue kettle", ["search[blue kettle]"]),
              (_item("red lamp"), "buy a cheap red lamp", ["search[red lamp]", "click[B0RED11111]"])]
    _answers(g, states)  # the memory is built here
    mem = step_memory(g.store, g.embedder)
    whole = _count_whole_reads(g.store)
    for ep in eps[4:6]:  # one episode at a time, each distilled online (skills, plans)
        g.ingest(ep)
    whole.clear()  # from here: the refresh and the queries
    assert step_memory(g.store, g.embedder) is mem  # refreshed in place, not rebuilt
    assert mem.derived.complete  # distillation's notes applied: nothing looked up again
    _answers(g, states)
    assert not whole, whole  # no read of every skill, edge or task
    assert _derived(mem) == _derived(build_memory(g.store, g.embedder))
    for ep in eps[6:]:  # failed runs: new action constants, guardrails
        g.ingest(ep)
    whole.clear()
    assert step_memory(g.store, g.embedder) is mem
    incremental = _answers(g, states)
    assert not whole, whole  # looked up again per state and task, never whole
    layer = _derived(mem)
    assert layer[0] and layer[1]  # distillation made skills and guardrails
    g.refine()  # a write nobody noted: the caches are dropped and looked up again
    refined = _answers(g, states)
    assert not mem.derived.complete
    refined_layer = _derived(step_memory(g.store, g.embedder))
    g.close()
    fresh = ExperienceGraph(store=SQLiteStore(path), embedder=model)  # rebuilt from the store
    assert _answers(fresh, states) == refined
    assert _derived(step_memory(fresh.store, fresh.embedder)) == refined_layer
    fresh.close()
    # and before the refine: a memory built from the store as it was then
    g2 = ExperienceGraph(store=SQLiteStore(tmp_path / "again.db"), embedder=model)
    g2.ingest(eps)
    assert _answers(g2, states) == incremental
    assert _derived(step_memory(g2.store, g2.embedder)) == layer
    g2.close()


def _derived(mem) -> tuple:  # noqa: ANN001
    """Every skill (with where it applies), guardrail and task cluster the memory serves."""
    states, tasks = set(mem.state_index), {_task_id(t) for t in mem.tasks}
    skills = sorted((s.id, tuple(s.actions), s.utility, s.support, tuple(sorted(s.states)),
                     tuple(sorted(s.tasks))) for s in mem.skills_for(states, tasks))
    clusters = sorted((t, mem.cluster_of(i)) for i, t in enumerate(mem.tasks))
    guards = [(g, s, sorted(mem.actions[c] for c in bans), sev)
              for g, s, bans, sev in mem.guardrails_in(states)]  # ids differ per memory
    return skills, guards, clusters


def test_earlier_in_episode_is_the_episode_s_steps_before_it():
    # episodes of 5 steps (e0: steps 0-4, e1: 5-9, ...), added out of order: step 7 of e1
    # arrives before 5 and 6
    vec = np.ones(4, np.float32)
    mem = StepMemory(generation=0, dim=4, constants=ITEMS)
    for i in [0, 1, 2, 7, 5, 6, 3, 4, 8]:
        mem.add(_step(i, vec), vec)
    index = {sid: j for j, sid in enumerate(mem.step_ids)}  # step id -> memory index
    ids = lambda js: [mem.step_ids[j] for j in js]  # noqa: E731
    assert ids(mem.earlier_in_episode(index["s3"])) == ["s0", "s1", "s2"]
    assert ids(mem.earlier_in_episode(index["s0"])) == []
    assert ids(mem.earlier_in_episode(index["s8"])) == ["s7", "s5", "s6"]  # by arrival
    assert ids(mem.earlier_in_episode(index["s6"])) == ["s5"]


class _RecordsOnly:
    """The store without its chunked read: `build_memory` falls back to `find_nodes`."""

    def __init__(self, store) -> None:  # noqa: ANN001
        self._store = store

    def __getattr__(self, name: str):  # noqa: ANN204
        if name == "iter_nodes":
            raise AttributeError(name)
        return getattr(self._store, name)


def test_a_chunked_build_is_the_build_from_whole_records(tmp_path, model):
    g = ExperienceGraph(store=SQLiteStore(tmp_path / "c.db"), embedder=model)
    g.ingest(shop_episodes())
    steps = list(g.store.iter_nodes(Label.STEP, chunk=3))  # pages of 3 rows, in rowid order
    assert [s[0] for s in steps] == [r.id for r in g.store.find_nodes(Label.STEP)]
    assert all(v.dtype == np.float32 and v.shape == (model.dim,) for _, _, v in steps)
    chunked = build_memory(g.store, g.embedder)
    whole = build_memory(_RecordsOnly(g.store), g.embedder)
    assert len(chunked) == len(whole) == len(steps)
    # the same steps in the same order (ties between equal scores go by this index)
    assert chunked.step_ids == whole.step_ids and chunked.keys == whole.keys
    assert chunked.raw == whole.raw and chunked.arguments == whole.arguments
    assert chunked.tasks == whole.tasks and chunked.episodes == whole.episodes
    a, b = chunked.arrays, whole.arrays
    for name in ("new", "win", "label", "prev1", "prev2", "episode", "task", "ok", "err",
                 "position", "state", "failing", "task_vecs"):
        assert np.array_equal(a[name], b[name]), name
    # each window's vector is the one its text has in the store's embedding cache
    i = 4
    window = g.store.get_node(chunked.step_ids[i]).props["window"]
    assert np.allclose(a["win"][i], g.embedder.embed([window])[0])
    g.close()


def test_voters_patched_after_a_write_equal_voters_built_again(tmp_path, model):
    """A write that rewrote some skills (their support and utility moved) but none of a
    state's edges patches that state's voters in place of building them again: the same
    arrays a memory built from the store has."""
    from test_retrieval_suggest import _search

    from expgraph.models import Rel

    eps = shop_episodes()
    g = ExperienceGraph(store=SQLiteStore(tmp_path / "v.db"), embedder=model)
    g.ingest(eps[:4])
    states = [(_search("blue kettle"), "buy a blue kettle", []),
              (_results("blue kettle", "B0BLU22222"), "buy a blue kettle", ["search[blue kettle]"])]
    _answers(g, states)  # the memory and some voters are built here
    mem = step_memory(g.store, g.embedder)
    before = dict(mem.derived._voters)
    assert before
    g.ingest(eps[4])  # another successful run: the skills it repeats count one more
    assert step_memory(g.store, g.embedder) is mem
    after = dict(mem.derived._voters)
    patched = [k for k in after if k in before and after[k] is not before[k]]
    assert patched  # kept and patched, not dropped
    fresh = build_memory(g.store, g.embedder)
    for k in after:
        v, w = after[k], fresh.derived.voters(Rel(k[0]), k[1])
        assert v.ids.tolist() == w.ids.tolist() and v.members == w.members
        assert v.weight.tolist() == w.weight.tolist()
        assert v.support.tolist() == w.support.tolist()
        assert [(x.id, x.actions, x.utility, x.support) for x in v.views] == \
            [(x.id, x.actions, x.utility, x.support) for x in w.views]
        assert {t: r.tolist() for t, r in v.holding.items()} == \
            {t: r.tolist() for t, r in w.holding.items()}
        known = (v.first >= 0) & (w.first >= 0)  # (filled in as votes meet new actions)
        assert [mem.actions[i] for i in v.first[known]] == \
            [fresh.actions[i] for i in w.first[known]]
    assert _answers(g, states) == _answers(ExperienceGraph(store=SQLiteStore(tmp_path / "v.db"),
                                                           embedder=model), states)
    g.close()
