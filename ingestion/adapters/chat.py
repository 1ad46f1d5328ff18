"""OpenAI-style chat trajectories, and the one function every message-shaped format shares.

`episode_from_chat` turns a list of OpenAI-like messages into steps: every assistant tool call
is a step; its result is the tool message answering it (by `tool_call_id`, else the oldest
unanswered call); its observation is every message since the previous tool call (user turns,
tool results, the assistant's own text replies; never the system prompt), joined with role
prefixes, newest last. Parallel calls of one assistant message share that observation. The
assistant text sent with a tool call is the step's thought.

Adapters for other message formats (LangChain, SWE-agent, mini-swe-agent) convert to this
shape; they may put a ready `ActionCall` in a call's `_action` and force a result's error flag
with `_error`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from expgraph.actions import tool_action
from expgraph.models import ActionCall, Episode, Outcome, Step
from ingestion._io import read_records, text_of
from ingestion.errors import ParseError, RecordError

_ERROR_RESULT = re.compile(r"\s*(error\b|exception\b|traceback \(most recent call last\))", re.I)
_SKIPPED_ROLES = {"system", "developer"}
_USER_ROLES = {"user", "human"}
_ASSISTANT_ROLES = {"assistant", "ai", "model"}
_TOOL_ROLES = {"tool", "function"}
ROLE_RE = r'"role"\s*:\s*"(?:user|assistant|system|tool|developer)"'


def default_is_error(result: str) -> bool:
    """A tool result reads as an error when it starts with Error / Exception / a traceback."""
    return bool(_ERROR_RESULT.match(result))


def _call_action(call: Any, field: str) -> ActionCall:
    if not isinstance(call, Mapping):
        raise RecordError("tool call is not an object", field)
    if isinstance(call.get("_action"), ActionCall):
        return call["_action"]
    fn = call.get("function") if isinstance(call.get("function"), Mapping) else call
    name = fn.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RecordError("tool call without a name", f"{field}.function.name")
    args = fn.get("arguments", fn.get("args"))
    raw = args if isinstance(args, str) else None
    return tool_action(name, args, raw=raw)


def _calls_of(msg: Mapping[str, Any]) -> list[Any]:
    calls = msg.get("tool_calls")
    if calls:
        if not isinstance(calls, list):
            raise RecordError("tool_calls is not a list", "tool_calls")
        return calls
    legacy = msg.get("function_call")  # OpenAI's pre-tools function calling
    return [{"function": legacy}] if isinstance(legacy, Mapping) else []


def episode_from_chat(
    messages: Sequence[Any],
    *,
    task: str | None = None,
    outcome: Outcome | None = None,
    agent: str = "unknown",
    source_format: str = "openai_chat",
    metadata: dict[str, Any] | None = None,
    is_error: Callable[[str], bool] = default_is_error,
) -> Episode:
    """Steps from OpenAI-like messages (see the module docstring for the rules)."""
    if not isinstance(messages, Sequence) or isinstance(messages, str | bytes):
        raise RecordError("messages is not a list", "messages")
    steps: list[Step] = []
    pending: list[str] = []
    open_calls: dict[str, Step] = {}  # call id -> step waiting for its result
    unanswered: list[Step] = []
    first_user: str | None = None
    final_answer: str | None = None
    for i, msg in enumerate(messages):
        if not isinstance(msg, Mapping):
            raise RecordError("message is not an object", f"messages.{i}")
        role = str(msg.get("role", "")).lower()
        content = text_of(msg.get("content"))
        if role in _SKIPPED_ROLES:
            continue
        if role in _USER_ROLES:
            if first_user is None and content.strip():
                first_user = content.strip()
            pending.append(f"user: {content}")
        elif role in _ASSISTANT_ROLES:
            try:
                calls = _calls_of(msg)
            except RecordError as e:
                raise RecordError(e.reason, f"messages.{i}.{e.field}") from None
            if not calls:
                if content.strip():
                    pending.append(f"assistant: {content}")
                    final_answer = content
                continue
            observation, pending, final_answer = "\n\n".join(pending), [], None
            thought = content.strip() or (msg.get("thought") or "").strip() or None
            for j, call in enumerate(calls):
                step = Step(observation=observation, thought=thought,
                            action=_call_action(call, f"messages.{i}.tool_calls.{j}"))
                steps.append(step)
                unanswered.append(step)
                call_id = call.get("id") if isinstance(call, Mapping) else None
                if call_id:
                    open_calls[str(call_id)] = step
        elif role in _TOOL_ROLES:
            call_id = msg.get("tool_call_id")
            step = open_calls.pop(str(call_id), None) if call_id else None
            if step is None and unanswered:  # no id, or an id nobody issued: go by order
                step = unanswered[0]
            if step is not None:
                unanswered.remove(step)
                step.result = content
                if "_error" in msg:
                    step.error = bool(msg["_error"])
                else:
                    step.error = msg.get("status") == "error" or is_error(content)
            pending.append(f"tool: {content}")
        else:
            raise RecordError(f"unknown message role {msg.get('role')!r}", f"messages.{i}.role")
    task = task or first_user
    if not task:
        raise RecordError("no task: the conversation has no user message", "messages")
    meta = dict(metadata or {})
    if final_answer is not None:
        meta.setdefault("final_answer", final_answer)
    return Episode(agent=agent, task=task, steps=steps, outcome=outcome or Outcome(),
                   source_format=source_format, metadata=meta)


def conversation_fields(obj: Any) -> tuple[list[Any], dict[str, Any]]:
    """A conversation record: a bare message list, or an object with `messages` and optional
    `task`, `agent`, `reward`, `success`, `id`, `metadata`."""
    if isinstance(obj, list):
        return obj, {}
    if isinstance(obj, Mapping) and isinstance(obj.get("messages"), list):
        return obj["messages"], {k: v for k, v in obj.items() if k != "messages"}
    raise RecordError("expected a list of messages or an object with a `messages` list")


def outcome_from(extra: Mapping[str, Any]) -> Outcome:
    reward = extra.get("reward")
    success = extra.get("success")
    return Outcome(
        reward=float(reward) if isinstance(reward, int | float) else None,
        success=success if isinstance(success, bool) else None,
    )


def split_conversations(doc: Any) -> list[Any]:
    """A JSON document: one conversation (a message list, or an object with `messages`), a list
    of them, or an object with a `conversations` list."""
    if isinstance(doc, Mapping):
        convs = doc.get("conversations")
        return list(convs) if isinstance(convs, list) else [doc]
    if isinstance(doc, list):
        if doc and all(isinstance(m, Mapping) and ("role" in m or "type" in m) for m in doc):
            return [doc]
        return doc
    raise RecordError("expected a JSON list or object")


def episode_from_conversation(obj: Any, source_format: str = "openai_chat") -> Episode:
    messages, extra = conversation_fields(obj)
    ep = episode_from_chat(
        messages, task=extra.get("task"), outcome=outcome_from(extra),
        agent=str(extra.get("agent") or extra.get("model") or "unknown"),
        source_format=source_format,
        metadata=extra.get("metadata") if isinstance(extra.get("metadata"), dict) else None,
    )
    if extra.get("id"):
        ep.id = str(extra["id"])
    return ep


class OpenAIChatAdapter:
    """Bare message lists (.json), or one conversation per line (.jsonl)."""

    name = "openai_chat"

    def sniff(self, path: Path, head: str) -> bool:
        return head.lstrip()[:1] in ("[", "{") and re.search(ROLE_RE, head) is not None

    def read(self, path: Path) -> Iterator[Episode | ParseError]:
        return read_records(path, split_conversations, episode_from_conversation, self.name)
