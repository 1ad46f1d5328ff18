"""Each retrieval signal and each fusion function on inputs with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from expgraph.models import EdgeRecord, Label, NodeRecord, Rel
from queries import fusion
from queries.signals import (
    BM25Index,
    blend,
    dense_scores,
    graph_scores,
    seed_weights,
    tokenize,
    utility_scores,
)


def test_tokenize_lowercases_and_drops_stop_words():
    assert tokenize("Click the [Buy Now] button, 2 times!") == ["click", "buy", "now", "button",
                                                                "2", "times"]


def test_bm25_ranks_the_document_with_the_rare_query_term_first():
    idx = BM25Index(["a", "b", "c"], ["click buy now on the item page",
                                      "search for a red mug", "click next on the results page"])
    scores = idx.scores("the results page")
    assert set(scores) == {"a", "c"}  # "b" shares no term: left out, not scored 0
    assert scores["c"] > scores["a"]  # "results" is rarer than "page"
    assert idx.scores("") == {} and idx.scores("zebra") == {}
    assert BM25Index([], []).scores("anything") == {}


def test_bm25_matches_rank_bm25_ordering():
    """bm25s and rank-bm25 (two maintained implementations) agree on the order."""
    from rank_bm25 import BM25Okapi

    docs = ["open the product page", "search the catalogue for mugs", "buy the mug now",
            "go to the next results page", "mug mug mug page"]
    idx = BM25Index([str(i) for i in range(len(docs))], docs)
    ours = idx.scores("mug page")
    ref = BM25Okapi([tokenize(d) for d in docs]).get_scores(tokenize("mug page"))
    order_ours = sorted(ours, key=lambda i: -ours[i])
    order_ref = [str(i) for i in np.argsort(-ref) if ref[i] > 0]
    assert order_ours == order_ref


def test_blend_leans_towards_the_state():
    s, t = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    v = blend(s, t, 0.3)
    assert np.linalg.norm(v) == pytest.approx(1.0)
    assert v[0] > v[1] > 0
    assert np.allclose(blend(s, None, 0.3), s)
    assert np.allclose(blend(s, t, 0.0), s)


def _vec_node(i: str, label: Label, vec: list[float], **props) -> NodeRecord:
    return NodeRecord(id=i, label=label, text=i, props=props, embedding=vec)


def test_dense_scores_are_cosines_per_label_and_filter(store):
    store.upsert_nodes([
        _vec_node("s1", Label.SKILL, [1, 0, 0], status="active"),
        _vec_node("s2", Label.SKILL, [0.6, 0.8, 0], status="deprecated"),
        _vec_node("g1", Label.GUARDRAIL, [0, 0, 1], status="active"),
    ])
    q = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    got = dense_scores(store, q, [(Label.SKILL, None), (Label.GUARDRAIL, None)], k=5)
    assert got == pytest.approx({"s1": 1.0, "s2": 0.6, "g1": 0.0}, abs=1e-6)
    active = dense_scores(store, q, [(Label.SKILL, {"status": "active"})], k=5)
    assert active == pytest.approx({"s1": 1.0})
    assert set(dense_scores(store, q, [(Label.SKILL, None)], k=1)) == {"s1"}


def test_seed_weights_favour_the_exact_state_and_near_twins():
    seeds = seed_weights("exact", [("exact", 1.0), ("twin", 0.99), ("cousin", 0.8),
                                   ("stranger", 0.3)], min_sim=0.6, temperature=0.05)
    assert seeds["exact"] == 1.0
    assert seeds["twin"] == pytest.approx(np.exp(-0.2))
    assert seeds["cousin"] == pytest.approx(np.exp(-4.0))
    assert "stranger" not in seeds
    # no exact match: the closest known state counts fully, the others relative to it
    seeds = seed_weights(None, [("a", 0.8), ("b", 0.75), ("c", 0.5)], 0.6, 0.05)
    assert seeds == pytest.approx({"a": 1.0, "b": np.exp(-1.0)})
    assert seed_weights(None, [("a", 0.7)], 0.6, 0.0) == {"a": 1.0}


def test_graph_scores_spread_from_the_seed_state(store):
    # state -> two skills apply in it, one guardrail guards it; a plan is composed of skill a.
    store.upsert_nodes([NodeRecord(id=i, label=lab, text=i) for i, lab in (
        ("st", Label.STATE), ("a", Label.SKILL), ("b", Label.SKILL), ("g", Label.GUARDRAIL),
        ("plan", Label.SKILL), ("far", Label.SKILL))])
    store.upsert_edges([EdgeRecord(src=s, dst=d, type=t) for s, t, d in (
        ("a", Rel.APPLIES_IN, "st"), ("b", Rel.APPLIES_IN, "st"), ("g", Rel.GUARDS, "st"),
        ("plan", Rel.COMPOSED_OF, "a"), ("far", Rel.COMPOSED_OF, "plan"))])
    rels = [Rel.APPLIES_IN, Rel.GUARDS, Rel.COMPOSED_OF]
    got = graph_scores(store, {"st": 1.0}, rels, hops=2, decay=0.5)
    # hop 1: 0.5 split over 3 neighbours; hop 2: a's 1/6 * 0.5 split over its 2 neighbours
    # (half goes back to the seed, which is not scored).
    assert got == pytest.approx({"a": 1 / 6, "b": 1 / 6, "g": 1 / 6, "plan": 1 / 24})
    assert "far" not in got  # three hops away
    assert graph_scores(store, {}, rels, 2, 0.5) == {}
    assert graph_scores(store, {"st": 1.0}, rels, 0, 0.5) == {}


def test_utility_scores_leave_out_items_without_evidence():
    assert utility_scores({"a": 0.4, "b": 0.0, "c": 0.9}) == {"a": 0.4, "c": 0.9}


# ----------------------------------------------------------------------------- fusion


def test_minmax_scales_to_unit_range_and_handles_ties():
    assert fusion.minmax({"a": 2.0, "b": 4.0, "c": 3.0}) == {"a": 0.0, "b": 1.0, "c": 0.5}
    assert fusion.minmax({"a": 5.0, "b": 5.0}) == {"a": 1.0, "b": 1.0}
    assert fusion.minmax({}) == {}


def test_ranks_are_competition_ranks():
    assert fusion.ranks({"a": 0.9, "b": 0.5, "c": 0.9, "d": 0.1}) == {"a": 1, "c": 1, "b": 3,
                                                                      "d": 4}
    assert fusion.rank_normalise({"a": 3.0, "b": 2.0, "c": 1.0, "d": 0.5}) == {
        "a": 1.0, "b": 0.75, "c": 0.5, "d": 0.25}


def test_rrf_adds_weighted_reciprocal_ranks():
    signals = {"dense": {"x": 0.9, "y": 0.8}, "sparse": {"y": 7.0, "z": 1.0}}
    got = fusion.rrf(signals, {"dense": 1.0, "sparse": 0.5}, k=60)
    assert got == pytest.approx({"x": 1 / 61, "y": 1 / 62 + 0.5 / 61, "z": 0.5 / 62})
    assert max(got, key=got.get) == "y"  # found by both signals


def test_weighted_fusion_with_each_normalisation():
    signals = {"dense": {"x": 0.9, "y": 0.5}, "graph": {"y": 0.2, "z": 0.1}}
    mm = fusion.weighted(signals, {"dense": 1.0, "graph": 2.0}, "minmax")
    assert mm == pytest.approx({"x": 1.0, "y": 0.0 + 2.0, "z": 0.0})
    rk = fusion.weighted(signals, {"dense": 1.0, "graph": 2.0}, "rank")
    assert rk == pytest.approx({"x": 1.0, "y": 0.5 + 2.0, "z": 1.0})


def test_fuse_rejects_an_unknown_method():
    with pytest.raises(ValueError, match="rrf or weighted"):
        fusion.fuse({}, {}, method="borda")
