"""The MCP server: expgraph as memory for any agent that speaks the Model Context Protocol.

Five tools (`suggest`, `query_skills`, `record_episode`, `feedback`, `show`) and two kinds of
resources (the store's counts, the active skills of each tier) over one `ExperienceGraph`.
Tool results are the same pydantic models the Python, CLI and HTTP interfaces return, sent as
structured content. Stdio serves desktop clients; streamable HTTP serves remote agents behind
the bearer-token rule of `serve` (`queries.auth`).

Tool functions are plain `def`s: the SDK runs them on worker threads, so every call into the
graph holds one lock (the store's connection is shared, as in `queries/http.py`).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from pydantic import ConfigDict, Field

from queries.auth import Auth
from queries.schema import (
    FeedbackResult,
    IngestSummary,
    Kind,
    NodeView,
    QueryResult,
    StoreStats,
    SuggestResult,
    TierName,
)

TIERS: tuple[TierName, ...] = ("strategic", "functional", "atomic")

INSTRUCTIONS = """\
expgraph is an experience memory: it remembers how past agent runs (episodes) went, step by step,
and distils them into skills (what worked) and guardrails (what failed, and must be avoided).

Use it in a loop while you work on a task:
1. Before each action, call `suggest` with what you are looking at now (`state`: the latest
   observation or tool output, verbatim), the `task`, and the actions you already took
   (`history`). It returns the next actions past runs took from similar states, ranked, and the
   actions that led to failures there. If you already have a few concrete actions in mind, pass
   them as `candidates` to have exactly those ranked.
2. For reusable procedures and rules, call `query_skills` (same `state` and `task`).
3. When the task ends, call `record_episode` with the whole run (task, steps, outcome) so the
   memory learns from it, and `feedback` for each skill or guardrail id you were served, saying
   whether the run succeeded.
4. `show` explains one id: its evidence, status and history.
The memory starts empty: answers are empty until episodes are recorded."""

SUGGEST_DOC = """\
Next actions that worked from states like the current one, and actions to avoid.

Call it before each action. `state` is what you see now, verbatim (the last observation, tool
result or page text); `task` is the goal; `history` lists the actions you already took, oldest
first (as you wrote them, e.g. `search[red mug]` or `get_order(order_id=#W1)`); `candidates`
(optional) lists concrete actions you are considering: they are ranked instead of the actions
found in memory. Returns `next` (action template, score: higher is better, support: how many
past steps took it, skills: ids behind it) and `avoid` (actions that failed here, with the
guardrail ids). Action templates keep the action name and mask concrete values."""

QUERY_DOC = """\
Skills and guardrails that apply in the current state, best first.

`state` is what you see now, verbatim; `task` the goal. `kinds` picks `skill` and/or
`guardrail` (default both); `tiers` restricts skills to `strategic` (a whole plan: ordered
subgoals for a kind of task), `functional` (a multi-step procedure) or `atomic` (one action with
its arguments and pitfalls). Each result has an `id` (pass it to `feedback` or `show`), a
`name`, a `description`, `actions` (a skill's steps, in order) or `avoid` (a guardrail's
forbidden actions), a `score` and `evidence` (episodes, successes, failures)."""

RECORD_DOC = """\
Record one finished run (or several) so the memory learns from it.

Pass the run as JSON. The canonical shape is
{"task": "...", "agent": "my-agent", "steps": [{"observation": "what you saw before acting",
"action": {"name": "tool_or_verb", "arguments": {...}}, "result": "what came back",
"error": false}], "outcome": {"success": true}}; a list of such objects records several.
Also accepted: a chat message list (OpenAI/LangChain style, with tool calls), a tau-bench
result, a trajectory object. Add "metadata": {"retrieved": [ids]} to say which skills and
guardrails you were served, so they are credited with the outcome. Re-recording the same `id`
is a no-op. Returns how many episodes were written, their ids, and each rejected record with
its position and the reason."""

FEEDBACK_DOC = """\
Say whether a skill or guardrail you were served helped: `success` is the outcome of the run it
was served for. Pass that run's `episode_id` so the outcome counts once per episode (a second
call with the opposite outcome corrects the first). Returns the item's utility before and
after; feedback on a merged item is credited to the item it was merged into."""

SHOW_DOC = """\
One node of the memory by id (an id from `suggest`, `query_skills` or `record_episode`): its
name, status (active / merged / deprecated / redundant), evidence, history, relationship counts
and, for skills and guardrails, the merge lineage and the feedback received."""

T = TypeVar("T")


class BearerAuth:
    """ASGI middleware: every HTTP request needs `Authorization: Bearer <token>` (the rule of
    `queries.auth`, the same as `serve`'s)."""

    def __init__(self, app: Any, auth: Auth) -> None:
        self.app, self.auth = app, auth

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            if not self.auth.allows(headers.get(b"authorization", b"").decode("latin-1")):
                body = json.dumps({"error": "missing or wrong bearer token; send "
                                   "`Authorization: Bearer <token>` (the server's token)"})
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"www-authenticate", b"Bearer")]})
                await send({"type": "http.response.body", "body": body.encode()})
                return
        await self.app(scope, receive, send)


