"""The step memory: built from the store, grown in place by ingest, equal to a full rebuild."""

from __future__ import annotations

import numpy as np
from test_retrieval_suggest import _results, shop_episodes

from expgraph.graph import ExperienceGraph
from expgraph.memory.index import build_memory, step_memory
from expgraph.store import SQLiteStore


def _columns(mem) -> dict:
    a = mem.arrays
    order = np.argsort(mem.step_ids)  # the same steps, whatever the order they arrived in
    return {"ids": [mem.step_ids[i] for i in order],
            "labels": [mem.actions[a["label"][i]] for i in order],
            "prev1": [mem.actions[a["prev1"][i]] if a["prev1"][i] >= 0 else None for i in order],
            "ok": a["ok"][order].tolist(), "new": a["new"][order], "win": a["win"][order],
            "skills": sorted(s.id for s in mem.skills)}


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
