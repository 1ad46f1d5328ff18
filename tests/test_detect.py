"""Format detection, whole-file errors, and episodes from in-memory objects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage, messages_to_dict

from expgraph.models import ActionCall, Episode, Step
from ingestion.detect import SUPPORTED_FORMATS, detect_format, episodes_from_object, open_source
from ingestion.errors import FormatError, ParseError

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FIXTURES = Path(__file__).parent / "fixtures" / "adapters"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"real agent data not found at {DATA}")

CHAT = [{"role": "user", "content": "hi"},
        {"role": "assistant", "tool_calls": [{"id": "1", "function": {"name": "look",
                                                                     "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "1", "content": "a room"}]
LC = messages_to_dict([HumanMessage("hi"),
                       AIMessage("", tool_calls=[{"name": "look", "args": {}, "id": "1"}]),
                       ToolMessage("a room", tool_call_id="1")])
EPISODE = Episode(task="open the door", steps=[Step(action=ActionCall(name="open"))])
TAU = [{"task_id": 1, "reward": 1.0, "trial": 0, "info": {}, "traj": CHAT}]
SWE = {"history": [{"role": "user", "content": "ISSUE:\nbug\n\nINSTRUCTIONS:\nfix"},
                   {"role": "assistant", "thought": "t", "action": "ls", "agent": "main"},
                   {"role": "user", "content": "README"}], "info": {}}
MINI = [{"role": "user", "content": "Please solve this issue: bug\n\nYou can execute bash "
                                    "commands"},
        {"role": "assistant", "content": "```mswea_bash_command\nls\n```"},
        {"role": "user", "content": "<returncode>0</returncode>"}]


@needs_data
@pytest.mark.parametrize("rel, fmt", [
    ("react_webshop/episodes.txt", "react_text"),
    ("reflexion_hotpotqa/react_base_trial1_excerpt.txt", "reflexion"),
    ("tau_bench_airline/sample.json", "tau_bench"),
    ("swe_agent/pydicom__pydicom-1458.traj", "swe_agent"),
    ("swe_agent/function_calling_simple.traj", "swe_agent"),
    ("mini_swe_agent/github_issue.traj.json", "mini_swe_agent"),
    ("mini_swe_agent/local.traj.json", "mini_swe_agent"),
])
def test_detects_every_real_file(rel: str, fmt: str) -> None:
    assert detect_format(DATA / rel) == fmt


@pytest.mark.parametrize("name, content, fmt", [
    ("eps.jsonl", EPISODE.model_dump_json() + "\n", "canonical"),
    ("chat.json", json.dumps(CHAT), "openai_chat"),
    ("chats.jsonl", json.dumps(CHAT) + "\n" + json.dumps({"messages": CHAT}) + "\n",
     "openai_chat"),
    ("lc.json", json.dumps(LC), "langchain"),
    ("tau.json", json.dumps(TAU, indent=2), "tau_bench"),
    ("run.traj", json.dumps(SWE), "swe_agent"),
    ("run.json", json.dumps(MINI), "mini_swe_agent"),
])
def test_detects_each_json_layout(tmp_path: Path, name: str, content: str, fmt: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    assert detect_format(path) == fmt
    items = list(open_source(path))
    assert items and all(isinstance(i, Episode) for i in items), items
    assert all(i.source_format == fmt or fmt == "canonical" for i in items)


def test_detects_the_text_fixtures() -> None:
    assert detect_format(FIXTURES / "webshop_small.txt") == "react_text"
    assert detect_format(FIXTURES / "reflexion_small.txt") == "reflexion"


def _one_line_error(path: Path, **kwargs: object) -> str:
    with pytest.raises(FormatError) as info:
        open_source(path, **kwargs)  # raises at once, before iteration
    message = str(info.value)
    assert "\n" not in message
    return message


def test_whole_file_problems_raise_one_line_format_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("  \n\n")
    assert _one_line_error(empty) == f"{empty}: empty file"
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert "binary file" in _one_line_error(binary)
    # A few undecodable bytes are not a binary file: see tests/test_reliability_input.py.
    missing = tmp_path / "nope.jsonl"
    assert _one_line_error(missing) == f"{missing}: no such file"
    assert "is a directory" in _one_line_error(tmp_path)
    assert "is a directory" in _one_line_error(tmp_path, format="canonical")


def test_unknown_format_lists_formats_and_points_to_format_and_map(tmp_path: Path) -> None:
    prose = tmp_path / "notes.txt"
    prose.write_text("Dear diary,\nthe agent did well today.\n")
    message = _one_line_error(prose)
    assert message.startswith(f"{prose}: unrecognised format")
    assert all(fmt in message for fmt in SUPPORTED_FORMATS)
    assert "--format" in message and "--map" in message
    other = tmp_path / "records.json"
    other.write_text(json.dumps([{"goal": "x", "moves": ["a"]}]))
    assert "unrecognised format" in _one_line_error(other)


def test_format_names_and_generic_mapping_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "records.json"
    path.write_text(json.dumps([{"goal": "x", "moves": ["look", "open[door]"]}]))
    assert "unknown format 'yaml'" in _one_line_error(path, format="yaml")
    assert "--map" in _one_line_error(path, format="generic")
    assert "unknown --map key" in _one_line_error(path, mapping="goal=x")
    assert "empty segment" in _one_line_error(path, mapping="task=goal,steps=moves,action=.")
    (ep,) = list(open_source(path, mapping={"task": "goal", "steps": "moves", "action": "x"}))
    assert isinstance(ep, Episode)
    assert [s.action.name for s in ep.steps] == ["look", "open"]


def test_explicit_format_overrides_detection(tmp_path: Path) -> None:
    path = tmp_path / "chat.json"
    path.write_text(json.dumps(CHAT))
    (ep,) = list(open_source(path, format="openai_chat"))
    assert ep.source_format == "openai_chat"
    errors = list(open_source(path, format="tau_bench"))  # each message read as a tau record
    assert [e.position for e in errors] == ["episode 0", "episode 1", "episode 2"]
    assert all(isinstance(e, ParseError) and "missing trajectory" in e.reason for e in errors)


def test_supported_formats_list_every_adapter() -> None:
    assert set(SUPPORTED_FORMATS) == {"canonical", "openai_chat", "tau_bench", "langchain",
                                      "react_text", "reflexion", "swe_agent", "mini_swe_agent",
                                      "generic"}


def test_episodes_from_objects_recognise_each_record_kind() -> None:
    body = [EPISODE.model_dump(mode="json"), {"messages": CHAT}, CHAT, TAU[0], SWE,
            {"messages": LC}, MINI, {"what": "is this"}]
    items = list(episodes_from_object(body, source="POST /episodes"))
    kinds = [i.source_format if isinstance(i, Episode) else "error" for i in items]
    assert kinds == ["canonical", "openai_chat", "openai_chat", "tau_bench", "swe_agent",
                     "langchain", "mini_swe_agent", "error"]
    assert items[-1].file == "POST /episodes" and items[-1].position == "episode 7"
    assert "unrecognised record" in items[-1].reason
    assert items[1].provenance.file == "POST /episodes"
    assert items[1].provenance.position == "episode 1"


def test_episodes_from_object_single_values() -> None:
    (ep,) = list(episodes_from_object(EPISODE.model_dump(mode="json")))
    assert ep.id == EPISODE.id
    (conv,) = list(episodes_from_object(CHAT))
    assert [s.action.name for s in conv.steps] == ["look"]
    tau = list(episodes_from_object(TAU))
    assert len(tau) == 1 and tau[0].outcome.success is True
    wrapped = list(episodes_from_object({"episodes": [EPISODE.model_dump(mode="json")] * 2}))
    assert len(wrapped) == 2
    (bad,) = list(episodes_from_object({"task": "", "steps": []}))
    assert isinstance(bad, ParseError) and "(field task)" in bad.reason
    (lc,) = list(episodes_from_object([HumanMessage("hi"), AIMessage("hello")]))
    assert lc.task == "hi" and lc.source_format == "langchain"
