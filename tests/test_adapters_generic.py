"""Generic JSON/JSONL through a `--map` field mapping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from expgraph.models import Episode
from ingestion.adapters.generic import GenericAdapter, MappingError, parse_mapping
from ingestion.errors import ParseError

MAP = "task=instruction,steps=trajectory,action=act,observation=obs,result=res,success=won"


def record(task: str | None = "buy a lamp", won: object = True, act: object = "search[lamp]"):
    rec = {"instruction": task, "won": won,
           "trajectory": [{"obs": "home", "act": act, "res": "3 lamps"},
                          {"obs": "3 lamps", "act": "click[B1]", "res": "bought"}]}
    return {k: v for k, v in rec.items() if v is not None}


def test_parse_mapping_reads_key_path_pairs() -> None:
    assert parse_mapping(" task = instruction , steps=run.0.steps,action=a ") == {
        "task": "instruction", "steps": "run.0.steps", "action": "a"}


@pytest.mark.parametrize("bad, message", [
    ("task", "bad --map entry 'task': expected KEY=PATH"),
    ("task=a,colour=b", "unknown --map key 'colour'; allowed keys: task, steps"),
    ("task=a,task=b", "--map key 'task' given twice"),
    ("task=a..b", "bad path 'a..b' for --map key 'task': empty segment"),
    ("steps=s,action=a", "--map needs at least task=PATH"),
    ("task=t,steps=s", "--map has steps=PATH but no action=PATH"),
])
def test_parse_mapping_rejects_bad_syntax_with_a_one_line_message(bad: str, message: str) -> None:
    with pytest.raises(MappingError) as info:
        parse_mapping(bad)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_maps_fields_and_parses_text_actions(tmp_path: Path) -> None:
    path = tmp_path / "runs.json"
    path.write_text(json.dumps([record(), record(task="buy a desk", won="false")]))
    a, b = list(GenericAdapter(MAP).read(path))
    assert a.task == "buy a lamp" and a.outcome.success is True
    assert b.task == "buy a desk" and b.outcome.success is False
    assert [(s.action.name, s.action.arguments) for s in a.steps] == [
        ("search", {"query": "lamp"}), ("click", {"item": "B1"})]
    assert [(s.observation, s.result) for s in a.steps] == [("home", "3 lamps"),
                                                            ("3 lamps", "bought")]
    assert a.source_format == "generic" and a.provenance.position == "episode 0"


def test_dict_actions_and_argument_paths_become_tool_calls(tmp_path: Path) -> None:
    rec = {"meta": {"goal": "weather in Oslo", "agent": "bot-7"},
           "calls": [{"tool": "get_weather", "params": {"city": "Oslo"}},
                     {"tool": {"name": "convert", "args": {"unit": "C"}}}]}
    path = tmp_path / "one.json"
    path.write_text(json.dumps({"data": [rec]}))
    adapter = GenericAdapter({"task": "meta.goal", "agent": "meta.agent", "steps": "calls",
                              "action": "tool", "arguments": "params", "records": "data"})
    (ep,) = list(adapter.read(path))
    assert ep.agent == "bot-7"
    assert [(s.action.name, s.action.arguments) for s in ep.steps] == [
        ("get_weather", {"city": "Oslo"}), ("convert", {"unit": "C"})]


def test_bad_records_are_reported_with_line_and_mapped_field(tmp_path: Path) -> None:
    lines = [json.dumps(record()), json.dumps(record())[:30], json.dumps(record(task=None)),
             json.dumps(record(act={"args": {}})), json.dumps(record(won="maybe")),
             json.dumps(record(task="buy a rug"))]
    path = tmp_path / "runs.jsonl"
    path.write_text("\n".join(lines) + "\n")
    items = list(GenericAdapter(MAP).read(path))
    eps = [i for i in items if isinstance(i, Episode)]
    errors = [str(i) for i in items if isinstance(i, ParseError)]
    assert [e.task for e in eps] == ["buy a lamp", "buy a rug"]
    assert errors[0].startswith(f"{path}:2: invalid JSON")
    assert errors[1:] == [
        f"{path}:3: missing task (field instruction)",
        f"{path}:4: action object without a name (field trajectory.0.act)",
        f"{path}:5: cannot read 'maybe' as true/false (field won)",
    ]
