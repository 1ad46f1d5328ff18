"""Episodes from an in-memory object (an HTTP request body, a Python value).

Accepted: a canonical episode or a list of them (or `{"episodes": [...]}`), a chat conversation
(OpenAI message list, `{"messages": [...]}`, LangChain message dicts or `BaseMessage` objects), a
tau-bench result or list of them, a SWE-agent trajectory, a mini-swe-agent trajectory, or a list
mixing any of these. Each record is recognised on its own; one that is not becomes a ParseError.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from expgraph.models import Episode
from ingestion._io import Located, build
from ingestion.adapters.canonical import episode_from_canonical, is_canonical_record
from ingestion.adapters.chat import episode_from_conversation
from ingestion.adapters.langchain import LangChainAdapter, is_langchain_dicts
from ingestion.adapters.mini_swe_agent import MINI_MARKERS, episode_from_mini
from ingestion.adapters.swe_agent import episode_from_swe
from ingestion.adapters.tau_bench import episode_from_tau, is_tau_record
from ingestion.errors import ParseError, RecordError


def _is_messages(obj: Any) -> bool:
    return (isinstance(obj, list) and bool(obj)
            and all(isinstance(m, Mapping) and "role" in m for m in obj))


def _is_base_messages(obj: Any) -> bool:
    return (isinstance(obj, list) and bool(obj)
            and all(hasattr(m, "type") and hasattr(m, "content") and not isinstance(m, Mapping)
                    for m in obj))


def _looks_mini(messages: Any) -> bool:
    try:
        return MINI_MARKERS.search(json.dumps(messages, default=str)[:200_000]) is not None
    except (TypeError, ValueError):
        return False


def _reader(obj: Any) -> Callable[[Any], Episode] | None:
    """The record function for one record, or None when it is not one."""
    if _is_base_messages(obj):
        return LangChainAdapter.from_messages
    if is_langchain_dicts(obj):
        return LangChainAdapter.from_messages
    if _is_messages(obj):
        return episode_from_mini if _looks_mini(obj) else episode_from_conversation
    if not isinstance(obj, Mapping):
        return None
    if is_canonical_record(obj):
        return episode_from_canonical
    if is_tau_record(obj):
        return episode_from_tau
    if "history" in obj or "trajectory" in obj:
        return episode_from_swe
    messages = obj.get("messages")
    if isinstance(messages, list):
        if "trajectory_format" in obj or _looks_mini(messages):
            return episode_from_mini
        if is_langchain_dicts(messages) or _is_base_messages(messages):
            return LangChainAdapter.from_record
        return episode_from_conversation
    return None


def _records(obj: Any) -> list[Any]:
    if _reader(obj) is not None:
        return [obj]
    if isinstance(obj, Mapping) and isinstance(obj.get("episodes"), list):
        return list(obj["episodes"])
    if isinstance(obj, list):
        return obj
    return [obj]


def episodes_from_object(obj: Any, source: str = "<object>") -> Iterator[Episode | ParseError]:
    """Episodes (and ParseErrors, positioned `episode N`) from a decoded JSON value."""
    for i, rec in enumerate(_records(obj)):
        pos = f"episode {i}"
        reader = _reader(rec)
        if reader is None:
            kind = type(rec).__name__
            keys = f" with keys {sorted(rec)[:8]}" if isinstance(rec, Mapping) else ""
            yield ParseError(source, pos, f"unrecognised record ({kind}{keys}); expected an "
                             "episode, a chat message list, a tau-bench result or a trajectory")
            continue
        yield build(source, Located(rec, pos, pos), _call, reader, rec)


def _call(reader: Callable[[Any], Episode], rec: Any) -> Episode:
    ep = reader(rec)
    if not isinstance(ep, Episode):
        raise RecordError("record did not produce an episode")
    return ep
