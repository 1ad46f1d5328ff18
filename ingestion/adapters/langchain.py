"""LangChain message lists: `BaseMessage` objects (Python API) or their `messages_to_dict` form
in a JSON/JSONL file. Messages are converted to the OpenAI-like shape and go through the shared
chat step logic (`episode_from_chat`). A `ToolMessage` with status "error" marks its step an
error; `AIMessage.invalid_tool_calls` become error steps whose result is the parse error.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from expgraph.actions import tool_action
from expgraph.models import Episode, Outcome
from ingestion._io import read_records, text_of
from ingestion.adapters.chat import conversation_fields, episode_from_chat, outcome_from
from ingestion.errors import ParseError, RecordError

_ROLE = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool",
         "function": "function", "developer": "developer"}
LC_DICT_RE = r'"type"\s*:\s*"(?:human|ai|tool|system|AIMessageChunk|HumanMessageChunk)"'


def _role(msg: Any) -> str:
    kind = str(getattr(msg, "type", "")).lower().removesuffix("messagechunk")
    if kind == "chat":
        return str(getattr(msg, "role", "user"))
    if kind not in _ROLE:
        raise RecordError(f"unsupported LangChain message type {msg.type!r}")
    return _ROLE[kind]


def to_openai(messages: Sequence[Any]) -> list[dict[str, Any]]:
    """LangChain `BaseMessage`s -> OpenAI-like dicts (`role`, `content`, `tool_calls`...)."""
    out: list[dict[str, Any]] = []
    for msg in messages:
        role = _role(msg)
        item: dict[str, Any] = {"role": role, "content": text_of(msg.content)}
        if role == "assistant":
            calls = [{"id": c.get("id"),
                      "function": {"name": c["name"], "arguments": c.get("args")}}
                     for c in getattr(msg, "tool_calls", None) or []]
            for bad in getattr(msg, "invalid_tool_calls", None) or []:
                cid = bad.get("id") or f"invalid-{len(out)}-{len(calls)}"
                action = tool_action(bad.get("name") or "invalid_tool_call", bad.get("args"),
                                     raw=bad.get("args"))
                calls.append({"id": cid, "_action": action})
                item.setdefault("_invalid", []).append((cid, bad.get("error") or "invalid call"))
            if calls:
                item["tool_calls"] = calls
        elif role in ("tool", "function"):
            item["tool_call_id"] = getattr(msg, "tool_call_id", None)
            if getattr(msg, "status", None) == "error":
                item["_error"] = True
        out.append(item)
        for cid, error in item.pop("_invalid", []):  # the parse error is the call's result
            out.append({"role": "tool", "tool_call_id": cid, "content": str(error), "_error": True})
    return out


def messages_from_dicts(items: Sequence[Any]) -> list[Any]:
    from langchain_core.messages import messages_from_dict

    if not all(isinstance(m, Mapping) and "type" in m for m in items):
        raise RecordError("expected LangChain message dicts ({type, data})", "messages")
    try:
        return messages_from_dict([dict(m) for m in items])
    except (KeyError, ValueError, TypeError) as e:
        raise RecordError(f"not a LangChain message: {e}", "messages") from None


def is_langchain_dicts(obj: Any) -> bool:
    return (isinstance(obj, list) and bool(obj)
            and all(isinstance(m, Mapping) and "type" in m and "data" in m for m in obj))


class LangChainAdapter:
    name = "langchain"

    @staticmethod
    def from_messages(messages: Sequence[Any], task: str | None = None,
                      outcome: Outcome | None = None, agent: str = "langchain",
                      metadata: dict[str, Any] | None = None) -> Episode:
        """An episode from LangChain `BaseMessage` objects (or their dict form)."""
        if messages and isinstance(messages[0], Mapping):
            messages = messages_from_dicts(messages)
        return episode_from_chat(to_openai(messages), task=task, outcome=outcome, agent=agent,
                                 source_format="langchain", metadata=metadata)

    @classmethod
    def from_record(cls, obj: Any) -> Episode:
        messages, extra = conversation_fields(obj)
        meta = extra.get("metadata") if isinstance(extra.get("metadata"), dict) else None
        return cls.from_messages(messages_from_dicts(messages), task=extra.get("task"),
                                 outcome=outcome_from(extra),
                                 agent=str(extra.get("agent") or "langchain"), metadata=meta)

    def sniff(self, path: Path, head: str) -> bool:
        return (head.lstrip()[:1] in ("[", "{") and re.search(LC_DICT_RE, head) is not None
                and re.search(r'"data"\s*:\s*\{', head) is not None)

    def read(self, path: Path) -> Iterator[Episode | ParseError]:
        return read_records(path, _split, self.from_record)


def _split(doc: Any) -> list[Any]:
    if is_langchain_dicts(doc):
        return [doc]
    if isinstance(doc, list):
        return doc
    if isinstance(doc, Mapping):
        return [doc]
    raise RecordError("expected LangChain message dicts")
