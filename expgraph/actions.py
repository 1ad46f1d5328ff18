"""Action normalisation shared by every adapter: tool names as they are, ReAct verbs
lower-cased, shell commands reduced to their head; arguments kept apart so skills can be
parameterised later."""

from __future__ import annotations

import re
import shlex
from typing import Any

from expgraph.models import ActionCall

# The argument a text verb takes, named so templates read `search[<query>]`.
TEXT_VERB_SLOTS = {
    "search": "query",
    "click": "item",
    "lookup": "keyword",
    "finish": "answer",
    "think": "thought",
}

_TEXT_ACTION = re.compile(r"^\s*([A-Za-z_][\w\-]*)\s*\[(.*)\]\s*$", re.S)
_BARE_VERB = re.compile(r"^\s*([A-Za-z_][\w\-]*)\s*$")


def text_action(raw: str) -> ActionCall:
    """`Search[Jonny Craig]` -> search(query="Jonny Craig"); `reset` -> reset()."""
    m = _TEXT_ACTION.match(raw)
    if m:
        verb = m.group(1).lower()
        arg = m.group(2).strip()
        return ActionCall(name=verb, arguments={TEXT_VERB_SLOTS.get(verb, "arg"): arg}, raw=raw)
    m = _BARE_VERB.match(raw)
    if m:
        return ActionCall(name=m.group(1).lower(), arguments={}, raw=raw)
    head, _, rest = raw.strip().partition(" ")
    args = {"arg": rest.strip()} if rest.strip() else {}
    return ActionCall(name=(head or "unknown").lower(), arguments=args, raw=raw)


def tool_action(name: str, arguments: Any, raw: str | None = None) -> ActionCall:
    """A function/tool call: the tool name as it is; arguments a dict (JSON strings parsed)."""
    import json

    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:
            arguments = {"input": arguments}
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        arguments = {"input": arguments}
    return ActionCall(name=name.strip() or "unknown", arguments=arguments, raw=raw)


_ENV_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_WRAPPERS = {"sudo", "env", "time", "nohup", "timeout", "exec"}


def shell_action(command: str) -> ActionCall:
    """A shell or SWE-agent command: the name is the command's head (`open`, `edit`,
    `python`, `submit`, `cd`...), the rest kept as `args` (and the full text as `command`)."""
    text = command.strip()
    first_line = text.splitlines()[0] if text else ""
    try:
        tokens = shlex.split(first_line, posix=True)
    except ValueError:
        tokens = first_line.split()
    i = 0
    while i < len(tokens) and (_ENV_ASSIGN.match(tokens[i]) or tokens[i] in _WRAPPERS):
        i += 1
        if i < len(tokens) and tokens[i - 1] == "timeout" and tokens[i][:1].isdigit():
            i += 1
    head = tokens[i] if i < len(tokens) else (first_line.split() or ["unknown"])[0]
    head = head.rsplit("/", 1)[-1] or "unknown"
    rest = text[len(first_line):] if len(tokens) <= i + 1 else ""
    args = tokens[i + 1:] if i + 1 < len(tokens) else []
    arguments: dict[str, Any] = {"command": text}
    if args:
        arguments["args"] = args
    if rest.strip():
        arguments["body"] = rest.strip("\n")
    return ActionCall(name=head, arguments=arguments, raw=command)
