"""examples/agent_loop.py end to end on the shipped examples: the replay world, the agent's
loop guard, and a short offline + online run on real SQLite stores with the real model."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from expgraph.graph import ExperienceGraph
from expgraph.models import Episode, Rel

REPO = Path(__file__).resolve().parents[1]


def _load_example():
    spec = importlib.util.spec_from_file_location("agent_loop", REPO / "examples" / "agent_loop.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["agent_loop"] = mod
    spec.loader.exec_module(mod)
    return mod


loop = _load_example()


def test_replay_world_holds_out_every_third_success_per_agent(examples_file: Path) -> None:
    memory, tasks = loop.replay_world(examples_file)
    # 8 successes per agent (shop-0..7; support-0..5,10,11; code-0..4,8,9,11): the 3rd and 6th
    held = ["shop-2", "shop-5", "support-2", "support-5", "code-2", "code-8"]
    assert len(memory) == 36 - len(held)
    assert not {e["id"] for e in memory} & set(held)
    assert tasks[0].task.startswith("i want vegan protein bars")
    assert tasks[0].actions == ["search[vegan protein bars chocolate]",
                                "think[B01MZ3QJ5K matches and is within budget.]",
                                "click[B01MZ3QJ5K]", "click[chocolate]", "click[pack of 12]",
                                "click[Buy Now]"]
    for t in tasks:
        assert all(a in opts and len(opts) <= 6 for a, opts in zip(t.actions, t.options, strict=True))
    # step 3 of shop-2 is offered beside what the other shop agents clicked at step 3
    assert tasks[0].options[2][:2] == ["click[B00KQ7X3ZA]", "click[B01MZ3QJ5K]"]


def test_run_episode_scores_the_share_of_recorded_steps_and_records_every_try() -> None:
    task = loop.ReplayTask(task="t", observations=["o0", "o1"], actions=["a", "b"],
                           results=["r0", "r1"], options=[["a", "x"], ["b", "x"]])
    picks = iter(["a", "x", "x", "x"])  # right, then wrong until the budget (2 x 2) is spent
    got: list[Episode] = []
    score = loop.run_episode(task, lambda s, t, h, c: next(picks),
                             loop.EpisodeRecorder(got.append, task="t"))
    assert score == 0.5
    (ep,) = got
    assert [s.action.name for s in ep.steps] == ["a", "x", "x", "x"]
    assert [s.error for s in ep.steps] == [False, True, True, True]
    assert [s.observation for s in ep.steps] == ["o0", "o1", "o1", "o1"]
    assert ep.outcome.success is False and ep.outcome.reward == 0.5


def test_agent_never_repeats_an_action_from_the_same_state(graph, examples_file: Path) -> None:
    graph.ingest(examples_file)
    agent = loop.ExperienceAgent(graph)
    with agent.recorder("cancel order #W1 please"):
        cands = ["find_user_id_by_email", "cancel_pending_order", "get_order_details"]
        picks = [agent.choose("user: Hi, I am Sam. I want to cancel order #W1 please.",
                                 "cancel order #W1 please", [], cands)
                 for _ in range(3)]
    assert sorted(picks) == sorted(cands)
    assert picks[0] == "find_user_id_by_email"  # what every support episode did first


@pytest.mark.slow
def test_agent_loop_runs_offline_and_online_and_feeds_back(tmp_path: Path) -> None:
    db = tmp_path / "loop.db"
    results = loop.main(["--rounds", "1", "--refine-every", "3", "--db", str(db)])
    assert set(results) == {"random", "offline", "online"}
    for score, success in results.values():
        assert 0.0 <= success <= score <= 1.0
    # the memory beats chance on the same tasks
    assert results["offline"][0] > results["random"][0]
    with ExperienceGraph(db.with_suffix(".offline.db")) as g:
        assert g.stats()["nodes"]["Episode"] == 30  # offline: the store never grows
    with ExperienceGraph(db.with_suffix(".online.db")) as g:
        played = [r for r in g.store.find_nodes("Episode", {"agent": "expgraph-agent"})]
        assert len(played) == 6
        assert any(r.props["metadata"].get("retrieved") for r in played)
        for r in played:  # the items it was served got this episode's outcome as feedback
            served = set(r.props["metadata"].get("retrieved") or [])
            fed_back = g.store.edges(Rel.RETRIEVED_FOR, dst=r.id)
            assert bool(fed_back) == bool(served)  # (items merged into one share one edge)
            assert {e.props["served"] for e in fed_back} <= served
            assert {e.props["helped"] for e in fed_back} <= {r.props["success"]}
