"""The HTTP API: the Python API's calls as JSON endpoints (FastAPI; `expgraph serve` runs it).

Request bodies use the Python parameter names and answers are the same pydantic models the
Python API returns. Endpoints are plain `def`s (FastAPI runs them in its threadpool).

Hardening (issue 15): the bearer token is checked before the body is read, and a body over
`max_body` bytes is answered 413 without reading it; text that is not valid Unicode is a 4xx,
never a 500. Reads and writes hold different locks: with a `writer` graph (a second connection
to the same store) an ingest's embedding and distillation never make a read wait.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer
from pydantic import BaseModel, Field

from ingestion._io import char_problem, value_problem
from queries.auth import Auth
from queries.config import UnknownPresetError
from queries.schema import (
    IngestSummary,
    QueryRequest,
    QueryResult,
    SuggestRequest,
    SuggestResult,
)

EpisodesBody = Annotated[Any, Body(description="an episode, a list of episodes, a chat message "
                                               "list, a tau-bench result...")]
DEFAULT_MAX_BODY = 4 * 1024 * 1024  # bytes; `expgraph serve --max-body-mb` changes it
PUBLIC_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class FeedbackRequest(BaseModel):
    item_id: str = Field(description="id of the skill or guardrail that was served")
    success: bool = Field(description="did the episode it was served for succeed?")
    episode_id: str | None = Field(default=None, description="counts once per episode")


class NodeOut(BaseModel):
    id: str
    label: str
    text: str
    props: dict[str, Any]


class GuardMiddleware:
    """Auth, then the size limit, before any of the body is read: an unauthenticated or
    oversized request costs its headers, not its body."""

    def __init__(self, app: Any, auth: Auth, max_body: int) -> None:
        self.app, self.auth, self.max_body = app, auth, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", ())}
        if scope["path"] not in PUBLIC_PATHS and not self.auth.allows(headers.get("authorization")):
            await _reply(send, 401, "missing or wrong bearer token; send `Authorization: Bearer "
                         "<token>` (the token the server was started with)",
                         {"www-authenticate": "Bearer"})
            return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            await _reply(send, 413, f"request body of {int(declared)} bytes is over the limit "
                         f"of {self.max_body} bytes (serve --max-body-mb); send fewer episodes "
                         "per request")
            return
        chunks: list[bytes] = []
        size, more = 0, True
        while more:  # a chunked body without a length is counted as it comes
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            chunk = msg.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await _reply(send, 413, f"request body is over the limit of {self.max_body} "
                             "bytes (serve --max-body-mb); send fewer episodes per request")
                return
            chunks.append(chunk)
            more = msg.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _reply(send: Send, status: int, detail: str, headers: dict[str, str] | None = None,
                 ) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
           *((k.encode(), v.encode()) for k, v in (headers or {}).items())]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


@contextmanager
def _one_commit(writer: Any, separate: bool) -> Iterator[None]:
    """A request's episodes and their distillation as one commit on the writer connection:
    readers' caches (keyed on the store's generation) are rebuilt once per request, not once
    per episode. Only with a separate writer: on a shared connection readers would see the
    open transaction."""
    if not separate:
        yield
        return
    with writer.store.transaction():
        yield


def _lower_priority() -> None:
    """Nice this thread (Linux: a thread id is a process id for setpriority) by 10."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):  # not Linux, or not allowed: same priority as reads
        pass


def _valid_text(value: Any, what: str = "request") -> None:
    """A 422 naming the field when a string of the request is not valid Unicode (a lone
    surrogate escape such as `\\ud800`): such text cannot be embedded nor stored."""
    bad = char_problem(value, raw=False) if isinstance(value, str) else value_problem(value)
    if bad:
        raise HTTPException(status_code=422, detail=f"{what}: {bad}")


