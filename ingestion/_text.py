"""Helpers for text-log adapters."""

from __future__ import annotations

import re

from expgraph.actions import text_action
from expgraph.models import ActionCall
from ingestion.errors import RecordError

_UNCLOSED = re.compile(r"^\s*([A-Za-z_][\w\-]*)\s*\[([^\]]*)$", re.S)


def react_action(raw: str, where: str = "") -> ActionCall:
    """`text_action`, plus the case of an LLM output cut before its closing bracket
    (`think[For long clip-in ...`): still verb `think`, the text as its argument."""
    text = raw.strip()
    if not text:
        raise RecordError(f"empty action{where}")
    if _UNCLOSED.match(text):
        call = text_action(text + "]")
        return ActionCall(name=call.name, arguments=call.arguments, raw=raw)
    return text_action(raw)
