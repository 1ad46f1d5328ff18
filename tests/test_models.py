"""The canonical episode model: validation and deterministic ids."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from expgraph.models import (
    Episode,
    Label,
    SkillNode,
    StateNode,
    Tier,
    episode_node_id,
    node_from_record,
    stable_id,
)


def _episode(**kw):
    base = {"task": "buy a red mug", "steps": [
        {"observation": "home page", "action": {"name": "search", "arguments": {"query": "mug"}},
         "result": "results"}], "outcome": {"success": True}}
    base.update(kw)
    return Episode.model_validate(base)


def test_episode_without_id_gets_the_same_id_from_the_same_content():
    assert _episode().id == _episode().id
    assert _episode().id != _episode(task="buy a blue mug").id


def test_given_episode_id_is_kept():
    assert _episode(id="run-42").id == "run-42"
    assert episode_node_id("run-42") == episode_node_id("run-42") != episode_node_id("run-43")


def test_step_index_is_its_position():
    ep = _episode(steps=[{"observation": str(i), "action": {"name": "a"}, "index": 7}
                         for i in range(3)])
    assert [s.index for s in ep.steps] == [0, 1, 2]


@pytest.mark.parametrize("bad, field", [
    ({"task": ""}, "task"),
    ({"task": "   "}, "task"),
    ({"steps": [{"observation": "x", "action": {"name": ""}}]}, "name"),
    ({"steps": [{"observation": "x"}]}, "action"),
    ({"steps": [{"observation": "x", "action": {"name": "a"}, "surprise": 1}]}, "surprise"),
    ({"outcome": {"success": "maybe"}}, "success"),
])
def test_invalid_episode_names_the_field(bad, field):
    with pytest.raises(ValidationError) as exc:
        _episode(**bad)
    assert field in str(exc.value)


def test_reward_decides_success_only_without_a_flag():
    assert _episode(outcome={"reward": 1.0}).succeeded is True
    assert _episode(outcome={"reward": 0.5}).succeeded is False
    assert _episode(outcome={"success": True, "reward": 0.0}).succeeded is True
    assert _episode(outcome={}).succeeded is None


def test_node_ids_come_from_identity_fields():
    a = SkillNode(tier=Tier.ATOMIC, name="search", actions=["search[<query>]"])
    b = SkillNode(tier=Tier.ATOMIC, name="another name", actions=["search[<query>]"],
                  description="differs")
    assert a.id == b.id == stable_id("Skill", Tier.ATOMIC, ["search[<query>]"], "")
    assert StateNode(signature="x", representative="X").id != StateNode(
        signature="y", representative="X").id


def test_record_round_trip_keeps_the_model():
    s = SkillNode(tier=Tier.FUNCTIONAL, name="buy", actions=["search[<query>]", "click[buy now]"],
                  successes=3)
    rec = s.to_record()
    assert rec.label is Label.SKILL and "click[buy now]" in rec.text
    back = node_from_record(rec)
    assert isinstance(back, SkillNode) and back.id == s.id and back.successes == 3
