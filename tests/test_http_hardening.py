"""HTTP hardening (issue 15, items 2, 6-9) on a real uvicorn server: auth before the body, a
413 body limit, 4xx (never 500) for invalid text and deep JSON, reads that do not wait for an
ingest, and the token rules of `expgraph serve`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from test_http import _free_port, _Server
from test_retrieval_query import RESULTS_OBS, build_shop_graph

from expgraph.graph import ExperienceGraph
from queries.auth import (
    Auth,
    AuthConfigError,
    check_bind,
    is_loopback,
    resolve_token,
    startup_line,
)
from queries.http import create_app

TOKEN = "t0ken-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory, model):
    graph = ExperienceGraph(tmp_path_factory.mktemp("hard") / "shop.db", embedder=model,
                            auto_distill=False)
    build_shop_graph(graph.store, graph.embedder)
    with _Server(create_app(graph, token=TOKEN, max_body=64 * 1024)) as url:
        yield url
    graph.close()


def _raw(url: str, head: str) -> tuple[int, str]:
    """Send only the request head (no body) and read the answer: a server that waited for the
    body before answering would never answer, and the socket timeout fails the test."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as s:
        s.sendall(head.encode())
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1].decode()


def test_no_token_is_answered_401_before_any_of_a_50mb_body_is_read(served) -> None:
    status, body = _raw(served, "POST /episodes HTTP/1.1\r\nHost: x\r\n"
                                "Content-Type: application/json\r\nContent-Length: 52428800\r\n\r\n")
    assert status == 401 and "bearer token" in json.loads(body)["detail"]


def test_a_body_over_the_limit_is_413_without_being_read(served) -> None:
    status, body = _raw(served, f"POST /episodes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                                f"{TOKEN}\r\nContent-Type: application/json\r\n"
                                "Content-Length: 52428800\r\n\r\n")
    assert status == 413
    assert "over the limit of 65536 bytes" in json.loads(body)["detail"]


def test_a_chunked_body_over_the_limit_is_413(served) -> None:
    def chunks():
        for _ in range(40):
            yield b" " * 4096

    with httpx.Client(base_url=served, timeout=60, headers=AUTH) as c:
        r = c.post("/episodes", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_lone_surrogates_are_4xx_with_the_field_or_a_rejected_record(served) -> None:
    with httpx.Client(base_url=served, timeout=120, headers=AUTH) as c:
        for path in ("/query", "/suggest"):
            r = c.post(path, content=b'{"state": "a\\ud800b"}',
                       headers={"content-type": "application/json"})
            assert r.status_code == 422, r.text
            assert r.json()["detail"] == ("request: invalid Unicode: lone surrogate \\ud800 at "
                                          "character 2 (field state)")
        r = c.post("/feedback", content=b'{"item_id": "\\udfff", "success": true}',
                   headers={"content-type": "application/json"})
        assert r.status_code == 422
        assert c.get("/nodes/%ED%A0%80").status_code in (404, 422)
        ep = ('{"task": "buy", "steps": [{"observation": "x\\ud800", "action": {"name": "go"}}]}')
        r = c.post("/episodes", content=ep.encode(), headers={"content-type": "application/json"})
        assert r.status_code == 200, r.text
        assert r.json()["ingested"] == 0
        assert r.json()["rejected"][0]["reason"].startswith("invalid Unicode: lone surrogate")


def test_deep_json_is_4xx_or_a_rejected_record_never_500(served) -> None:
    deep = "[" * 30_000 + "]" * 30_000  # far over any recursion limit, under the 64 KiB cap
    conv = [{"role": "user", "content": "find shoes"},
            {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {
                "name": "search", "arguments": deep}}]},
            {"role": "tool", "tool_call_id": "c", "content": "ok"}]
    with httpx.Client(base_url=served, timeout=120, headers=AUTH) as c:
        r = c.post("/episodes", json=conv)
        assert r.status_code == 200, r.text
        assert r.json()["ingested"] == 0
        assert r.json()["rejected"][0]["reason"].startswith("too deeply nested")
        r = c.post("/episodes", content=("[" * 30_000 + "]" * 30_000).encode(),
                   headers={"content-type": "application/json"})
        assert 400 <= r.status_code < 500
        r = c.post("/query", content=b'{"state": ' + b"[" * 30_000 + b"]" * 30_000 + b"}",
                   headers={"content-type": "application/json"})
        assert 400 <= r.status_code < 500


class _GatedEmbedder:
    """The real model, but `embed` waits until the test opens the gate: an ingest that is
    in the middle of its embedding work for as long as the test needs."""

    def __init__(self, model) -> None:  # noqa: ANN001
        self.model, self.name, self.dim = model, model.name, model.dim
        self.entered, self.gate = threading.Event(), threading.Event()

    def embed(self, texts):  # noqa: ANN001, ANN201
        self.entered.set()
        self.gate.wait()
        return self.model.embed(texts)


