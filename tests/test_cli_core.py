"""The core CLI: ingest (and its bad-input behaviour), stats, export, schema."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from expgraph.cli import main

REPO = Path(__file__).resolve().parents[1]
GOOD = {"task": "find the cheapest flight", "steps": [
    {"observation": "user: I need a flight", "action": {"name": "search_flights",
     "arguments": {"from": "JFK"}}, "result": "3 flights"}], "outcome": {"success": True}}


def _line(i: int) -> str:
    return json.dumps({**GOOD, "id": f"g{i}"})


@pytest.fixture
def db(tmp_path, model):  # model: load the embedder once for the whole session
    return str(tmp_path / "cli.db")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_malformed_lines_are_reported_and_the_rest_ingested(tmp_path, db, capsys):
    f = tmp_path / "mixed.jsonl"
    f.write_text("\n".join([
        _line(1),
        '{"task": "broken", "steps": [',  # line 2: truncated JSON
        _line(3),
        json.dumps({"id": "g4", "steps": []}),  # line 4: no task
        json.dumps({**GOOD, "id": "g5", "steps": [{"observation": "x", "action": {}}]}),  # line 5
        _line(6),
    ]) + "\n")
    code, out, err = run(capsys, "ingest", str(f), "--db", db)
    assert code == 1
    assert "ingested 3 episodes (3 steps), rejected 3" in out
    lines = err.strip().splitlines()
    assert any(line.startswith(f"{f}:2: ") for line in lines)
    assert any(line.startswith(f"{f}:4: ") and "task" in line for line in lines)
    assert any(line.startswith(f"{f}:5: ") and "steps.0.action.name" in line for line in lines)
    code, out, _ = run(capsys, "stats", "--db", db, "--json")
    assert json.loads(out)["nodes"]["Episode"] == 3


def test_strict_stops_at_the_first_error(tmp_path, db, capsys):
    f = tmp_path / "mixed.jsonl"
    f.write_text("\n".join([_line(1), "{not json", _line(3)]) + "\n")
    code, out, err = run(capsys, "ingest", str(f), "--db", db, "--strict", "--no-distill")
    assert code == 1 and f"{f}:2: " in err and "--strict" in err


@pytest.mark.parametrize("kind, expect", [
    ("empty", "empty file"), ("binary", "binary"), ("missing", "no such file"),
    ("directory", "directory"), ("unknown", "unrecognised format"),
])
def test_unusable_files_get_one_line_errors(tmp_path, db, capsys, kind, expect):
    f = tmp_path / f"input-{kind}"
    if kind == "empty":
        f.write_text("")
    elif kind == "binary":
        f.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    elif kind == "directory":
        f.mkdir()
    elif kind == "unknown":
        f.write_text("just some prose, not an agent log\n")
    code, out, err = run(capsys, "ingest", str(f), "--db", db)
    assert code != 0
    errors = [line for line in err.splitlines() if line.strip()]
    assert len(errors) == 1 and expect in errors[0] and "Traceback" not in err
    if kind == "unknown":
        assert "--map" in errors[0] and "canonical" in errors[0]


def test_ingest_is_idempotent_from_the_cli(examples_file, db, capsys):
    code, out, _ = run(capsys, "ingest", str(examples_file), "--db", db)
    assert code == 0 and "ingested 36 episodes" in out
    _, first, _ = run(capsys, "stats", "--db", db, "--json")
    code, out, _ = run(capsys, "ingest", str(examples_file), "--db", db)
    assert code == 0 and "ingested 0 episodes" in out and "already present 36" in out
    _, second, _ = run(capsys, "stats", "--db", db, "--json")
    assert json.loads(first) == json.loads(second)


def test_stats_table_and_exports(examples_file, db, tmp_path, capsys):
    run(capsys, "ingest", str(examples_file), "--db", db, "--no-distill")
    code, out, _ = run(capsys, "stats", "--db", db)
    assert code == 0 and "Episode" in out and "TRANSITION" in out
    stats = json.loads(run(capsys, "stats", "--db", db, "--json")[1])
    out_json = tmp_path / "g.json"
    assert run(capsys, "export", "--db", db, "--format", "json", "--out", str(out_json))[0] == 0
    doc = json.loads(out_json.read_text())
    assert len(doc["nodes"]) == sum(stats["nodes"].values())
    assert len(doc["edges"]) == sum(stats["relationships"].values())
    out_xml = tmp_path / "g.graphml"
    assert run(capsys, "export", "--db", db, "--format", "graphml", "--out", str(out_xml))[0] == 0
    ns = {"g": "http://graphml.graphdrawing.org/xmlns"}
    root = ET.parse(out_xml).getroot()
    assert len(root.findall(".//g:node", ns)) == sum(stats["nodes"].values())


def test_schema_is_the_canonical_episode_json_schema(capsys):
    code, out, _ = run(capsys, "schema")
    schema = json.loads(out)
    assert code == 0 and schema["required"] == ["task"]
    assert {"task", "steps", "outcome", "metadata"} <= set(schema["properties"])


def test_python_dash_m_and_console_script_are_the_same_cli():
    a = subprocess.run([sys.executable, "-m", "expgraph", "--help"], capture_output=True, text=True)
    b = subprocess.run([str(Path(sys.executable).parent / "expgraph"), "--help"],
                       capture_output=True, text=True)
    assert a.returncode == b.returncode == 0 and a.stdout == b.stdout
    assert "ingest" in a.stdout


def test_stats_counts_skills_by_tier_and_status_and_guardrails_by_status(examples_file, db,
                                                                         capsys):
    import sqlite3

    run(capsys, "ingest", str(examples_file), "--db", db)
    run(capsys, "refine", "--db", db)  # merges and prunes: not every skill stays active
    code, out, _ = run(capsys, "stats", "--db", db, "--json")
    stats = json.loads(out)
    con = sqlite3.connect(db)  # counted straight from the file, not through the store
    rows = con.execute("SELECT label, json_extract(props, '$.tier'), "
                       "json_extract(props, '$.status'), count(*) FROM nodes "
                       "WHERE label IN ('Skill', 'Guardrail') GROUP BY 1, 2, 3").fetchall()
    con.close()
    skills = {(t, s): n for label, t, s, n in rows if label == "Skill"}
    guards = {s: n for label, _, s, n in rows if label == "Guardrail"}
    assert len({s for _, s in skills}) > 1  # the test needs more than one status
    for tier in ("strategic", "functional", "atomic"):
        for status in ("active", "merged", "deprecated", "redundant"):
            assert stats["skills"][tier][status] == skills.get((tier, status), 0)
    assert stats["guardrails"] == {s: guards.get(s, 0)
                                   for s in ("active", "merged", "deprecated", "redundant")}
    code, out, _ = run(capsys, "stats", "--db", db)
    lines = out.splitlines()
    assert any(x.split() == ["skills", "active", "merged", "deprecated", "redundant", "total"]
               for x in lines)
    for tier in ("strategic", "functional", "atomic"):
        row = next(x.split() for x in lines if x.startswith(tier + " "))
        counts = [skills.get((tier, s), 0) for s in ("active", "merged", "deprecated",
                                                     "redundant")]
        assert row == [tier, *map(str, counts), str(sum(counts))]
