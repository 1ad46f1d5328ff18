"""Malformed input (issue 15, items 1-3): a bad record costs that record, named by its file and
line, never a traceback nor the good records around it; a truly binary file is one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingestion import FormatError, ParseError, open_source
from ingestion._io import MAX_DEPTH

DEEP = "[" * 100_000 + "]" * 100_000


def canonical(task: str, **extra: object) -> dict:
    return {"id": task, "task": task, "agent": "a",
            "steps": [{"observation": f"page for {task}", "action": {"name": "click",
                                                                     "arguments": {"x": 1}}}],
            "outcome": {"success": True}, **extra}


def nested(depth: int) -> object:
    v: object = 1
    for _ in range(depth - 1):
        v = {"k": v}
    return v


def read(path: Path, **kw: object) -> tuple[list[str], list[ParseError]]:
    good, bad = [], []
    for item in open_source(path, **kw):
        (bad if isinstance(item, ParseError) else good).append(item)
    return [e.task for e in good], bad


def test_deeply_nested_lines_are_rejected_with_their_line_and_the_rest_is_read(tmp_path) -> None:
    path = tmp_path / "runs.jsonl"
    lines = [
        json.dumps(canonical("first")),
        DEEP,                                                            # 2: raw nesting
        '{"task": "t", "metadata": ' + DEEP + "}",                       # 3: inside a record
        json.dumps(canonical("meta900", metadata={"m": nested(900)})),  # 4: valid JSON, too deep
        json.dumps(canonical("ok-depth", metadata={"m": nested(MAX_DEPTH - 5)})),
        json.dumps(canonical("last")),
    ]
    path.write_text("\n".join(lines) + "\n")
    tasks, bad = read(path)
    assert tasks == ["first", "ok-depth", "last"]
    assert [(e.position, e.reason.split(" (")[0]) for e in bad] == [
        ("2", "too deeply nested"), ("3", "too deeply nested"), ("4", "too deeply nested")]
    assert str(bad[0]).startswith(f"{path}:2: too deeply nested (more than {MAX_DEPTH} levels")


def test_deep_tool_call_arguments_string_rejects_only_that_conversation(tmp_path) -> None:
    def conv(task: str, args: str) -> list[dict]:
        return [{"role": "user", "content": task},
                {"role": "assistant", "tool_calls": [
                    {"id": "c", "type": "function",
                     "function": {"name": "search", "arguments": args}}]},
                {"role": "tool", "tool_call_id": "c", "content": "done"}]

    path = tmp_path / "chats.jsonl"
    path.write_text("\n".join(json.dumps(c) for c in [
        conv("good one", '{"q": "shoes"}'), conv("deep", DEEP),
        conv("deep but parseable", json.dumps({"q": nested(500)})), conv("good two", "{}"),
    ]) + "\n")
    tasks, bad = read(path, format="openai_chat")
    assert tasks == ["good one", "good two"]
    assert [e.position for e in bad] == ["2", "3"]
    assert all(e.reason.startswith("too deeply nested") for e in bad)
    assert "steps.0.action.arguments" in bad[1].reason


def test_a_deep_record_of_a_whole_json_document_costs_that_record_only(tmp_path) -> None:
    def tau(task: str) -> str:
        return json.dumps({"task_id": 1, "reward": 1.0, "traj": [
            {"role": "user", "content": task},
            {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {
                "name": "find", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c", "content": "found"}]})

    path = tmp_path / "tau.json"
    path.write_text("[\n" + tau("first") + ",\n" + '{"task_id": 2, "reward": 0, "traj": '
                    + DEEP + "},\n" + tau("last") + "\n]\n")
    tasks, bad = read(path, format="tau_bench")
    assert tasks == ["first", "last"]
    assert [(e.position, e.reason) for e in bad] == [
        ("episode 1", f"too deeply nested (more than {MAX_DEPTH} levels of arrays/objects) "
                      "(line 3)")]


def test_lone_surrogate_rejects_that_record_with_field_and_position(tmp_path) -> None:
    path = tmp_path / "runs.jsonl"
    rec = canonical("surrogate")
    rec["steps"][0]["observation"] = "a\ud800b"
    path.write_text("\n".join([json.dumps(canonical("before")), json.dumps(rec),
                               json.dumps(canonical("after"))]) + "\n")
    assert "\\ud800" in path.read_text()  # json.dumps escaped it: valid JSON text
    tasks, bad = read(path)
    assert tasks == ["before", "after"]
    assert [e.position for e in bad] == ["2"]
    assert bad[0].reason == ("invalid Unicode: lone surrogate \\ud800 at character 2 "
                             "(field steps.0.observation)")


@pytest.mark.parametrize("offset", [10, 200_000])  # inside the sniffed 64 KiB head and past it
@pytest.mark.parametrize("junk,reason", [
    (b"\x00", "NUL byte at column"), (b"\xff", "not UTF-8 text: undecodable byte 0xff at column"),
])
def test_one_bad_byte_rejects_its_line_wherever_it_is(tmp_path, offset, junk, reason) -> None:
    good = [json.dumps(canonical(f"task {i}")).encode() for i in range(offset // 150 + 3)]
    at = 1 if offset < 1000 else len(good) - 2
    good[at] = good[at][:20] + junk + good[at][20:]
    path = tmp_path / "runs.jsonl"
    path.write_bytes(b"\n".join(good) + b"\n")
    tasks, bad = read(path)
    assert len(tasks) == len(good) - 1
    assert f"task {at}" not in tasks
    assert [e.position for e in bad] == [str(at + 1)]
    assert bad[0].reason.startswith(reason)
    assert bad[0].reason.endswith("column 21") or "column 21 " in bad[0].reason


def test_bad_byte_in_a_text_log_rejects_that_episode_by_line(tmp_path) -> None:
    blocks = [f"-----\n{i}\nAction: reset\nObservation: Instruction: buy item {i}\n"
              f"Action: search[item {i}]\nObservation: results {i}\n" for i in range(3)]
    data = "".join(blocks).encode().replace(b"results 1", b"results \xe91")
    path = tmp_path / "log.txt"
    path.write_bytes(data)
    eps = list(open_source(path, format="react_text"))
    bad = [e for e in eps if isinstance(e, ParseError)]
    assert len(eps) == 3
    assert [(e.position, e.reason) for e in bad] == [
        ("line 12", "not UTF-8 text: undecodable byte 0xe9 at column 22 (episode 1)")]


def test_a_latin1_text_log_is_read_per_record_not_refused_whole(tmp_path) -> None:
    latin = tmp_path / "latin.txt"
    latin.write_bytes("Action: café\nObservation: ok\n".encode("latin-1"))
    eps = list(open_source(latin))
    assert [str(e) for e in eps] == [
        f"{latin}:line 1: not UTF-8 text: undecodable byte 0xe9 at column 12 (episode 0)"]


@pytest.mark.parametrize("data", [
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    bytes(range(256)) * 40,
    b"SQLite format 3\x00" + b"\x00" * 4000,
])
def test_a_truly_binary_file_is_one_line_error(tmp_path, data) -> None:
    path = tmp_path / "blob.jsonl"
    path.write_bytes(data)
    with pytest.raises(FormatError) as info:
        open_source(path)
    assert str(info.value).startswith(f"{path}: binary file")
    assert "\n" not in str(info.value)
