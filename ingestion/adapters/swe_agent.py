"""SWE-agent `.traj` files, both layouts:

- `history` (+ `trajectory`, `info`): the message list the model saw. Assistant messages carry the
  command in `action` (and `thought`); the next user/tool message is its output. Demonstration
  messages (`is_demo`) are skipped. Used whenever it holds at least one action.
- `trajectory` only: entries `{action, observation, thought, ...}`.

Both become OpenAI-like messages for the shared chat step logic; actions via `shell_action` on
the command text (`open`, `edit`, `find_file`, `python`, `submit`...). Task = the issue text
(between `ISSUE:` and `INSTRUCTIONS:`), else the first user message.

Outcome rule (`swe_outcome`): a trajectory does not say whether the patch passes the tests.
`info.resolved` (a SWE-bench evaluation merged in) decides when present; an `exit_status` with an
empty or missing `submission` is a failure (nothing was submitted); a submitted patch is
*unknown* (success None); no `info` is unknown.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from expgraph.actions import shell_action, tool_action
from expgraph.models import ActionCall, Episode, Outcome
from ingestion._io import Located, build, load_json, text_of
from ingestion.adapters.chat import episode_from_chat
from ingestion.errors import ParseError, RecordError

_ISSUE = re.compile(r"ISSUE:\s*\n(.*?)\n\s*INSTRUCTIONS:", re.S)
_PR = re.compile(r"<pr_description>\s*(?:Consider the following PR description:\s*)?(.*?)\s*"
                 r"</pr_description>", re.S)
_SWE_ERROR = re.compile(
    r"^\s*(error\b|usage:)|your proposed edit has introduced new syntax error|command not found"
    r"|no such file or directory|is not a valid (line|file)", re.I | re.M)


def problem_statement(text: str) -> str:
    m = _ISSUE.search(text) or _PR.search(text)
    return (m[1] if m else text).strip()


def is_swe_error(result: str) -> bool:
    return bool(_SWE_ERROR.search(result[:2000]))


def swe_outcome(info: Any) -> tuple[Outcome, dict[str, Any]]:
    if not isinstance(info, Mapping) or not info:
        return Outcome(), {}
    meta: dict[str, Any] = {}
    status = info.get("exit_status")
    submission = info.get("submission")
    if status is not None:
        meta["exit_status"] = status
    if isinstance(submission, str) and submission.strip():
        meta["submission"] = submission
    if isinstance(info.get("model_stats"), Mapping):
        meta["model_stats"] = dict(info["model_stats"])
    if isinstance(info.get("resolved"), bool):
        return Outcome(success=info["resolved"]), meta
    if status is not None and "submission" not in meta:
        return Outcome(success=False), meta
    return Outcome(), meta


def _assistant_action(m: Mapping[str, Any]) -> ActionCall | None:
    action = m.get("action")
    if isinstance(action, str) and action.strip():
        return shell_action(action)
    calls = m.get("tool_calls") or []
    if calls and isinstance(calls[0], Mapping):
        fn = calls[0].get("function") or {}
        args = fn.get("arguments")
        if fn.get("name") == "bash":
            parsed = tool_action("bash", args).arguments
            return shell_action(str(parsed.get("command", "")) or "bash")
        return tool_action(str(fn.get("name") or "unknown"), args)
    return None


def _from_history(history: list[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    waiting: str | None = None  # id of the action whose output comes next
    for i, m in enumerate(history):
        if not isinstance(m, Mapping):
            raise RecordError("history entry is not an object", f"history.{i}")
        if m.get("is_demo"):
            continue
        role, content = m.get("role"), text_of(m.get("content"))
        if role == "assistant" and (action := _assistant_action(m)) is not None:
            calls = m.get("tool_calls") or [{}]
            waiting = str(calls[0].get("id") or f"swe-{i}")
            thought = m.get("thought") if isinstance(m.get("thought"), str) else content
            out.append({"role": "assistant", "content": thought,
                        "tool_calls": [{"id": waiting, "_action": action}]})
        elif role in ("user", "tool") and waiting is not None:
            out.append({"role": "tool", "tool_call_id": waiting, "content": content,
                        "_error": is_swe_error(content)})
            waiting = None
        else:
            out.append({"role": role, "content": content})
    return out


def _from_trajectory(traj: list[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, entry in enumerate(traj):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("action"), str):
            raise RecordError("trajectory entry without an action", f"trajectory.{i}.action")
        obs = text_of(entry.get("observation"))
        out.append({"role": "assistant", "content": text_of(entry.get("thought")),
                    "tool_calls": [{"id": f"t{i}", "_action": shell_action(entry["action"])}]})
        out.append({"role": "tool", "tool_call_id": f"t{i}", "content": obs,
                    "_error": is_swe_error(obs)})
    return out


def episode_from_swe(doc: Any) -> Episode:
    if not isinstance(doc, Mapping):
        raise RecordError("a .traj file must hold a JSON object")
    history = doc.get("history") if isinstance(doc.get("history"), list) else []
    messages = _from_history(history)
    if not any(m.get("tool_calls") for m in messages):
        traj = doc.get("trajectory")
        if not isinstance(traj, list) or not traj:
            raise RecordError("no actions in `history` or `trajectory`", "trajectory")
        intro = [m for m in messages if m.get("role") == "user"][:1]
        messages = intro + _from_trajectory(traj)
    first_user = next((m["content"] for m in messages if m.get("role") == "user"), "")
    task = doc.get("problem_statement") or problem_statement(first_user)
    if not isinstance(task, str) or not task.strip():
        raise RecordError("no task: no issue text or first user message", "history")
    outcome, meta = swe_outcome(doc.get("info"))
    if isinstance(doc.get("environment"), str):
        meta["environment"] = doc["environment"]
    return episode_from_chat(messages, task=task, outcome=outcome, agent="swe-agent",
                             source_format="swe_agent", metadata=meta)


class SweAgentAdapter:
    name = "swe_agent"

    def sniff(self, path: Path, head: str) -> bool:
        if head.lstrip()[:1] != "{":
            return False
        if path.name.endswith(".traj") and re.search(r'"(history|trajectory)"\s*:', head):
            return True
        return (re.search(r'"trajectory"\s*:\s*\[\s*\{\s*"action"', head) is not None
                or (re.search(r'"history"\s*:\s*\[', head) is not None
                    and re.search(r'"(message_type|agent)"\s*:', head) is not None))

    def read(self, path: Path) -> Iterator[Episode | ParseError]:
        doc = load_json(path)
        if isinstance(doc, ParseError):
            yield doc
            return
        loc = Located(doc, "episode 0", "episode 0")
        yield build(str(path), loc, episode_from_swe, doc)
