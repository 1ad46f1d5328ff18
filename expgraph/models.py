"""Pure data models: the canonical episode format and the graph's node and edge vocabulary.

Models hold no I/O. Every node id is a UUID5 of the node's identity fields, so the same
thing ingested twice is one node and upserts stay idempotent on every backend.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAMESPACE_UUID = uuid.UUID("6f1c1d52-4a5e-4c1b-9a43-8b0f2d3e7a10")


def stable_id(kind: str, *parts: object) -> str:
    """UUID5 over a kind and identity parts; the one place ids are made."""
    key = "\x1f".join([kind, *(json.dumps(p, sort_keys=True, default=str) for p in parts)])
    return str(uuid.uuid5(NAMESPACE_UUID, key))


def content_hash(text: str) -> str:
    """Short content hash, used for the embedding cache."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def utcnow() -> datetime:
    return datetime.now(UTC)


class Label(StrEnum):
    EPISODE = "Episode"
    TASK = "Task"
    STATE = "State"
    ACTION = "Action"
    SKILL = "Skill"
    FAILURE = "Failure"
    GUARDRAIL = "Guardrail"
    STEP = "Step"


class Rel(StrEnum):
    """The fixed relationship vocabulary. Free text never becomes a type."""

    ATTEMPTS = "ATTEMPTS"  # Episode -> Task
    VISITS = "VISITS"  # Episode -> State {step}
    TRANSITION = "TRANSITION"  # State -> State {action, name, count, successes}
    PERFORMS = "PERFORMS"  # Episode -> Action {count}
    COMPOSED_OF = "COMPOSED_OF"  # Skill -> Skill {order}
    USES = "USES"  # Skill(atomic) -> Action
    APPLIES_IN = "APPLIES_IN"  # Skill -> State (precondition)
    LEADS_TO = "LEADS_TO"  # Skill -> State (verification)
    PLANS_FOR = "PLANS_FOR"  # Skill(strategic) -> Task
    DERIVED_FROM = "DERIVED_FROM"  # Skill -> Episode
    OBSERVED_IN = "OBSERVED_IN"  # Failure -> State
    CAUSED_BY = "CAUSED_BY"  # Failure -> Action
    OCCURRED_IN = "OCCURRED_IN"  # Failure -> Episode
    PREVENTS = "PREVENTS"  # Guardrail -> Failure
    GUARDS = "GUARDS"  # Guardrail -> State | Skill | Task
    MERGED_INTO = "MERGED_INTO"  # Skill -> Skill
    SUPERSEDES = "SUPERSEDES"  # Skill -> Skill
    RETRIEVED_FOR = "RETRIEVED_FOR"  # Skill | Guardrail -> Episode {helped}
    STEP_OF = "STEP_OF"  # Step -> Episode {index}
    IN_STATE = "IN_STATE"  # Step -> State (the abstract state it was taken in)
    TAKES = "TAKES"  # Step -> Action


class Tier(StrEnum):
    STRATEGIC = "strategic"
    FUNCTIONAL = "functional"
    ATOMIC = "atomic"


class Status(StrEnum):
    ACTIVE = "active"
    MERGED = "merged"
    DEPRECATED = "deprecated"
    REDUNDANT = "redundant"


# --------------------------------------------------------------------------- episodes