def create_app(graph: Any, token: str | Auth | None = None, writer: Any = None,
               max_body: int = DEFAULT_MAX_BODY) -> FastAPI:
    """An app serving `graph` (an `ExperienceGraph`). With a token (or an `Auth`), every
    endpoint except the docs requires `Authorization: Bearer <token>`. `writer`: a second
    `ExperienceGraph` on the same store that ingests and records feedback, so reads on `graph`
    never wait for a write's embedding or distillation; without it one lock serves both."""
    auth = token if isinstance(token, Auth) else Auth(token, "argument" if token else "none")
    read_lock = threading.RLock()
    write_lock = threading.RLock() if writer is not None else read_lock
    # With a separate writer, ingests run on one low-priority thread (its torch workers inherit
    # the priority): the CPU goes to reads first, and the ingest takes what is left.
    writes = (ThreadPoolExecutor(1, thread_name_prefix="expgraph-writer",
                                 initializer=_lower_priority) if writer is not None else None)
    writer = writer if writer is not None else graph
    app = FastAPI(title="expgraph", version="0.1.0",
                  description="Experience knowledge base for LLM agents: which skills apply in "
                              "this state, which actions to take next and which to avoid.")
    app.add_middleware(GuardMiddleware, auth=auth, max_body=max_body)
    deps = [Depends(HTTPBearer(auto_error=False))] if auth.enabled else []  # documents it
    api = APIRouter(dependencies=deps)

    @app.exception_handler(RecursionError)
    def too_deep(request: Request, exc: RecursionError) -> JSONResponse:
        return JSONResponse(status_code=400, content={"detail": "too deeply nested JSON"})

    @app.exception_handler(UnicodeError)
    def bad_text(request: Request, exc: UnicodeError) -> JSONResponse:
        return JSONResponse(status_code=400, content={
            "detail": f"text is not valid Unicode ({' '.join(str(exc).split())})"})

    @api.post("/query", response_model=QueryResult, summary="skills and guardrails for a state")
    def post_query(req: QueryRequest) -> QueryResult:
        _valid_text(req.model_dump())
        with read_lock:
            try:
                return graph.query(req.state, task=req.task, k=req.k, kinds=req.kinds,
                                   tiers=req.tiers, explain=req.explain, preset=req.preset,
                                   include_deprecated=req.include_deprecated)
            except (UnknownPresetError, ValueError) as exc:
                raise HTTPException(status_code=400, detail=str(exc)) from exc

    @api.post("/suggest", response_model=SuggestResult, summary="next actions and what to avoid")
    def post_suggest(req: SuggestRequest) -> SuggestResult:
        _valid_text(req.model_dump())
        with read_lock:
            try:
                return graph.suggest(req.state, task=req.task, history=req.history, k=req.k,
                                     candidates=req.candidates, explain=req.explain,
                                     max_false_avoid=req.max_false_avoid)
            except (UnknownPresetError, ValueError) as exc:
                raise HTTPException(status_code=400, detail=str(exc)) from exc

    @api.post("/episodes", response_model=IngestSummary,
              summary="ingest episodes (any supported format, as JSON)")
    def post_episodes(body: EpisodesBody) -> IngestSummary:
        if not isinstance(body, (dict, list)):
            raise HTTPException(status_code=400,
                                detail="the body must be a JSON object or list of episodes")
        def ingest() -> Any:
            with write_lock, _one_commit(writer, separate=writer is not graph):
                return writer.ingest_object(body)

        try:
            report = writes.submit(ingest).result() if writes else ingest()
        except ValueError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from exc
        return IngestSummary.from_report(report)

    @api.post("/feedback", summary="record that a served item helped or not")
    def post_feedback(req: FeedbackRequest) -> dict[str, Any]:
        _valid_text(req.model_dump())
        with write_lock:
            try:
                return writer.feedback(req.item_id, req.success, episode_id=req.episode_id)
            except ValueError as exc:
                raise HTTPException(status_code=404, detail=str(exc)) from exc

    @api.get("/nodes/{node_id}", response_model=NodeOut, summary="one node, without embedding")
    def get_node(node_id: str) -> NodeOut:
        _valid_text(node_id, "node id")
        with read_lock:
            rec = graph.node(node_id)
        if rec is None:
            raise HTTPException(status_code=404, detail=f"no node with id {node_id!r}")
        return NodeOut(id=rec.id, label=rec.label.value, text=rec.text, props=rec.props)

    @api.get("/stats", summary="node and relationship counts")
    def get_stats() -> dict[str, Any]:
        with read_lock:
            return graph.stats()

    app.include_router(api)
    return app