def test_reads_do_not_wait_for_an_ingests_embedding(tmp_path, model) -> None:
    db = tmp_path / "shop.db"
    graph = ExperienceGraph(db, embedder=model, auto_distill=False)
    build_shop_graph(graph.store, graph.embedder)
    gated = _GatedEmbedder(model)
    writer = ExperienceGraph(db, embedder=gated)
    ep = {"task": "buy a green mug", "outcome": {"success": True}, "steps": [
        {"observation": "WebShop [Search]", "action": {"name": "search"}, "result": "ok"}]}
    with _Server(create_app(graph, token=TOKEN, writer=writer)) as url, \
            httpx.Client(base_url=url, timeout=120, headers=AUTH) as c:
        posted: list[httpx.Response] = []
        t = threading.Thread(target=lambda: posted.append(c.post("/episodes", json=ep)))
        t.start()
        try:
            assert gated.entered.wait(120)
            # the ingest is inside its embedding work: reads are answered all the same
            assert c.post("/suggest", json={"state": RESULTS_OBS}).status_code == 200
            assert "Episode" not in c.get("/stats").json()["nodes"]
            assert t.is_alive()
        finally:
            gated.gate.set()  # else the server would wait for the request forever
            t.join()
        assert posted[0].status_code == 200 and posted[0].json()["ingested"] == 1
        assert c.get("/stats").json()["nodes"]["Episode"] == 1  # the reader sees the commit
    writer.close()
    graph.close()


# ---------------------------------------------------------------------------------- tokens
def test_token_comes_from_file_env_or_flag_and_empty_is_refused(tmp_path) -> None:
    f = tmp_path / "tok"
    f.write_text("from-file\n")
    assert resolve_token(token_file=f, env={}).token == "from-file"
    assert resolve_token(env={"EXPGRAPH_TOKEN": "from-env"}) == Auth("from-env", "EXPGRAPH_TOKEN")
    assert resolve_token(env={"EXPGRAPH_TOKEN_FILE": str(f)}).token == "from-file"
    assert resolve_token("flag", env={"EXPGRAPH_TOKEN": "env"}).token == "flag"
    assert resolve_token(env={}) == Auth(None, "none")
    for kw in ({"token": ""}, {"token": "  "}, {"env": {"EXPGRAPH_TOKEN": ""}}):
        with pytest.raises(AuthConfigError, match="is empty"):
            resolve_token(**{"env": {}, **kw})
    f.write_text("\n")
    with pytest.raises(AuthConfigError, match=f"token file {f} is empty"):
        resolve_token(token_file=f, env={})
    with pytest.raises(AuthConfigError, match="cannot read the token file"):
        resolve_token(token_file=tmp_path / "missing", env={})
    with pytest.raises(AuthConfigError, match="white space"):
        resolve_token("two words", env={})


def test_empty_bearer_never_passes() -> None:
    auth = Auth("abc", "x")
    assert auth.allows("Bearer abc") and auth.allows("bearer abc")
    assert not auth.allows("Bearer ") and not auth.allows("") and not auth.allows(None)
    assert not auth.allows("Basic abc") and not auth.allows("Bearer abcd")
    assert Auth(None, "none").allows(None)


def test_non_loopback_without_token_is_refused_unless_insecure() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")
    with pytest.raises(AuthConfigError, match="refusing to serve on 0.0.0.0 without a token"):
        check_bind("0.0.0.0", Auth(None, "none"))
    check_bind("0.0.0.0", Auth(None, "none"), insecure=True)
    check_bind("0.0.0.0", Auth("t", "EXPGRAPH_TOKEN"))
    check_bind("127.0.0.1", Auth(None, "none"))
    assert "auth OFF" in startup_line("http://127.0.0.1:1", Auth(None, "none"))
    assert startup_line("http://h:1", Auth("t", "EXPGRAPH_TOKEN")) == (
        "expgraph: serving http://h:1; auth ON (bearer token from EXPGRAPH_TOKEN)")


def _serve(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                **(env or {})}
    full_env.pop("EXPGRAPH_TOKEN", None) if "EXPGRAPH_TOKEN" not in (env or {}) else None
    return subprocess.Popen([sys.executable, "-m", "expgraph", "serve", "--db",
                             str(tmp_path / "s.db"), *args], cwd=REPO, env=full_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_serve_refuses_an_empty_token_and_an_open_public_bind(tmp_path) -> None:
    for args in (["--token", ""], ["--host", "0.0.0.0"]):
        proc = _serve(tmp_path, *args)
        out, err = proc.communicate()
        assert proc.returncode != 0
        assert ("is empty" in err) if args[0] == "--token" else ("refusing to serve" in err)
        assert "Traceback" not in err


def test_serve_with_env_token_says_auth_on_and_enforces_it(tmp_path) -> None:
    port = _free_port()
    proc = _serve(tmp_path, "--port", str(port), env={"EXPGRAPH_TOKEN": TOKEN})
    try:
        line = proc.stdout.readline()
        assert line.strip() == (f"expgraph: serving http://127.0.0.1:{port}; auth ON "
                                "(bearer token from EXPGRAPH_TOKEN)")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as c:
            while True:  # uvicorn binds after the line: retry until it answers
                try:
                    r = c.get("/stats")
                    break
                except httpx.ConnectError:
                    assert proc.poll() is None, proc.stderr.read()
            assert r.status_code == 401
            assert c.get("/stats", headers=AUTH).status_code == 200
    finally:
        proc.terminate()
        proc.wait()
