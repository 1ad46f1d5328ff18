"""The fast paths of `query` give the answers of the computations they replace, on a fixed
store: nearest nodes by id without reading them, the pools' first n without a full sort."""

from __future__ import annotations

import random

import pytest
from test_retrieval_suggest import _item, _results, _search, shop_episodes

from expgraph.graph import ExperienceGraph
from expgraph.models import Label
from expgraph.store import SQLiteStore
from queries import retrieval
from queries.retrieval import _top


@pytest.fixture(scope="module")
def shop(tmp_path_factory, model):
    g = ExperienceGraph(store=SQLiteStore(tmp_path_factory.mktemp("qf") / "s.db"),
                        embedder=model)
    g.ingest(shop_episodes())
    yield g
    g.close()


def test_nearest_ids_are_the_nearest_nodes_ids(shop, model):
    vec = model.embed(["the results page for a blue kettle"])[0]
    for label, where, k in ((Label.STATE, None, 5), (Label.TASK, None, 3),
                            (Label.SKILL, {"status": "active"}, 50),
                            (Label.SKILL, {"tier": "atomic", "status": "active"}, 2)):
        want = [(r.id, s) for r, s in shop.store.vector_top_k(label, vec, k, where=where)]
        assert want  # (the shop store has nodes of each)
        assert shop.store.vector_top_ids(label, vec, k, where=where) == want


def test_top_n_is_the_stable_sort_s_first_n():
    rng = random.Random(4)
    for _ in range(200):
        scores = {f"n{i}": float(rng.choice([0.1, 0.5, 0.5, 0.9, rng.random()]))
                  for i in range(rng.randrange(1, 40))}
        n = rng.randrange(1, 12)
        want = scores if len(scores) <= n else \
            dict(sorted(scores.items(), key=lambda kv: -kv[1])[:n])  # the old computation
        got = _top(scores, n)
        assert list(got.items()) == list(want.items())  # same order: fusion ranks by it


def _answers(g) -> list:  # noqa: ANN001
    out = []
    for p, pid in (("red mug", "B0RED11111"), ("blue kettle", "B0BLU22222"),
                   ("green lamp", "B0GRN00000")):
        for state in (_search(p), _results(p, pid), _item(p), f"{_results(p, pid)} (2)"):
            for task in (f"buy a {p}", None):
                res = g.query(state, task=task, k=10, explain=True)
                out.append(res.model_dump(mode="json")["results"])
    return out


def test_query_answers_as_with_the_nodes_read(shop, monkeypatch):
    fast = _answers(shop)
    assert any(fast)
    with monkeypatch.context() as m:
        m.setattr(SQLiteStore, "vector_top_ids", None)  # the nodes read, as before
        m.setattr(retrieval, "_top", lambda s, n: s if len(s) <= n else
                  dict(sorted(s.items(), key=lambda kv: -kv[1])[:n]))
        slow = _answers(shop)
    assert fast == slow
