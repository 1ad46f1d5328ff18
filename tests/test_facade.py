"""The ExperienceGraph facade: what composes the areas, and what survives an offline rebuild."""

from __future__ import annotations

import pytest

from expgraph.distill import distill
from expgraph.models import Label


@pytest.mark.parametrize("via", ["facade", "core distill(rebuild=True)"])
def test_offline_rebuild_keeps_execution_feedback(graph, examples_file, via):
    graph.ingest(examples_file)
    skill = max(graph.store.find_nodes(Label.SKILL, {"tier": "functional"}),
                key=lambda r: r.props.get("support", 0))
    graph.feedback(skill.id, success=False, episode_id="run-1")
    graph.feedback(skill.id, success=False, episode_id="run-2")
    before = graph.store.get_node(skill.id).props
    assert before["feedback_failures"] == 2

    if via == "facade":
        graph.distill()  # `expgraph distill`: drops and re-mines everything derived
    else:
        report = distill(graph.store, graph.embedder, rebuild=True)
        assert report.restored >= 1

    after = graph.store.get_node(skill.id).props
    assert after["feedback_failures"] == 2
    assert after["utility"] == before["utility"]
    assert after["successes"] == before["successes"]


def test_record_writes_one_episode_and_distils_it(graph):
    with graph.record(task="buy a red mug", agent="test-agent") as ep:
        ep.step(observation="WebShop Instruction: buy a red mug [Search]",
                action="search[red mug]", result="[Back to Search] Page 1 [B0RED12345] Red Mug")
        ep.step(observation="[Back to Search] Page 1 [B0RED12345] Red Mug",
                action="click[B0RED12345]", result="Red Mug Price: $8 [Buy Now]")
        ep.succeed()
    counts = graph.stats()["nodes"]
    assert counts["Episode"] == 1 and counts["Skill"] >= 2
