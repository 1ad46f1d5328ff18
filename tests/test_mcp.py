"""The MCP server, driven by the SDK's own client the way agents drive it: over stdio (the
server a subprocess, `python -m expgraph mcp --db ...`) and over streamable HTTP (a real server
process on 127.0.0.1, a free port, a bearer token, stopped at the end). One session per
transport runs the whole loop — record episodes, suggest, query, feedback, show, resources,
bad arguments — and the tests check what came back against the project's pydantic models and
against the store file itself."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from expgraph.models import Label
from expgraph.store.sqlite import SQLiteStore
from queries.schema import (
    FeedbackResult,
    IngestSummary,
    NodeView,
    QueryResult,
    StoreStats,
    SuggestResult,
)

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "episodes.jsonl"
EPISODES = [json.loads(line) for line in EXAMPLES.read_text().splitlines() if line.strip()]
STATE = EPISODES[0]["steps"][1]["observation"]  # a WebShop results page
TASK = EPISODES[0]["task"]
CANDIDATES = ["click[B07XK2LQ9M]", "search[navy rain jacket]"]
TOOLS = {"suggest", "query_skills", "record_episode", "feedback", "show"}
RESOURCES = {"expgraph://stats", "expgraph://skills/strategic", "expgraph://skills/functional",
             "expgraph://skills/atomic"}
TOKEN = "mcp-test-token-0123456789"
ENV = {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
       "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}

def _structured(result: Any) -> dict:
    assert not result.is_error, result.content[0].text
    return result.structured_content


def _error(result: Any) -> str:
    assert result.is_error, f"expected a tool error, got {result.structured_content}"
    return result.content[0].text


async def whole_loop(client: Client) -> dict[str, Any]:
    """Every tool and resource once, in the order an agent uses them; raw results out."""
    out: dict[str, Any] = {"tools": (await client.list_tools()).tools}
    out["record"] = await client.call_tool("record_episode", {"episode": EPISODES})
    out["record_again"] = await client.call_tool("record_episode", {"episode": EPISODES[0]})
    out["suggest"] = await client.call_tool(
        "suggest", {"state": STATE, "task": TASK, "history": ["search[rain jacket]"], "k": 3})
    out["candidates"] = await client.call_tool(
        "suggest", {"state": STATE, "task": TASK, "candidates": CANDIDATES})
    out["query"] = await client.call_tool(
        "query_skills", {"state": STATE, "task": TASK, "k": 4, "kinds": ["skill"],
                         "tiers": ["atomic"]})
    query = QueryResult.model_validate(_structured(out["query"]))
    item = query.results[0].id
    out["feedback"] = await client.call_tool(
        "feedback", {"item_id": item, "success": True, "episode_id": "shop-0"})
    out["feedback_again"] = await client.call_tool(
        "feedback", {"item_id": item, "success": True, "episode_id": "shop-0"})
    out["show"] = await client.call_tool("show", {"id": item})
    out["item"] = item
    out["resources"] = (await client.list_resources()).resources
    out["read"] = {uri: (await client.read_resource(uri)).contents[0].text for uri in RESOURCES}
    out["bad"] = {
        "k0": await client.call_tool("suggest", {"state": STATE, "k": 0}),
        "no_state": await client.call_tool("query_skills", {"task": TASK}),
        "tier": await client.call_tool("query_skills", {"state": STATE, "tiers": ["huge"]}),
        "item": await client.call_tool("feedback", {"item_id": "no-such-id", "success": False}),
        "show": await client.call_tool("show", {"id": "no-such-id"}),
        "episode": await client.call_tool("record_episode", {"episode": {"task": "", "steps": []}}),
        "shape": await client.call_tool("record_episode", {"episode": {"foo": 1}}),
        "preset": await client.call_tool("suggest", {"state": STATE, "preset": "x"}),
    }
    out["after_errors"] = await client.call_tool("suggest", {"state": STATE, "task": TASK})
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def stdio_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    db = tmp_path_factory.mktemp("mcp-stdio") / "stdio.db"
    params = StdioServerParameters(command=sys.executable,
                                   args=["-m", "expgraph", "mcp", "--db", str(db)],
                                   cwd=str(REPO), env=ENV)

    async def main() -> dict:
        async with Client(params) as client:
            return await whole_loop(client)

    return anyio.run(main), db


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory):
    """`expgraph mcp --transport http` as a real process; stopped by its PID at the end."""
    tmp = tmp_path_factory.mktemp("mcp-http")
    db, token_file, port = tmp / "http.db", tmp / "token", _free_port()
    token_file.write_text(TOKEN + "\n")
    log = (tmp / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "expgraph", "mcp", "--transport", "http", "--port", str(port),
         "--db", str(db), "--token-file", str(token_file)],
        cwd=REPO, env={**os.environ, **ENV}, stdout=log, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL)
    try:
        while True:  # up when the port accepts; the test has no time limit
            if proc.poll() is not None:
                raise RuntimeError(f"the MCP server exited: {(tmp / 'server.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp", db
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def http_run(http_server) -> tuple[dict, Path]:
    url, db = http_server

    async def main() -> dict:
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"},
                                      timeout=httpx2.Timeout(60, read=600)) as http:
            async with Client(streamable_http_client(url, http_client=http)) as client:
                return await whole_loop(client)

    return anyio.run(main), db


@pytest.fixture(params=["stdio", "http"])
def run(request: pytest.FixtureRequest) -> tuple[dict, Path]:
    return request.getfixturevalue(f"{request.param}_run")


# ----------------------------------------------------------------------------- the loop

def test_every_tool_is_listed_with_a_description_and_an_output_schema(run) -> None:
    out, _ = run
    tools = {t.name: t for t in out["tools"]}
    assert set(tools) == TOOLS
    for t in tools.values():
        assert len(t.description) > 200 and t.output_schema, t.name
    assert set(tools["suggest"].input_schema["properties"]) == {
        "state", "task", "history", "candidates", "k"}
    assert tools["suggest"].input_schema["required"] == ["state"]


def test_recorded_episodes_land_in_the_store_once(run) -> None:
    out, db = run
    rec = IngestSummary.model_validate(_structured(out["record"]))
    assert (rec.ingested, rec.skipped, rec.rejected) == (36, 0, [])
    assert rec.steps == sum(len(e["steps"]) for e in EPISODES)
    again = IngestSummary.model_validate(_structured(out["record_again"]))
    assert (again.ingested, again.skipped) == (0, 1)
    store = SQLiteStore(db)
    try:
        assert store.count_by_label()["Episode"] == 36
        assert set(rec.episode_ids) == {r.id for r in store.find_nodes(Label.EPISODE)}
    finally:
        store.close()


def test_suggest_and_query_answer_in_the_shared_json_shape(run) -> None:
    out, _ = run
    sug = SuggestResult.model_validate(_structured(out["suggest"]))
    assert sug.query.state == STATE and sug.query.history == ["search[rain jacket]"]
    assert 0 < len(sug.next) <= 3 and all(n.support > 0 for n in sug.next)
    q = QueryResult.model_validate(_structured(out["query"]))
    assert 0 < len(q.results) <= 4
    assert all(r.kind == "skill" and r.tier == "atomic" for r in q.results)
    assert [r.score for r in q.results] == sorted((r.score for r in q.results), reverse=True)
    assert SuggestResult.model_validate(_structured(out["after_errors"])).next


def test_suggest_ranks_the_candidates_it_is_given(run) -> None:
    out, _ = run
    sug = SuggestResult.model_validate(_structured(out["candidates"]))
    assert sug.query.candidates == CANDIDATES
    assert sorted(n.action for n in sug.next) == sorted(CANDIDATES)  # exactly those, ranked


def test_feedback_counts_once_per_episode_and_show_reports_it(run) -> None:
    out, db = run
    first = FeedbackResult.model_validate(_structured(out["feedback"]))
    assert first.counted and first.item == out["item"] and first.feedback_successes == 1
    assert first.utility_after >= first.utility_before
    again = FeedbackResult.model_validate(_structured(out["feedback_again"]))
    assert not again.counted and again.utility_after == first.utility_after
    node = NodeView.model_validate(_structured(out["show"]))
    assert node.id == first.credited and node.label == "Skill"
    assert [f["helped"] for f in node.feedback] == [True]
    store = SQLiteStore(db)
    try:
        assert store.get_node(first.credited).props["feedback_successes"] == 1
    finally:
        store.close()


def test_resources_give_the_counts_and_the_skills_of_each_tier(run) -> None:
    out, db = run
    assert {str(r.uri) for r in out["resources"]} == RESOURCES
    stats = StoreStats.model_validate_json(out["read"]["expgraph://stats"])
    store = SQLiteStore(db)
    try:
        assert stats.nodes == store.count_by_label()
        skills = store.find_nodes(Label.SKILL)
        for tier in ("strategic", "functional", "atomic"):
            mine = [s for s in skills if s.props["tier"] == tier]
            assert sum(stats.skills[tier].values()) == len(mine)
            listed = json.loads(out["read"][f"expgraph://skills/{tier}"])
            assert sorted(r["id"] for r in listed) == sorted(
                s.id for s in mine if s.props.get("status", "active") == "active")
            assert all(r["tier"] == tier for r in listed)
    finally:
        store.close()


def test_bad_arguments_are_tool_errors_that_say_what_is_wrong(run) -> None:
    out, _ = run
    bad = {k: _error(v) for k, v in out["bad"].items()}
    assert "k" in bad["k0"] and "greater than or equal to 1" in bad["k0"]
    assert "state" in bad["no_state"] and "Field required" in bad["no_state"]
    assert "tiers" in bad["tier"] and "'strategic'" in bad["tier"]
    assert "no skill or guardrail with id 'no-such-id'" in bad["item"]
    assert "no node with id 'no-such-id'" in bad["show"]
    assert "episode 0" in bad["episode"] and "field task" in bad["episode"]
    assert "unrecognised record" in bad["shape"]
    assert "preset" in bad["preset"] and "Extra inputs are not permitted" in bad["preset"]


# ----------------------------------------------------------------------------- HTTP auth

def test_http_refuses_requests_without_the_right_token(http_server) -> None:
    url, _ = http_server
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        r = httpx.post(url, json=body, headers=headers, timeout=60)
        assert r.status_code == 401 and "bearer token" in r.json()["error"]
        assert r.headers["www-authenticate"] == "Bearer"


def test_cli_refuses_an_open_server_and_a_token_on_stdio(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "EXPGRAPH_TOKEN"}
    open_http = subprocess.run(
        [sys.executable, "-m", "expgraph", "mcp", "--transport", "http", "--host", "0.0.0.0",
         "--db", str(tmp_path / "x.db")], cwd=REPO, env=env, capture_output=True, text=True)
    # the rule `expgraph serve` follows (queries/auth.py), message for message
    assert open_http.returncode == 2
    assert "refusing to serve on 0.0.0.0 without a token" in open_http.stderr
    empty = subprocess.run(
        [sys.executable, "-m", "expgraph", "mcp", "--transport", "http",
         "--db", str(tmp_path / "x.db")], cwd=REPO, env={**env, "EXPGRAPH_TOKEN": " "},
        capture_output=True, text=True)
    assert empty.returncode == 2 and "the token from EXPGRAPH_TOKEN is empty" in empty.stderr
    stdio_token = subprocess.run(
        [sys.executable, "-m", "expgraph", "mcp", "--token", "t", "--db", str(tmp_path / "x.db")],
        cwd=REPO, env=env, capture_output=True, text=True)
    assert stdio_token.returncode == 2 and "apply to --transport http" in stdio_token.stderr
