"""Live recording: an agent writes its episode as it runs, and hands it to a sink at the end.

    with EpisodeRecorder(graph.ingest_episode, task="book a flight") as ep:
        ep.step(observation=page, action="search[flights to Oslo]", result=new_page)
        ep.succeed()

An exception inside the block marks the episode failed (the exception is the reason), the
episode still goes to the sink, and the exception propagates. Leaving the block without
`succeed()` / `fail()` records an unknown outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from expgraph.actions import text_action, tool_action
from expgraph.errors import UsageError
from expgraph.models import ActionCall, Episode, Outcome, Step, utcnow


def to_action(action: ActionCall | Mapping[str, Any] | str) -> ActionCall:
    """An ActionCall as it is; a dict `{name, arguments|args}` as a tool call; a string through
    `text_action` (`search[shoes]`, `click`)."""
    if isinstance(action, ActionCall):
        return action
    if isinstance(action, Mapping):
        name = action.get("name")
        if not isinstance(name, str) or not name.strip():
            raise UsageError(f"action dict needs a non-empty 'name': {dict(action)!r}")
        args = action.get("arguments", action.get("args"))
        raw = action.get("raw")
        return tool_action(name, args, raw=raw if isinstance(raw, str) else None)
    if isinstance(action, str) and action.strip():
        return text_action(action)
    raise UsageError(f"cannot read {action!r} as an action")


class EpisodeRecorder:
    """Collects steps of one run and passes the finished Episode to `sink`."""

    def __init__(self, sink: Callable[[Episode], Any], task: str, agent: str = "unknown",
                 metadata: dict[str, Any] | None = None, source_format: str = "live") -> None:
        if not task or not task.strip():
            raise UsageError("EpisodeRecorder needs a task")
        self.sink = sink
        self.task = task
        self.agent = agent
        self.metadata = dict(metadata or {})
        self.source_format = source_format
        self.steps: list[Step] = []
        self.outcome = Outcome()
        self.episode: Episode | None = None  # set when the block exits
        self._started = utcnow()

    def __enter__(self) -> EpisodeRecorder:
        self.steps, self.outcome, self.episode = [], Outcome(), None
        self._started = utcnow()
        return self

    def step(self, observation: str = "", action: ActionCall | Mapping[str, Any] | str = "",
             result: str | None = None, *, error: bool = False, thought: str | None = None,
             reward: float | None = None) -> Step:
        """Record one action: what was seen before it, the action, what it returned."""
        step = Step(index=len(self.steps), observation=observation, action=to_action(action),
                    result=result, error=error, thought=thought, reward=reward)
        self.steps.append(step)
        return step

    def succeed(self, reward: float | None = None) -> None:
        self.outcome = Outcome(success=True, reward=reward)
        self.metadata.pop("failure_reason", None)

    def fail(self, reason: str | None = None, reward: float | None = None) -> None:
        self.outcome = Outcome(success=False, reward=reward)
        if reason:
            self.metadata["failure_reason"] = reason

    def build(self) -> Episode:
        return Episode(agent=self.agent, task=self.task, steps=list(self.steps),
                       outcome=self.outcome, source_format=self.source_format,
                       metadata=dict(self.metadata), started_at=self._started,
                       ended_at=utcnow())

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        if exc is not None:
            self.fail(f"{type(exc).__name__}: {exc}")
        self.episode = self.build()
        self.sink(self.episode)
        return False  # never swallow the agent's exception