def create_server(graph: Any) -> MCPServer:
    """An MCP server over `graph` (an `ExperienceGraph`)."""
    lock = threading.RLock()
    logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets itself to DEBUG on import

    def call(fn: Callable[[], T]) -> T:
        """Run `fn` under the lock; a problem the caller can fix becomes a tool error with
        the message the CLI would print."""
        from expgraph.store.base import StoreError
        from ingestion.errors import FormatError

        with lock:
            try:
                return fn()
            except (ValueError, FormatError, StoreError) as exc:
                raise ToolError(str(exc)) from exc

    def suggest(
        state: Annotated[str, Field(min_length=1, description="what the agent sees now")],
        task: Annotated[str | None, Field(description="the task being worked on")] = None,
        history: Annotated[list[str] | None, Field(
            description="actions already taken, oldest first")] = None,
        candidates: Annotated[list[str] | None, Field(
            description="concrete actions being considered; ranked instead of memory's")] = None,
        k: Annotated[int, Field(ge=1, le=100, description="how many next actions")] = 5,
    ) -> SuggestResult:
        extra = {"candidates": candidates} if candidates is not None else {}
        return call(lambda: graph.suggest(state, task=task, history=history, k=k, **extra))

    def query_skills(
        state: Annotated[str, Field(min_length=1, description="what the agent sees now")],
        task: Annotated[str | None, Field(description="the task being worked on")] = None,
        k: Annotated[int, Field(ge=1, le=200, description="how many results")] = 10,
        kinds: Annotated[list[Kind] | None, Field(
            description="skill and/or guardrail (default both)")] = None,
        tiers: Annotated[list[TierName] | None, Field(
            description="only skills of these tiers")] = None,
    ) -> QueryResult:
        return call(lambda: graph.query(state, task=task, k=k,
                                        kinds=kinds or ("skill", "guardrail"), tiers=tiers))

    def record_episode(
        episode: Annotated[dict[str, Any] | list[Any], Field(
            description="one episode object, or a list of them (or a chat message list)")],
    ) -> IngestSummary:
        summary = IngestSummary.from_report(call(lambda: graph.ingest_object(episode)))
        if summary.rejected and not (summary.ingested or summary.skipped):
            raise ToolError("nothing recorded:\n" + "\n".join(r.error for r in summary.rejected))
        return summary

    def feedback(
        item_id: Annotated[str, Field(min_length=1, description="skill or guardrail id")],
        success: Annotated[bool, Field(description="did the run it was served for succeed?")],
        episode_id: Annotated[str | None, Field(
            description="the run's episode id (as recorded, or its node id)")] = None,
    ) -> FeedbackResult:
        return FeedbackResult.model_validate(
            call(lambda: graph.feedback(item_id, success, episode_id=episode_id)))

    def show(id: Annotated[str, Field(min_length=1, description="a node id")]) -> NodeView:
        return NodeView.model_validate(call(lambda: graph.show(id)))

    tools = [_strict(Tool.from_function(fn, description=doc)) for fn, doc in (
        (suggest, SUGGEST_DOC), (query_skills, QUERY_DOC), (record_episode, RECORD_DOC),
        (feedback, FEEDBACK_DOC), (show, SHOW_DOC))]
    server = MCPServer("expgraph", instructions=INSTRUCTIONS, version="0.1.0",
                       log_level="WARNING", tools=tools)

    @server.resource("expgraph://stats", name="stats", mime_type="application/json",
                     description="counts: nodes by label, relationships by type, skills by "
                                 "tier and status, guardrails by status")
    def stats() -> str:
        return StoreStats.model_validate(call(graph.stats)).model_dump_json(indent=2)

    for tier in TIERS:
        server.resource(f"expgraph://skills/{tier}", name=f"{tier} skills",
                        mime_type="application/json",
                        description=f"the active {tier} skills, most useful first")(
            _skill_list(graph, tier, call))
    return server


def _strict(tool: Tool) -> Tool:
    """Unknown argument names are an error, not silently dropped: a model that misspells
    `history` must be told, or it believes its history was used."""
    base = tool.fn_metadata.arg_model
    strict = type(base.__name__, (base,), {
        "__module__": base.__module__,
        "model_config": ConfigDict(extra="forbid", arbitrary_types_allowed=True)})
    tool.fn_metadata.arg_model = strict
    tool.parameters = strict.model_json_schema(by_alias=True)
    return tool


def _skill_list(graph: Any, tier: str, call: Callable) -> Callable[[], str]:
    from expgraph.models import Label
    from expgraph.views import skill_rows

    def read() -> str:
        recs = call(lambda: graph.store.find_nodes(Label.SKILL,
                                                   where={"tier": tier, "status": "active"}))
        return json.dumps(skill_rows(recs, len(recs)), indent=2, default=str)

    read.__name__ = f"{tier}_skills"
    return read


def run_stdio(graph: Any) -> None:
    """Serve over stdin/stdout until the client closes them."""
    create_server(graph).run("stdio")


def http_app(graph: Any, auth: Auth, host: str = "127.0.0.1") -> Any:
    """The streamable-HTTP ASGI app at `/mcp`, behind the bearer token when auth is on."""
    app = create_server(graph).streamable_http_app(host=host)
    return BearerAuth(app, auth) if auth.enabled else app


def run_http(graph: Any, host: str, port: int, auth: Auth) -> None:
    import uvicorn

    uvicorn.run(http_app(graph, auth, host), host=host, port=port, log_level="warning")
