"""The whole flow on every backend: ingest -> distil -> refine -> query/suggest, and the same
answers on the Bolt server as on the embedded store (allowing ties)."""

from __future__ import annotations

import pytest

from expgraph.graph import ExperienceGraph
from expgraph.models import Episode
from expgraph.store import SQLiteStore

STATES = [
    ("[Back to Search] Page 1 (Total results: 50) [Next >] [B07XK2LQ9M] Stormline Men's "
     "Waterproof Rain Jacket $45.99", "i need a waterproof rain jacket in navy under 60 dollars"),
    ('tool: {"order_id": "#W1234567", "user_id": "kim_lee_1010", "status": "delivered"}',
     "cancel order #W1234567, it arrived late"),
    ("[File: /repo/src/pkg/core.py (812 lines total)]\n1:import os", "fix a bug in core.py"),
]


def _flow(graph: ExperienceGraph, episodes: list[Episode]) -> dict:
    report = graph.ingest(episodes)
    assert report.ingested == len(episodes) and not report.rejected
    graph.refine()
    out = {"stats": graph.stats(), "query": [], "suggest": []}
    for state, task in STATES:
        out["query"].append([(r.id, round(r.score, 6)) for r in
                             graph.query(state, task=task, k=8).results])
        s = graph.suggest(state, task=task, k=5)
        out["suggest"].append(([(n.action, round(n.score, 6)) for n in s.next],
                               sorted(a.action for a in s.avoid)))
    return out


def _same_up_to_ties(a: list[tuple[str, float]], b: list[tuple[str, float]]) -> bool:
    """Equal lists, except that items whose scores tie (within 1e-3) may swap places and the
    last ranks may differ inside a tie group cut by k."""
    if len(a) != len(b):
        return False
    for (ia, sa), (ib, sb) in zip(a, b, strict=True):
        if abs(sa - sb) > 1e-3:
            return False
        if ia != ib and not any(abs(s - sa) <= 1e-3 for i, s in b if i == ia) \
                and not any(abs(s - sa) <= 1e-3 for i, s in a if i == ib):
            return False
    return True


@pytest.fixture(scope="module")
def examples(examples_file) -> list[Episode]:
    return [Episode.model_validate_json(line) for line in examples_file.read_text().splitlines()]


@pytest.fixture(scope="module")
def embedded_answers(examples, model, tmp_path_factory):
    db = tmp_path_factory.mktemp("e2e") / "ref.db"
    with ExperienceGraph(store=SQLiteStore(db), embedder=model) as g:
        return _flow(g, examples)


def test_flow_gives_the_embedded_stores_answers_on_every_backend(
        backend_store, examples, model, embedded_answers):
    graph = ExperienceGraph(store=backend_store, embedder=model)
    got = _flow(graph, examples)
    assert got["stats"] == embedded_answers["stats"]
    assert all(got["query"]) and all(n for n, _ in got["suggest"])
    for mine, ref in zip(got["query"], embedded_answers["query"], strict=True):
        assert _same_up_to_ties(mine, ref), (mine, ref)
    for (nxt, avoid), (ref_nxt, ref_avoid) in zip(got["suggest"], embedded_answers["suggest"],
                                                  strict=True):
        assert _same_up_to_ties(nxt, ref_nxt), (nxt, ref_nxt)
        assert avoid == ref_avoid
