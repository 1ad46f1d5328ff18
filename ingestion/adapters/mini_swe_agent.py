"""mini-swe-agent trajectories (`*.traj.json`): a bare message list, or an object with
`messages` (+ `info`, `trajectory_format`).

An assistant message with exactly one ```bash / ```mswea_bash_command block is an action
(`shell_action` on the command; the text around it is the thought); the next user message is
its output, an error when `<returncode>` is not 0 or the command timed out. The finishing
command `echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT` (or the older MINI_SWE_AGENT_FINAL_OUTPUT)
is normalised to the action `submit`, like SWE-agent's. Messages without exactly one block are
plain text turns (mini-swe-agent rejects them with a format error). Task = the issue text of
the first user message. Outcome: `swe_outcome(info)` (a submitted patch is unknown).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from expgraph.actions import shell_action
from expgraph.models import ActionCall, Episode
from ingestion._io import Located, build, load_json, text_of
from ingestion.adapters.chat import episode_from_chat
from ingestion.adapters.swe_agent import swe_outcome
from ingestion.errors import ParseError, RecordError

_BLOCK = re.compile(r"```(?:mswea_bash_command|bash|sh)\s*\n(.*?)\n?```", re.S)
_SUBMIT = re.compile(
    r"^\s*echo\s+(COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT|MINI_SWE_AGENT_FINAL_OUTPUT)")
_RETURNCODE = re.compile(r"<returncode>\s*(-?\d+)\s*</returncode>")
_TASK = re.compile(r"Please solve this issue:\s*(.*?)\n\s*\nYou can execute bash commands", re.S)
_PR = re.compile(r"<pr_description>\s*(?:Consider the following PR description:\s*)?(.*?)\s*"
                 r"</pr_description>", re.S)
MINI_MARKERS = re.compile(r'mswea_bash_command|"trajectory_format"\s*:\s*"mini-swe-agent'
                          r"|COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT|MINI_SWE_AGENT_FINAL_OUTPUT")


def mini_action(command: str) -> ActionCall:
    call = shell_action(command)
    if _SUBMIT.match(command):
        return ActionCall(name="submit", arguments=call.arguments, raw=command)
    return call


def _is_error(output: str) -> bool:
    m = _RETURNCODE.search(output)
    if m:
        return int(m[1]) != 0
    return "timed out" in output[:500].lower()


def _task(first_user: str) -> str:
    m = _TASK.search(first_user) or _PR.search(first_user)
    return (m[1] if m else first_user).strip()


def to_chat(messages: list[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    waiting: str | None = None
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping):
            raise RecordError("message is not an object", f"messages.{i}")
        role, content = m.get("role"), text_of(m.get("content"))
        blocks = _BLOCK.findall(content) if role == "assistant" else []
        if len(blocks) == 1:
            waiting = f"m{i}"
            thought = _BLOCK.sub("", content).strip()
            thought = re.sub(r"^THOUGHT:\s*", "", thought)
            out.append({"role": "assistant", "content": thought,
                        "tool_calls": [{"id": waiting, "_action": mini_action(blocks[0])}]})
        elif role == "user" and waiting is not None:
            out.append({"role": "tool", "tool_call_id": waiting, "content": content,
                        "_error": _is_error(content)})
            waiting = None
        else:
            out.append({"role": role, "content": content})
    return out


def episode_from_mini(doc: Any) -> Episode:
    info: Any = None
    if isinstance(doc, Mapping):
        info, doc = doc.get("info"), doc.get("messages")
    if not isinstance(doc, list):
        raise RecordError("expected a message list", "messages")
    messages = to_chat(doc)
    first_user = next((m["content"] for m in messages if m.get("role") == "user"), "")
    task = _task(first_user)
    if not task:
        raise RecordError("no task: no user message", "messages")
    outcome, meta = swe_outcome(info)
    return episode_from_chat(messages, task=task, outcome=outcome, agent="mini-swe-agent",
                             source_format="mini_swe_agent", metadata=meta)


class MiniSweAgentAdapter:
    name = "mini_swe_agent"

    def sniff(self, path: Path, head: str) -> bool:
        if head.lstrip()[:1] not in ("[", "{"):
            return False
        if MINI_MARKERS.search(head):
            return True
        return path.name.endswith(".traj.json") and "```bash" in head

    def read(self, path: Path) -> Iterator[Episode | ParseError]:
        doc = load_json(path)
        if isinstance(doc, ParseError):
            yield doc
            return
        yield build(str(path), Located(doc, "episode 0", "episode 0"), episode_from_mini, doc)
