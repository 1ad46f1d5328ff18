"""Rescore and retire: utility from counts (Wilson lower bound), deprecation with enough
evidence, reactivation when feedback lifts a retired skill."""

from __future__ import annotations

import pytest

from expgraph.models import GuardrailNode, SkillNode, Status, Tier
from expgraph.refine import refine
from expgraph.refine.feedback import feedback
from expgraph.scoring import should_retire
from queries.retrieval import query


def put(store, embedder, node) -> str:
    rec = node.to_record(store.namespace)
    rec.embedding = embedder.embed([rec.text])[0].tolist()
    store.upsert_nodes([rec])
    return rec.id


def atomic(name, action, s, f, **kw) -> SkillNode:
    return SkillNode(tier=Tier.ATOMIC, name=name, description=f"{name}.", actions=[action],
                     support=s + f, uses=s + f, successes=s, failures=f, utility=0.0, **kw)


def test_rescore_ranks_one_of_one_below_forty_of_fortyfive(store, embedder):
    lucky = put(store, embedder, atomic("click buy now", "click[buy now]", 1, 0))
    proven = put(store, embedder, atomic("search products", "search[<query>]", 40, 5))
    report = refine(store, embedder, passes=["rescore"])
    u_lucky = store.get_node(lucky).props["utility"]
    u_proven = store.get_node(proven).props["utility"]
    assert u_lucky == pytest.approx(0.2065, abs=1e-3)
    assert u_proven == pytest.approx(0.7646, abs=1e-3)
    assert report.get("rescore").counts["utility"] == 2


def test_guardrail_utility_counts_failures_of_the_forbidden_action(store, embedder):
    g = GuardrailNode(trigger_state="s1", trigger="on the results page",
                      forbidden=["click[next >]"], failures=18, total=20, support=18,
                      rule="Do not page forward")
    gid = put(store, embedder, g)
    refine(store, embedder, passes=["rescore"])
    # right 18 times of 20: the Wilson lower bound of 18/20, worked by hand
    assert store.get_node(gid).props["utility"] == pytest.approx(0.6990, abs=1e-4)


def test_skill_with_2_successes_and_20_failures_is_retired_and_not_served(store, embedder):
    bad = put(store, embedder, atomic("click next page", "click[next >]", 2, 20))
    good = put(store, embedder, atomic("click buy now", "click[buy now]", 30, 3))
    report = refine(store, embedder)
    assert store.get_node(bad).props["status"] == Status.DEPRECATED.value
    assert store.get_node(good).props["status"] == Status.ACTIVE.value
    assert [c.id for c in report.get("retire").changes] == [bad]
    assert store.get_node(bad).props["history"][-1]["event"] == "retired"
    ids = {r.id for r in query(store, embedder, "[Next >] [Buy Now]", k=20).results}
    assert bad not in ids and good in ids
    ids = {r.id for r in query(store, embedder, "[Next >] [Buy Now]", k=20,
                                         include_deprecated=True).results}
    assert bad in ids


def test_zero_of_five_is_not_enough_evidence_to_retire(store, embedder):
    sid = put(store, embedder, atomic("click back", "click[back to search]", 0, 5))
    refine(store, embedder)
    assert store.get_node(sid).props["status"] == Status.ACTIVE.value
    assert should_retire(0.0, 5) is False and should_retire(0.0, 10) is True


def test_retired_skill_returns_when_feedback_lifts_its_utility(store, embedder):
    sid = put(store, embedder, atomic("click next page", "click[next >]", 2, 20))
    refine(store, embedder)
    assert store.get_node(sid).props["status"] == "deprecated"
    for i in range(12):
        feedback(store, sid, True, episode_id=f"ep-{i}")
    report = refine(store, embedder)
    assert store.get_node(sid).props["status"] == "active"
    assert [c.kind for c in report.get("retire").changes] == ["reactivated"]
    assert [h["event"] for h in store.get_node(sid).props["history"]] == ["retired", "reactivated"]
