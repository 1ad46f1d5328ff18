"""Canonical JSONL: one Episode per line; bad lines become ParseErrors, the rest still read."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

from expgraph.models import ActionCall, Episode, Outcome, Step
from ingestion.adapters.canonical import CanonicalAdapter
from ingestion.errors import ParseError


def _episode(task: str, success: bool = True) -> Episode:
    return Episode(
        agent="tester", task=task, outcome=Outcome(success=success, reward=1.0 if success else 0),
        steps=[Step(observation="home page", action=ActionCall(name="search",
                                                               arguments={"query": task}),
                    result="3 results")],
    )


def _split(items: list) -> tuple[list[Episode], list[ParseError]]:
    return ([i for i in items if isinstance(i, Episode)],
            [i for i in items if isinstance(i, ParseError)])


def test_round_trips_episodes_and_stamps_provenance(tmp_path: Path) -> None:
    path = tmp_path / "eps.jsonl"
    eps = [_episode("buy shoes"), _episode("buy socks", success=False)]
    path.write_text("\n".join(e.model_dump_json() for e in eps) + "\n\n")  # blank line skipped
    got, errors = _split(list(CanonicalAdapter().read(path)))
    assert errors == []
    assert [e.task for e in got] == ["buy shoes", "buy socks"]
    assert [e.id for e in got] == [e.id for e in eps]
    assert got[1].outcome.success is False
    assert got[0].steps[0].action.arguments == {"query": "buy shoes"}
    assert got[0].provenance.file == str(path)
    assert [e.provenance.position for e in got] == ["line 1", "line 2"]
    assert got[0].source_format == "canonical"


def test_bad_lines_are_reported_with_line_and_field_while_good_lines_survive(
        tmp_path: Path) -> None:
    good = _episode("buy shoes").model_dump(mode="json")
    missing_task = {k: v for k, v in good.items() if k != "task"}
    bad_action = json.loads(json.dumps(good))
    bad_action["steps"][0]["action"]["name"] = ""
    no_action = json.loads(json.dumps(good))
    del no_action["steps"][0]["action"]
    lines = [
        json.dumps(good),
        json.dumps(good)[:40],  # truncated line
        json.dumps(missing_task),
        json.dumps(bad_action),
        json.dumps(no_action),
        json.dumps({**good, "task": "buy hats", "id": None}),
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n")
    got, errors = _split(list(CanonicalAdapter().read(path)))
    assert [e.task for e in got] == ["buy shoes", "buy hats"]
    assert [e.provenance.position for e in got] == ["line 1", "line 6"]
    assert [e.position for e in errors] == ["2", "3", "4", "5"]
    assert all(e.file == str(path) for e in errors)
    assert str(errors[0]).startswith(f"{path}:2: invalid JSON")
    assert str(errors[1]) == f"{path}:3: Field required (field task)"
    assert "(field steps.0.action.name)" in str(errors[2])
    assert str(errors[3]).endswith("Field required (field steps.0.action)")


def test_jsonl_content_in_a_json_named_file_survives_a_broken_first_line(
        tmp_path: Path) -> None:
    path = tmp_path / "eps.json"
    good = _episode("buy shoes").model_dump_json()
    path.write_text(good[:25] + "\n" + good + "\n" + good.replace("buy shoes", "buy hats") + "\n")
    items = list(CanonicalAdapter().read(path))
    assert isinstance(items[0], ParseError) and items[0].position == "1"
    assert [e.task for e in items[1:]] == ["buy shoes", "buy hats"]


def test_keeps_the_source_format_an_exported_episode_carries(tmp_path: Path) -> None:
    ep = _episode("cancel my flight").model_copy(update={"source_format": "tau_bench"})
    path = tmp_path / "exported.jsonl"
    path.write_text(ep.model_dump_json() + "\n" + _episode("other").model_dump_json() + "\n")
    got = list(CanonicalAdapter().read(path))
    assert [e.source_format for e in got] == ["tau_bench", "canonical"]


def test_reads_a_json_list_of_episodes_with_episode_positions(tmp_path: Path) -> None:
    path = tmp_path / "eps.json"
    path.write_text(json.dumps([_episode("a").model_dump(mode="json"), {"agent": "x"}], indent=2))
    items = list(CanonicalAdapter().read(path))
    assert isinstance(items[0], Episode) and items[0].provenance.position == "episode 0"
    assert isinstance(items[1], ParseError)
    assert str(items[1]) == f"{path}:episode 1: Field required (field task)"


def test_large_jsonl_streams_with_flat_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    line = _episode("x" * 2000).model_dump_json()
    with path.open("w") as fh:
        for _ in range(4000):  # ~9 MB
            fh.write(line + "\n")
    tracemalloc.start()
    count = sum(1 for item in CanonicalAdapter().read(path) if isinstance(item, Episode))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 4000
    assert path.stat().st_size > 8_000_000
    assert peak < 2_000_000, f"peak {peak} bytes: the file is being held in memory"
