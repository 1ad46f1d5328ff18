"""The one JSON shape of retrieval: Python results, `expgraph query --json` and the HTTP API
all dump these models, so a client written against one works against the others.

The request models double as HTTP request bodies and are echoed back under `"query"`, so every
answer says exactly what was asked (defaults filled in).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["skill", "guardrail"]
TierName = Literal["strategic", "functional", "atomic"]


class QueryRequest(BaseModel):
    """Parameters of `query`, named as in the Python API."""

    model_config = ConfigDict(extra="forbid")

    state: str = Field(description="what the agent is looking at now (its latest observation)")
    task: str | None = Field(default=None, description="the task the agent is working on")
    k: int = Field(default=10, ge=1, le=200)
    kinds: list[Kind] = Field(default_factory=lambda: ["skill", "guardrail"])
    tiers: list[TierName] | None = None
    explain: bool = False
    preset: str = "hybrid"
    include_deprecated: bool = False


class SuggestRequest(BaseModel):
    """Parameters of `suggest`, named as in the Python API."""

    model_config = ConfigDict(extra="forbid")

    state: str
    task: str | None = None
    history: list[str] | None = Field(
        default=None, description="the recent actions that led here, oldest first")
    k: int = Field(default=5, ge=1, le=100)
    candidates: list[str] | None = Field(
        default=None, description="the concrete actions available now (valid game actions, "
                                  "clickable elements, tool calls): `next` ranks exactly these")
    explain: bool = Field(default=False, description="show each feature's contribution")
    max_false_avoid: float | None = Field(
        default=None, ge=0, le=1,
        description="share of a new run's successful actions the avoid list may flag, with "
                    "95 % confidence (default 0.05); higher catches more failures")


class Signals(BaseModel):
    """Each signal's raw value for one result (only with `explain`)."""

    dense: float = 0.0
    sparse: float = 0.0
    graph: float = 0.0
    utility: float = 0.0


class Evidence(BaseModel):
    episodes: int = 0
    successes: int = 0
    failures: int = 0


class Result(BaseModel):
    id: str
    kind: Kind
    tier: TierName | None = None
    name: str
    description: str = ""
    actions: list[str] = Field(default_factory=list, description="action templates, in order")
    avoid: list[str] = Field(default_factory=list, description="templates a guardrail forbids")
    score: float
    signals: Signals | None = Field(default=None, description="per-signal values; null "
                                    "unless explain=true")
    evidence: Evidence = Field(default_factory=Evidence)

    def text(self) -> str:
        """A readable paragraph: what a prompt or a LangChain Document shows."""
        head = f"[{self.kind}{'/' + self.tier if self.tier else ''}] {self.name}"
        parts = [head]
        if self.description:
            parts.append(self.description)
        if self.actions:
            parts.append("Actions: " + " -> ".join(self.actions))
        if self.avoid:
            parts.append("Avoid: " + ", ".join(self.avoid))
        ev = self.evidence
        parts.append(f"Evidence: {ev.successes} successes, {ev.failures} failures "
                     f"over {ev.episodes} episodes.")
        return "\n".join(parts)


class QueryResult(BaseModel):
    query: QueryRequest
    results: list[Result]


class NextAction(BaseModel):
    action: str = Field(description="the action template, or the caller's candidate string")
    template: str = Field(default="", description="the action template it belongs to")
    score: float
    support: int = Field(description="how many of the nearest successful steps took it")
    skills: list[str] = Field(default_factory=list, description="ids of skills behind it")
    grounded: list[str] = Field(
        default_factory=list, description="concrete actions the nearest successful steps took "
                                          "with this template, best first")
    arguments: dict[str, Any] = Field(default_factory=dict,
                                      description="the arguments of the first grounded action")
    explain: dict[str, float] | None = Field(
        default=None, description="each feature's contribution to the score (explain=True)")


class AvoidAction(BaseModel):
    action: str
    score: float = Field(description="the avoid model's risk that this action fails here")
    guardrails: list[str] = Field(default_factory=list)
    explain: dict[str, float] | None = None


class SuggestResult(BaseModel):
    query: SuggestRequest
    next: list[NextAction]
    avoid: list[AvoidAction]

    def text(self) -> str:
        lines = ["Next actions experience supports:"]
        lines += [f"  {n.action}  (score {n.score:.2f}, support {n.support})" for n in self.next]
        if self.avoid:
            lines.append("Avoid:")
            lines += [f"  {a.action}  (score {a.score:.2f})" for a in self.avoid]
        return "\n".join(lines)


class Rejected(BaseModel):
    """An input record that was not ingested, and why (the CLI prints the same text)."""

    position: str = Field(description="where in the input, e.g. `episode 2`")
    reason: str
    error: str = Field(description="the full message: source, position and reason")


class IngestSummary(BaseModel):
    """What one ingest call did: the answer of `POST /episodes` and the MCP `record_episode`."""

    ingested: int = Field(description="new episodes written (and distilled)")
    steps: int = Field(description="steps of the new episodes")
    skipped: int = Field(description="episodes already in the store (same id): not written again")
    rejected: list[Rejected] = Field(default_factory=list)
    episode_ids: list[str] = Field(default_factory=list,
                                   description="node ids of the new episodes")

    @classmethod
    def from_report(cls, report: object) -> IngestSummary:
        """From an `ingestion.pipeline.IngestReport`."""
        return cls(ingested=report.ingested, steps=report.steps,  # type: ignore[attr-defined]
                   skipped=report.skipped,  # type: ignore[attr-defined]
                   rejected=[Rejected(position=e.position, reason=e.reason, error=str(e))
                             for e in report.rejected],  # type: ignore[attr-defined]
                   episode_ids=list(report.episode_ids))  # type: ignore[attr-defined]


class FeedbackResult(BaseModel):
    """What `feedback` recorded (the facade's `feedback` dict, as a model)."""

    model_config = ConfigDict(extra="forbid")

    item: str = Field(description="the id the feedback was given for")
    credited: str = Field(description="the id that got the count (a merged item credits the "
                                      "item it was merged into)")
    success: bool
    episode: str | None = Field(default=None, description="episode node id, when given")
    counted: bool = Field(description="false when this episode's outcome was already recorded")
    reason: str | None = None
    corrected: bool = Field(default=False, description="the episode's earlier, opposite "
                                                       "outcome was replaced")
    utility_before: float
    utility_after: float
    feedback_successes: int | None = None
    feedback_failures: int | None = None


class NodeView(BaseModel):
    """One node with its evidence, status and history (`expgraph show --json`)."""

    id: str
    label: str
    name: str
    text: str
    status: str | None = None
    props: dict = Field(default_factory=dict)
    evidence: dict = Field(default_factory=dict)
    history: list[dict] = Field(default_factory=list)
    edges: dict[str, dict[str, int]] = Field(default_factory=dict,
                                             description="relationship counts, out and in")
    lineage: dict | None = Field(default=None, description="skills and guardrails only: "
                                 "merged_into chain, current id, supersedes, absorbed")
    feedback: list[dict] | None = None


class StoreStats(BaseModel):
    """Counts of the store: nodes by label, relationships by type, skills by tier and status,
    guardrails by status."""

    nodes: dict[str, int]
    relationships: dict[str, int]
    skills: dict[str, dict[str, int]] = Field(default_factory=dict,
                                              description="tier -> status -> count")
    guardrails: dict[str, int] = Field(default_factory=dict, description="status -> count")
