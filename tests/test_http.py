"""The HTTP API on a real uvicorn server (127.0.0.1, a free port, a background thread),
called with httpx: shapes, auth, errors, ingest, feedback, concurrency."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import uvicorn
from test_retrieval_query import RESULTS_OBS, TASK, build_shop_graph

from expgraph.graph import ExperienceGraph
from queries.http import create_app
from queries.schema import QueryResult, SuggestResult

TOKEN = "s3cret-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server:
    def __init__(self, app) -> None:  # noqa: ANN001
        self.port = _free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:  # startup is quick; the test has no time limit
            if not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join()


@pytest.fixture(scope="module")
def served(tmp_path_factory, model):
    graph = ExperienceGraph(tmp_path_factory.mktemp("http") / "shop.db", embedder=model,
                            auto_distill=False)
    ids = build_shop_graph(graph.store, graph.embedder)
    with _Server(create_app(graph, token=TOKEN)) as url:
        with httpx.Client(base_url=url, timeout=120,
                          headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            yield client, ids
    graph.close()


def test_query_returns_the_shared_json_shape(served):
    client, ids = served
    r = client.post("/query", json={"state": RESULTS_OBS, "task": TASK, "k": 3, "explain": True})
    assert r.status_code == 200, r.text
    res = QueryResult.model_validate(r.json())
    assert len(res.results) == 3 and res.query.explain
    assert all(x.signals is not None for x in res.results)


def test_suggest_returns_next_and_avoid(served):
    client, ids = served
    r = client.post("/suggest", json={"state": RESULTS_OBS, "history": ["search[red mug]"]})
    assert r.status_code == 200, r.text
    res = SuggestResult.model_validate(r.json())
    assert res.next[0].action == "click[<item>]"
    assert {a.action for a in res.avoid} == {"click[add to cart]", "click[buy now]"}


def test_every_endpoint_but_the_docs_needs_the_token(served):
    client, _ = served
    base = str(client.base_url)
    with httpx.Client(base_url=base, timeout=60) as anon:
        assert anon.post("/query", json={"state": "x"}).status_code == 401
        assert anon.get("/stats").status_code == 401
        assert anon.get("/nodes/whatever").status_code == 401
        wrong = anon.post("/suggest", json={"state": "x"},
                          headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "bearer token" in wrong.json()["detail"]
        assert anon.get("/docs").status_code == 200
        spec = anon.get("/openapi.json").json()
        assert {"/query", "/suggest", "/episodes", "/feedback", "/nodes/{node_id}",
                "/stats"} <= set(spec["paths"])


def test_bad_requests_get_a_clear_4xx(served):
    client, _ = served
    r = client.post("/query", json={"task": "no state"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "state"
    r = client.post("/query", json={"state": "x", "kinds": ["state"]})
    assert r.status_code == 422
    r = client.post("/query", json={"state": "x", "stat": "typo"})
    assert r.status_code == 422  # unknown fields are refused, not ignored
    r = client.post("/suggest", json={"state": "x", "preset": "fancy"})
    assert r.status_code == 422  # suggest has no presets: an unknown field, refused
    r = client.post("/query", json={"state": "x", "preset": "fancy"})
    assert r.status_code == 400 and "unknown preset 'fancy'" in r.json()["detail"]
    r = client.post("/episodes", json="just a string")
    assert r.status_code == 400


def test_nodes_and_stats(served):
    client, ids = served
    r = client.get(f"/nodes/{ids['k_buy']}")
    assert r.status_code == 200
    assert r.json()["label"] == "Skill" and r.json()["props"]["tier"] == "functional"
    assert "embedding" not in r.json()
    r = client.get("/nodes/no-such-node")
    assert r.status_code == 404 and "no-such-node" in r.json()["detail"]
    stats = client.get("/stats").json()
    assert stats["nodes"]["Skill"] == 6 and stats["nodes"]["Guardrail"] == 2


def test_episodes_are_ingested_and_bad_records_reported(served):
    client, _ = served
    body = [{"task": "buy a blue mug", "steps": [
        {"observation": "WebShop [Search]", "action": {"name": "search",
                                                      "arguments": {"query": "blue mug"}},
         "result": "[Back to Search] Page 1"}], "outcome": {"success": True}},
        {"not": "an episode"}]
    r = client.post("/episodes", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["ingested"] == 1 and out["steps"] == 1 and len(out["episode_ids"]) == 1
    assert len(out["rejected"]) == 1 and "unrecognised record" in out["rejected"][0]["reason"]
    again = client.post("/episodes", json=body[0]).json()
    assert again["ingested"] == 0 and again["skipped"] == 1


def test_feedback_updates_the_item_and_unknown_ids_are_404(served):
    client, ids = served
    r = client.post("/feedback", json={"item_id": ids["k_open"], "success": True})
    assert r.status_code == 200, r.text
    assert r.json()["feedback_successes"] == 1
    node = client.get(f"/nodes/{ids['k_open']}").json()
    assert node["props"]["feedback_successes"] == 1
    r = client.post("/feedback", json={"item_id": "missing", "success": False})
    assert r.status_code == 404


def test_concurrent_reads_and_writes_all_succeed(served):
    """Ingest (a write transaction) interleaved with queries from the threadpool."""
    client, _ = served

    def ask(i: int) -> int:
        if i % 3 == 0:
            ep = {"task": f"buy mug number {i}", "outcome": {"success": i % 2 == 0}, "steps": [
                {"observation": "WebShop [Search]", "action": {
                    "name": "search", "arguments": {"query": f"mug {i}"}}, "result": "ok"}]}
            r = client.post("/episodes", json=ep)
            return r.status_code if r.json()["ingested"] == 1 else -1
        return client.post("/suggest", json={"state": f"{RESULTS_OBS} {i}"}).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(ask, range(24)))
    assert codes == [200] * 24