class ActionCall(BaseModel):
    """What the agent did: a normalised name, its arguments, and the raw text it wrote."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    arguments: dict[str, Any] = Field(default_factory=dict)
    raw: str | None = None

    @field_validator("name")
    @classmethod
    def _strip_name(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("action name is empty")
        return v


class Step(BaseModel):
    """One action of the agent: what it saw before, what it did, what came back."""

    model_config = ConfigDict(extra="forbid")

    index: int = 0
    observation: str = ""
    action: ActionCall
    result: str | None = None
    reward: float | None = None
    error: bool = False
    thought: str | None = None

    @field_validator("observation", mode="before")
    @classmethod
    def _none_observation(cls, v: Any) -> Any:
        return "" if v is None else v


class Outcome(BaseModel):
    model_config = ConfigDict(extra="forbid")

    success: bool | None = None
    reward: float | None = None

    @property
    def succeeded(self) -> bool | None:
        """Success flag, falling back to reward: full reward (>= 1.0) is a success."""
        if self.success is not None:
            return self.success
        if self.reward is not None:
            return self.reward >= 1.0
        return None


class Provenance(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file: str | None = None
    position: str | None = None  # "line 12", "episode 3", "offset 4096"


class Episode(BaseModel):
    """One run of an agent on a task. The canonical unit of ingest."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    agent: str = "unknown"
    task: str = Field(min_length=1)
    steps: list[Step] = Field(default_factory=list)
    outcome: Outcome = Field(default_factory=Outcome)
    source_format: str = "canonical"
    metadata: dict[str, Any] = Field(default_factory=dict)
    provenance: Provenance | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None

    @field_validator("task")
    @classmethod
    def _task_not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("task is blank")
        return v

    @model_validator(mode="after")
    def _fill(self) -> Episode:
        for i, step in enumerate(self.steps):
            step.index = i
        if not self.id:
            self.id = stable_id(
                "Episode",
                self.agent,
                self.task,
                [(s.observation, s.action.name, s.action.arguments, s.result) for s in self.steps],
                self.outcome.model_dump(),
            )
        return self

    @property
    def succeeded(self) -> bool | None:
        return self.outcome.succeeded


# --------------------------------------------------------------------------- graph records


class NodeRecord(BaseModel):
    """What a store keeps for one node: label, text (searched and embedded), properties."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    id: str
    label: Label
    text: str = ""
    props: dict[str, Any] = Field(default_factory=dict)
    embedding: list[float] | None = None
    namespace: str = "default"


class EdgeRecord(BaseModel):
    """A typed, directed edge. Identity is (src, type, dst, key): `key` separates parallel edges."""

    src: str
    dst: str
    type: Rel
    key: str = ""
    props: dict[str, Any] = Field(default_factory=dict)
    namespace: str = "default"

    @property
    def ident(self) -> tuple[str, str, str, str]:
        return (self.src, self.type.value, self.dst, self.key)


class GraphNode(BaseModel):
    """Base of the typed node models. Subclasses name their label and identity fields."""

    model_config = ConfigDict(extra="allow")

    label: ClassVar[Label]
    identity: ClassVar[tuple[str, ...]] = ()

    id: str = ""
    created_at: str = Field(default_factory=lambda: utcnow().isoformat())
    updated_at: str = Field(default_factory=lambda: utcnow().isoformat())
    episodes: list[str] = Field(default_factory=list)  # provenance sample, capped

    @model_validator(mode="after")
    def _make_id(self) -> GraphNode:
        if not self.id:
            self.id = stable_id(self.label.value, *(getattr(self, f) for f in self.identity))
        return self

    def embed_text(self) -> str:
        """The text that is embedded and searched for this node."""
        return ""

    def to_record(self, namespace: str = "default") -> NodeRecord:
        props = self.model_dump(mode="json", exclude={"id"})
        return NodeRecord(
            id=self.id, label=self.label, text=self.embed_text(), props=props, namespace=namespace
        )

    @classmethod
    def from_record(cls, rec: NodeRecord):  # noqa: ANN206 - returns the subclass
        return cls.model_validate({**rec.props, "id": rec.id})


def episode_node_id(episode_id: str) -> str:
    """The node id of an episode, from the episode's own (given or derived) id."""
    return stable_id(Label.EPISODE.value, episode_id)


class EpisodeNode(GraphNode):
    label: ClassVar[Label] = Label.EPISODE
    identity: ClassVar[tuple[str, ...]] = ("episode_id",)

    episode_id: str
    agent: str
    task: str
    success: bool | None
    reward: float | None
    n_steps: int
    source_format: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    provenance: dict[str, Any] | None = None
    seq: int = 0  # ingest order: replays are done in this order
    steps: list[dict[str, Any]] = Field(default_factory=list)  # compact raw steps + state ids

    def embed_text(self) -> str:
        return self.task


class TaskNode(GraphNode):
    label: ClassVar[Label] = Label.TASK
    identity: ClassVar[tuple[str, ...]] = ("text",)

    text: str
    cluster: int | None = None
    attempts: int = 0
    successes: int = 0

    def embed_text(self) -> str:
        return self.text


class StateNode(GraphNode):
    label: ClassVar[Label] = Label.STATE
    identity: ClassVar[tuple[str, ...]] = ("signature",)

    signature: str
    representative: str
    member_count: int = 0

    def embed_text(self) -> str:
        return self.signature


