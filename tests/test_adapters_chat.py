"""OpenAI-style chat and tau-bench: tool calls are steps; observation = messages since the
previous tool call (no system prompt), result = the matching tool message."""

from __future__ import annotations

import json
from pathlib import Path

from expgraph.models import Episode
from ingestion.adapters.chat import OpenAIChatAdapter, episode_from_chat
from ingestion.adapters.tau_bench import TauBenchAdapter
from ingestion.errors import ParseError


def call(cid: str, name: str, args: dict) -> dict:
    return {"id": cid, "type": "function",
            "function": {"name": name, "arguments": json.dumps(args)}}


CONVERSATION = [
    {"role": "system", "content": "You are a shop assistant. SECRET POLICY"},
    {"role": "user", "content": "Find me red shoes"},
    {"role": "assistant", "content": "Which size?"},
    {"role": "user", "content": "Size 42"},
    {"role": "assistant", "content": "Searching now.",
     "tool_calls": [call("c1", "search", {"query": "red shoes", "size": 42})]},
    {"role": "tool", "tool_call_id": "c1", "content": "[B01] Red Runner $40"},
    {"role": "assistant", "content": None,
     "tool_calls": [call("c2", "details", {"item": "B01"}), call("c3", "stock", {"item": "B01"})]},
    # answers arrive out of order: matched by id, not position
    {"role": "tool", "tool_call_id": "c3", "content": "Error: stock service unavailable"},
    {"role": "tool", "tool_call_id": "c2", "content": "Red Runner, leather"},
    {"role": "assistant", "content": "Red Runner is available."},
]


def test_tool_calls_become_steps_with_observation_since_previous_call() -> None:
    ep = episode_from_chat(CONVERSATION)
    assert ep.task == "Find me red shoes"
    assert [s.action.name for s in ep.steps] == ["search", "details", "stock"]
    assert ep.steps[0].action.arguments == {"query": "red shoes", "size": 42}
    assert ep.steps[0].observation == (
        "user: Find me red shoes\n\nassistant: Which size?\n\nuser: Size 42")
    assert "SECRET POLICY" not in ep.steps[0].observation
    assert ep.steps[0].thought == "Searching now."
    assert ep.steps[0].result == "[B01] Red Runner $40"
    # parallel calls of one message share what the agent had seen
    assert ep.steps[1].observation == ep.steps[2].observation == "tool: [B01] Red Runner $40"
    assert ep.steps[1].result == "Red Runner, leather"
    assert ep.steps[2].result == "Error: stock service unavailable"
    assert [s.error for s in ep.steps] == [False, False, True]
    assert ep.metadata["final_answer"] == "Red Runner is available."
    assert ep.outcome.success is None


def test_results_without_ids_are_matched_in_call_order() -> None:
    msgs = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "tool_calls": [call("a", "first", {}), call("b", "second", {})]},
        {"role": "tool", "content": "one"},
        {"role": "tool", "content": "two"},
    ]
    ep = episode_from_chat(msgs)
    assert [s.result for s in ep.steps] == ["one", "two"]


def test_reads_a_bare_message_list_file(tmp_path: Path) -> None:
    path = tmp_path / "chat.json"
    path.write_text(json.dumps(CONVERSATION))
    (ep,) = list(OpenAIChatAdapter().read(path))
    assert isinstance(ep, Episode)
    assert ep.source_format == "openai_chat"
    assert ep.provenance.position == "episode 0"
    assert len(ep.steps) == 3


def test_jsonl_conversations_report_bad_lines_and_keep_good_ones(tmp_path: Path) -> None:
    good = {"messages": CONVERSATION, "reward": 1.0, "agent": "shopbot"}
    no_user = [{"role": "system", "content": "s"},
               {"role": "assistant", "tool_calls": [call("x", "look", {})]}]
    nameless = [{"role": "user", "content": "hi"},
                {"role": "assistant", "tool_calls": [{"id": "q", "function": {"arguments": "{}"}}]}]
    lines = [json.dumps(good), json.dumps(good)[:50], json.dumps(no_user), json.dumps(nameless),
             json.dumps(CONVERSATION[1:6])]
    path = tmp_path / "convs.jsonl"
    path.write_text("\n".join(lines) + "\n")
    items = list(OpenAIChatAdapter().read(path))
    eps = [i for i in items if isinstance(i, Episode)]
    errors = [i for i in items if isinstance(i, ParseError)]
    assert [e.provenance.position for e in eps] == ["line 1", "line 5"]
    assert eps[0].agent == "shopbot" and eps[0].outcome.reward == 1.0 and eps[0].succeeded
    assert len(eps[1].steps) == 1
    assert [(e.file, e.position) for e in errors] == [(str(path), "2"), (str(path), "3"),
                                                      (str(path), "4")]
    assert "no task" in errors[1].reason
    assert str(errors[2]) == (
        f"{path}:4: tool call without a name (field messages.1.tool_calls.0.function.name)")


TAU = [
    {"task_id": 7, "trial": 0, "reward": 1.0, "info": {"task": {"instruction": "You are Ann"}},
     "traj": [{"role": "system", "content": "policy"},
              {"role": "user", "content": "Cancel my booking ABC"},
              {"role": "assistant", "content": None,
               "tool_calls": [call("t1", "cancel_reservation", {"reservation_id": "ABC"})]},
              {"role": "tool", "tool_call_id": "t1", "name": "cancel_reservation",
               "content": "{\"status\": \"cancelled\"}"},
              {"role": "assistant", "content": "Done."}]},
    {"task_id": 8, "trial": 0, "reward": 0.0, "info": {},
     "traj": [{"role": "user", "content": "Upgrade me"},
              {"role": "assistant", "content": "I cannot."}]},
]


def test_tau_outcome_follows_reward_and_task_is_first_user_message(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(TAU))
    a, b = list(TauBenchAdapter().read(path))
    assert a.task == "Cancel my booking ABC"
    assert (a.outcome.success, a.outcome.reward) == (True, 1.0)
    assert (b.outcome.success, b.outcome.reward) == (False, 0.0)
    assert a.agent == "tau-bench" and a.source_format == "tau_bench"
    assert a.metadata["task_id"] == 7 and a.metadata["user_instruction"] == "You are Ann"
    assert a.steps[0].action.arguments == {"reservation_id": "ABC"}
    assert a.steps[0].observation == "user: Cancel my booking ABC"
    assert b.steps == []


def test_tau_bad_records_are_reported_by_episode_index(tmp_path: Path) -> None:
    records = [TAU[0], {"task_id": 3, "reward": 1.0}, {**TAU[1], "reward": "high"}, TAU[1]]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(records))
    items = list(TauBenchAdapter().read(path))
    assert [type(i).__name__ for i in items] == ["Episode", "ParseError", "ParseError", "Episode"]
    assert str(items[1]) == f"{path}:episode 1: missing trajectory (field traj)"
    assert items[2].position == "episode 2" and "(field reward)" in items[2].reason
    assert items[3].provenance.position == "episode 3"


def test_truncated_tau_json_file_is_one_parse_error_with_line(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(TAU, indent=1)[:300])
    (err,) = list(TauBenchAdapter().read(path))
    assert isinstance(err, ParseError)
    assert err.file == str(path) and err.position.isdigit()
    assert err.reason.startswith("invalid JSON")
