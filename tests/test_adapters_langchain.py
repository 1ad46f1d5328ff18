"""LangChain messages (objects and `messages_to_dict` files) share the chat step logic."""

from __future__ import annotations

import json
from pathlib import Path

from langchain_core.messages import (
    AIMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    messages_to_dict,
)

from expgraph.models import Episode, Outcome
from ingestion.adapters.chat import episode_from_chat
from ingestion.adapters.langchain import LangChainAdapter, to_openai
from ingestion.errors import ParseError

MESSAGES = [
    SystemMessage("You are a travel agent. INTERNAL"),
    HumanMessage("Book a train to Oslo"),
    AIMessage("Let me look.", tool_calls=[{"name": "find_trains", "args": {"to": "Oslo"},
                                           "id": "c1"}]),
    ToolMessage("IC 42 at 09:00", tool_call_id="c1"),
    AIMessage("", tool_calls=[{"name": "book", "args": {"train": "IC 42"}, "id": "c2"}]),
    ToolMessage("payment declined", tool_call_id="c2", status="error"),
    AIMessage("Booking failed."),
]


def test_from_messages_builds_steps_like_the_chat_adapter() -> None:
    ep = LangChainAdapter.from_messages(MESSAGES, outcome=Outcome(success=False))
    assert ep.task == "Book a train to Oslo"
    assert [s.action.name for s in ep.steps] == ["find_trains", "book"]
    assert ep.steps[0].action.arguments == {"to": "Oslo"}
    assert ep.steps[0].thought == "Let me look."
    assert ep.steps[0].observation == "user: Book a train to Oslo"
    assert ep.steps[1].observation == "tool: IC 42 at 09:00"
    assert [s.result for s in ep.steps] == ["IC 42 at 09:00", "payment declined"]
    assert [s.error for s in ep.steps] == [False, True]  # ToolMessage status="error"
    assert ep.source_format == "langchain" and ep.outcome.success is False
    # one step logic: the OpenAI-shaped conversion gives the very same steps
    same = episode_from_chat(to_openai(MESSAGES))
    assert [s.model_dump() for s in same.steps] == [s.model_dump() for s in ep.steps]


def test_explicit_task_overrides_the_first_human_message() -> None:
    ep = LangChainAdapter.from_messages(MESSAGES, task="train booking")
    assert ep.task == "train booking"


def test_invalid_tool_calls_are_error_steps() -> None:
    msgs = [HumanMessage("hi"),
            AIMessage("", invalid_tool_calls=[{"name": "book", "args": "{oops", "id": "z",
                                               "error": "bad JSON", "type": "invalid_tool_call"}])]
    ep = LangChainAdapter.from_messages(msgs)
    assert ep.steps[0].action.name == "book"
    assert ep.steps[0].error is True and ep.steps[0].result == "bad JSON"


def test_reads_messages_to_dict_files_json_and_jsonl(tmp_path: Path) -> None:
    as_dicts = messages_to_dict(MESSAGES)
    single = tmp_path / "run.json"
    single.write_text(json.dumps(as_dicts))
    (ep,) = list(LangChainAdapter().read(single))
    assert isinstance(ep, Episode) and [s.action.name for s in ep.steps] == ["find_trains", "book"]

    lines = [json.dumps({"messages": as_dicts, "success": True}),
             json.dumps(as_dicts)[:60],
             json.dumps([{"type": "martian", "data": {"content": "?"}}]),
             json.dumps(messages_to_dict([AIMessage("nobody asked")])),
             json.dumps(as_dicts)]
    many = tmp_path / "runs.jsonl"
    many.write_text("\n".join(lines) + "\n")
    items = list(LangChainAdapter().read(many))
    assert [type(i).__name__ for i in items] == ["Episode", "ParseError", "ParseError",
                                                 "ParseError", "Episode"]
    assert items[0].outcome.success is True
    assert [i.position for i in items if isinstance(i, ParseError)] == ["2", "3", "4"]
    assert "no task" in items[3].reason
    assert items[4].provenance.position == "line 5"
