"""The HTTP API: the Python API's calls as JSON endpoints (FastAPI; `expgraph serve` runs it).

Request bodies use the Python parameter names and answers are the same pydantic models the
Python API returns. Endpoints are plain `def`s (FastAPI runs them in its threadpool) and every
call into the graph holds one lock: the store's SQLite connection is shared, and a write
transaction must never interleave with another thread's reads.
"""

from __future__ import annotations

import secrets
import threading
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel, Field

from queries.config import UnknownPresetError
from queries.schema import QueryRequest, QueryResult, SuggestRequest, SuggestResult

EpisodesBody = Annotated[Any, Body(description="an episode, a list of episodes, a chat message "
                                               "list, a tau-bench result...")]


class FeedbackRequest(BaseModel):
    item_id: str = Field(description="id of the skill or guardrail that was served")
    success: bool = Field(description="did the episode it was served for succeed?")
    episode_id: str | None = Field(default=None, description="counts once per episode")


class IngestSummary(BaseModel):
    ingested: int
    steps: int
    skipped: int
    rejected: list[dict[str, str]]
    episode_ids: list[str]


class NodeOut(BaseModel):
    id: str
    label: str
    text: str
    props: dict[str, Any]


def _auth(token: str | None):  # noqa: ANN202 - a FastAPI dependency
    def check(request: Request) -> None:
        if token is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip(), token):
            raise HTTPException(status_code=401, detail="missing or wrong bearer token; send "
                                "`Authorization: Bearer <token>` (the --token given to serve)",
                                headers={"WWW-Authenticate": "Bearer"})
    return check


def create_app(graph: Any, token: str | None = None) -> FastAPI:
    """An app serving `graph` (an `ExperienceGraph`); with `token`, every endpoint except the
    docs requires `Authorization: Bearer <token>`."""
    lock = threading.RLock()
    app = FastAPI(title="expgraph", version="0.1.0",
                  description="Experience knowledge base for LLM agents: which skills apply in "
                              "this state, which actions to take next and which to avoid.")
    api = APIRouter(dependencies=[Depends(_auth(token))])

    @api.post("/query", response_model=QueryResult, summary="skills and guardrails for a state")
    def post_query(req: QueryRequest) -> QueryResult:
        with lock:
            try:
                return graph.query(req.state, task=req.task, k=req.k, kinds=req.kinds,
                                   tiers=req.tiers, explain=req.explain, preset=req.preset,
                                   include_deprecated=req.include_deprecated)
            except (UnknownPresetError, ValueError) as exc:
                raise HTTPException(status_code=400, detail=str(exc)) from exc

    @api.post("/suggest", response_model=SuggestResult, summary="next actions and what to avoid")
    def post_suggest(req: SuggestRequest) -> SuggestResult:
        with lock:
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
        with lock:
            try:
                report = graph.ingest_object(body)
            except ValueError as exc:
                raise HTTPException(status_code=400, detail=str(exc)) from exc
        return IngestSummary(
            ingested=report.ingested, steps=report.steps, skipped=report.skipped,
            rejected=[{"position": e.position, "reason": e.reason, "error": str(e)}
                      for e in report.rejected],
            episode_ids=list(report.episode_ids))

    @api.post("/feedback", summary="record that a served item helped or not")
    def post_feedback(req: FeedbackRequest) -> dict[str, Any]:
        with lock:
            try:
                return graph.feedback(req.item_id, req.success, episode_id=req.episode_id)
            except ValueError as exc:
                raise HTTPException(status_code=404, detail=str(exc)) from exc

    @api.get("/nodes/{node_id}", response_model=NodeOut, summary="one node, without embedding")
    def get_node(node_id: str) -> NodeOut:
        with lock:
            rec = graph.node(node_id)
        if rec is None:
            raise HTTPException(status_code=404, detail=f"no node with id {node_id!r}")
        return NodeOut(id=rec.id, label=rec.label.value, text=rec.text, props=rec.props)

    @api.get("/stats", summary="node and relationship counts")
    def get_stats() -> dict[str, Any]:
        with lock:
            return graph.stats()

    app.include_router(api)
    return app