class ActionNode(GraphNode):
    label: ClassVar[Label] = Label.ACTION
    identity: ClassVar[tuple[str, ...]] = ("name",)

    name: str
    argument_schema: dict[str, str] = Field(default_factory=dict)  # arg -> json type
    uses: int = 0

    def embed_text(self) -> str:
        return self.name


class SkillNode(GraphNode):
    label: ClassVar[Label] = Label.SKILL
    identity: ClassVar[tuple[str, ...]] = ("tier", "actions", "scope")

    tier: Tier
    name: str
    description: str = ""
    actions: list[str]  # ordered action templates
    scope: str = ""  # e.g. task cluster for plans; "" otherwise
    parameters: list[str] = Field(default_factory=list)
    preconditions: list[str] = Field(default_factory=list)  # state ids
    verification: list[str] = Field(default_factory=list)  # state ids / texts after success
    examples: list[str] = Field(default_factory=list)
    pitfalls: list[str] = Field(default_factory=list)
    code: str | None = None
    support: int = 0  # distinct episodes
    uses: int = 0
    successes: int = 0
    failures: int = 0
    feedback_successes: int = 0
    feedback_failures: int = 0
    utility: float = 0.0
    status: Status = Status.ACTIVE
    source: str = "distilled"  # distilled | imported | promoted | merged

    def embed_text(self) -> str:
        return f"{self.name}. {self.description} Actions: {' -> '.join(self.actions)}"


class StepNode(GraphNode):
    """One step of one episode, retrievable on its own (the step-level episodic memory): what
    the agent saw (the newest message, embedded; the whole window since its previous action,
    embedded through the cache), what it did, and how its episode ended."""

    label: ClassVar[Label] = Label.STEP
    identity: ClassVar[tuple[str, ...]] = ("episode", "index")

    episode: str  # Episode node id
    index: int
    task: str
    newest: str  # the newest message before the action (the node's embedded text)
    window: str  # everything seen since the previous action
    key: str  # action key (see expgraph.templates)
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    raw: str | None = None
    prev: list[str] = Field(default_factory=list)  # keys of the (up to two) previous actions
    success: bool | None = None  # of the episode
    error: bool = False  # of this step
    reward: float | None = None  # the episode's reward after this step, where reported
    state: str | None = None

    def embed_text(self) -> str:
        return self.newest


class FailureNode(GraphNode):
    label: ClassVar[Label] = Label.FAILURE
    identity: ClassVar[tuple[str, ...]] = ("error_class", "state_id", "action")

    error_class: Literal["error", "terminal", "loop", "stagnation"]
    symptom: str
    action: str  # template
    state_id: str
    count: int = 0

    def embed_text(self) -> str:
        return f"{self.error_class}: {self.action} -> {self.symptom}"


class GuardrailNode(GraphNode):
    label: ClassVar[Label] = Label.GUARDRAIL
    identity: ClassVar[tuple[str, ...]] = ("trigger_state", "forbidden")

    trigger_state: str  # state id
    trigger: str  # readable trigger condition
    forbidden: list[str]  # action templates
    alternative: str | None = None
    alternative_successes: int = 0
    alternative_total: int = 0
    root_cause: str = ""
    scope: Literal["task", "subgoal"] = "subgoal"
    severity: float = 0.0
    support: int = 0
    failures: int = 0  # times the forbidden action failed here
    total: int = 0  # times the forbidden action was taken here
    feedback_successes: int = 0
    feedback_failures: int = 0
    utility: float = 0.0
    status: Status = Status.ACTIVE
    rule: str = ""

    def embed_text(self) -> str:
        return f"{self.rule} When: {self.trigger}"


NODE_MODELS: dict[Label, type[GraphNode]] = {
    m.label: m
    for m in (EpisodeNode, TaskNode, StateNode, ActionNode, SkillNode, FailureNode, GuardrailNode,
              StepNode)
}

EMBEDDED_LABELS = (Label.TASK, Label.STATE, Label.SKILL, Label.GUARDRAIL, Label.FAILURE,
                   Label.STEP)


def node_from_record(rec: NodeRecord) -> GraphNode:
    return NODE_MODELS[rec.label].from_record(rec)
