"""Execution feedback: utility moves in the right direction, each (item, episode) counts once,
and ingesting an episode that names what it was served closes the loop by itself."""

from __future__ import annotations

import pytest

from expgraph.models import Episode, Outcome, Rel, SkillNode, Step, Tier
from expgraph.refine import refine
from expgraph.refine.feedback import feedback, record_retrieved
from expgraph.scoring import utility


def put_skill(store, embedder, name, action, s=6, f=4, **kw) -> str:
    node = SkillNode(tier=Tier.ATOMIC, name=name, description=f"{name}.", actions=[action],
                     support=s + f, successes=s, failures=f, utility=utility(s, f), **kw)
    rec = node.to_record(store.namespace)
    rec.embedding = embedder.embed([rec.text])[0].tolist()
    store.upsert_nodes([rec])
    return rec.id


def test_success_raises_and_failure_lowers_utility(store, embedder):
    sid = put_skill(store, embedder, "click buy now", "click[buy now]")
    base = store.get_node(sid).props["utility"]
    up = feedback(store, sid, True)
    assert up["utility_after"] > base
    assert store.get_node(sid).props["feedback_successes"] == 1
    down = feedback(store, sid, False)
    down2 = feedback(store, sid, False)
    assert down2["utility_after"] < down["utility_after"] < up["utility_after"]
    assert store.get_node(sid).props["utility"] == pytest.approx(utility(6, 4, 1, 2))
    assert [h["event"] for h in store.get_node(sid).props["history"]] == ["feedback"] * 3


def test_same_episode_counts_once_and_opposite_outcome_corrects(store, embedder):
    sid = put_skill(store, embedder, "click buy now", "click[buy now]")
    assert feedback(store, sid, True, episode_id="run-7")["counted"] is True
    again = feedback(store, sid, True, episode_id="run-7")
    assert again["counted"] is False
    p = store.get_node(sid).props
    assert (p["feedback_successes"], p["feedback_failures"]) == (1, 0)
    feedback(store, sid, False, episode_id="run-7")
    p = store.get_node(sid).props
    assert (p["feedback_successes"], p["feedback_failures"]) == (0, 1)
    [e] = store.edges(Rel.RETRIEVED_FOR, src=sid)
    assert e.props["helped"] is False


def test_feedback_on_merged_skill_is_credited_to_its_winner(store, embedder):
    a = put_skill(store, embedder, "Select an option and buy", "click[<option>]", s=10, f=1)
    b = put_skill(store, embedder, "select an option and buy", "CLICK[<option>]", s=2, f=1)
    refine(store, embedder, passes=["merge"])
    res = feedback(store, b, True, episode_id="run-1")
    assert res["credited"] == a
    assert store.get_node(a).props["feedback_successes"] == 1
    assert store.edges(Rel.RETRIEVED_FOR, src=a)[0].props["served"] == b


def test_unknown_item_is_a_clear_error(store):
    with pytest.raises(ValueError, match="no skill or guardrail"):
        feedback(store, "nope", True)


def _episode(task: str, ok: bool, retrieved: list[str]) -> Episode:
    return Episode(task=task, agent="t", outcome=Outcome(success=ok),
                   metadata={"retrieved": retrieved},
                   steps=[Step(observation="[Search]", action={"name": "search",
                                                               "arguments": {"query": task}},
                               result="[Buy Now]"),
                          Step(observation="[Buy Now]", action={"name": "click",
                                                                "arguments": {"target": "buy now"}},
                               result="Thank you")])


def test_ingested_episode_records_feedback_for_what_it_was_served(tmp_path, model):
    from expgraph.graph import ExperienceGraph

    with ExperienceGraph(tmp_path / "g.db", embedder=model, auto_distill=False) as g:
        sid = put_skill(g.store, g.embedder, "click buy now", "click[buy now]")
        before = g.store.get_node(sid).props["utility"]
        g.ingest([_episode("buy a red mug", True, [sid]),
                  _episode("buy a blue cup", False, [sid, "not-a-node"])])
        p = g.store.get_node(sid).props
        assert (p["feedback_successes"], p["feedback_failures"]) == (1, 1)
        assert p["utility"] != before
        helped = sorted(e.props["helped"] for e in g.store.edges(Rel.RETRIEVED_FOR, src=sid))
        assert helped == [False, True]
        # re-recording the same episodes (a replay) does not count twice
        eps = [e.dst for e in g.store.edges(Rel.RETRIEVED_FOR, src=sid)]
        summary = record_retrieved(g.store, eps)
        assert summary["duplicates"] == 2 and summary["recorded"] == 0
        assert g.store.get_node(sid).props["feedback_successes"] == 1
