"""Record a LangChain run (agent, chain, or bare tool calls) as an episode.

    handler = ExperienceCallbackHandler(sink=graph.ingest_episode)
    agent.invoke({"input": "..."}, config={"callbacks": [handler]})

- the outermost `on_chain_start` opens the episode; task = the handler's `task`, else the run's
  input (`input` / `question` / `query` / `task` / first human message);
- each tool run is a step: `on_tool_start` -> action (tool name + inputs), `on_tool_end` ->
  result, `on_tool_error` -> result = the error, error=True; the step's observation is what came
  in since the previous tool call (the task, model replies, tool outputs), as in chat logs;
- the outermost `on_chain_end` closes it: success = `judge(outputs)` when a judge is given,
  else True (the run finished); `on_chain_error` closes it as failed (reason = the error);
- then `sink(episode)` is called. Tool runs outside any chain accumulate until `flush()`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from expgraph.actions import tool_action
from expgraph.models import Episode, Outcome, Step, utcnow
from ingestion._io import text_of

_TASK_KEYS = ("input", "question", "query", "task", "instruction", "prompt")
MAX_FINAL = 2000


def _first_human(messages: Any) -> str | None:
    for m in messages if isinstance(messages, list | tuple) else []:
        if isinstance(m, tuple) and len(m) == 2 and m[0] in ("user", "human"):
            return str(m[1])
        if isinstance(m, Mapping) and m.get("role") in ("user", "human"):
            return text_of(m.get("content"))
        if getattr(m, "type", None) == "human":
            return text_of(m.content)
    return None


def task_from_inputs(inputs: Any) -> str | None:
    if isinstance(inputs, str):
        return inputs.strip() or None
    if isinstance(inputs, Mapping):
        for key in _TASK_KEYS:
            if isinstance(inputs.get(key), str) and inputs[key].strip():
                return inputs[key].strip()
        if "messages" in inputs:
            return _first_human(inputs["messages"])
        if not inputs:
            return None
        return json.dumps(inputs, default=str, ensure_ascii=False)[:1000]
    human = _first_human(inputs)
    if human:
        return human
    return str(inputs)[:1000] if inputs is not None else None


class ExperienceCallbackHandler(BaseCallbackHandler):
    """A langchain-core callback handler that turns one run into one Episode for `sink`."""

    def __init__(self, sink: Callable[[Episode], Any], task: str | None = None,
                 agent: str = "langchain", metadata: dict[str, Any] | None = None,
                 judge: Callable[[Any], bool | None] | None = None) -> None:
        self.sink = sink
        self.task = task
        self.agent = agent
        self.metadata = dict(metadata or {})
        self.judge = judge
        self.last_episode: Episode | None = None  # the latest episode handed to the sink
        self._lock = threading.RLock()
        self._reset()

    def _reset(self) -> None:
        self._root: UUID | None = None
        self._task: str | None = self.task
        self._steps: list[Step] = []
        self._open: dict[UUID, Step] = {}
        self._pending: list[str] = []
        self._thought: str | None = None
        self._started = utcnow()

    # ------------------------------------------------------------------ chain lifecycle
    def on_chain_start(self, serialized: dict[str, Any] | None, inputs: Any, *, run_id: UUID,
                       parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        with self._lock:
            if parent_run_id is not None or self._root is not None:
                return
            self._reset()
            self._root = run_id
            self._task = self.task or task_from_inputs(inputs)
            if self._task:
                self._pending.append(f"user: {self._task}")

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        if run_id != self._root:
            return
        success = self.judge(outputs) if self.judge else True
        final = outputs.content if hasattr(outputs, "content") else outputs
        final_text = text_of(dict(final) if isinstance(final, Mapping) else final)
        self.flush(success=success, final_output=final_text[:MAX_FINAL])

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        if run_id == self._root:
            self.flush(success=False, reason=f"{type(error).__name__}: {error}")

    # ------------------------------------------------------------------ model output
    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            for gens in getattr(response, "generations", None) or []:
                for gen in gens:
                    message = getattr(gen, "message", None)
                    text = (getattr(gen, "text", "") or "").strip()
                    if not text:
                        continue
                    if message is not None and getattr(message, "tool_calls", None):
                        self._thought = text  # text sent along with tool calls
                    else:
                        self._pending.append(f"assistant: {text}")

    def on_agent_action(self, action: Any, *, run_id: UUID, **kwargs: Any) -> None:
        log = getattr(action, "log", None)
        if isinstance(log, str) and log.strip():
            self._thought = log.strip()

    # ------------------------------------------------------------------ tools = steps
    def on_tool_start(self, serialized: dict[str, Any] | None, input_str: str, *, run_id: UUID,
                      parent_run_id: UUID | None = None, inputs: dict[str, Any] | None = None,
                      **kwargs: Any) -> None:
        with self._lock:
            name = (serialized or {}).get("name") or kwargs.get("name") or "tool"
            args: Any = inputs if isinstance(inputs, dict) else input_str
            step = Step(observation="\n\n".join(self._pending), thought=self._thought,
                        action=tool_action(str(name), args, raw=input_str))
            self._pending, self._thought = [], None
            if self._task is None:
                self._task = self.task or f"{name}: {input_str}"
            self._steps.append(step)
            self._open[run_id] = step

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            step = self._open.pop(run_id, None)
            if step is None:
                return
            content = output.content if hasattr(output, "content") else output
            step.result = text_of(content)
            step.error = getattr(output, "status", None) == "error"
            self._pending.append(f"tool: {step.result}")

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            step = self._open.pop(run_id, None)
            if step is None:
                return
            step.result = f"{type(error).__name__}: {error}"
            step.error = True
            self._pending.append(f"tool: {step.result}")

    # ------------------------------------------------------------------ output
    def flush(self, success: bool | None = None, reason: str | None = None,
              reward: float | None = None, final_output: str | None = None) -> Episode | None:
        """Close the current episode and hand it to the sink (None when nothing was recorded)."""
        with self._lock:
            if self._root is None and not self._steps:  # no run, no tool call: nothing
                self._reset()
                return None
            meta = dict(self.metadata)
            if reason:
                meta["failure_reason"] = reason
            if final_output:
                meta["final_output"] = final_output
            episode = Episode(agent=self.agent, task=self._task or "unknown task",
                              steps=list(self._steps), outcome=Outcome(success=success,
                                                                       reward=reward),
                              source_format="langchain_callback", metadata=meta,
                              started_at=self._started, ended_at=utcnow())
            self._reset()
        self.last_episode = episode
        self.sink(episode)
        return episode
