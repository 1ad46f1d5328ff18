"""Import an existing skill library (Voyager's `skills.json`) as functional skills.

Each Voyager skill is a multi-step JavaScript procedure composed of control primitives and other
skills, so it becomes a *functional* SkillNode with `source="imported"`:
- `actions`: the functions it calls, in order of first call: every `await f(...)` /
  `await bot.x.y(...)`, plus plain calls to other skills of the library; helpers the code defines
  itself are left out (their own calls are already in the list);
- `parameters`: the main function's parameters except `bot`;
- `description`: the comment inside Voyager's `async function f(bot) { // ... }` stub;
- `id`: `stable_id("Skill", "functional", "imported", name)`, so importing the same library
  twice updates the same nodes, and two skills with the same call list stay apart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from expgraph.errors import UsageError
from expgraph.models import SkillNode, Tier, stable_id

_AWAIT_CALL = re.compile(r"\bawait\s+([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*)\s*\(")
_CALL = re.compile(r"(?<![\w$.])([A-Za-z_$][\w$]*)\s*\(")
_FUNC_DEF = re.compile(r"(?:async\s+)?function\s*\*?\s*([A-Za-z_$][\w$]*)\s*\(([^)]*)\)")
_COMMENT = re.compile(r"^\s*(?://|/?\*+)\s?(.*?)\s*(?:\*/)?\s*$")


def skill_calls(code: str, name: str, library: frozenset[str] | set[str] = frozenset()
                ) -> list[str]:
    """Functions a skill's code calls, ordered by first call, without its own local helpers."""
    local = {m[1] for m in _FUNC_DEF.finditer(code)}
    found: list[tuple[int, str]] = [(m.start(1), m[1]) for m in _AWAIT_CALL.finditer(code)]
    found += [(m.start(1), m[1]) for m in _CALL.finditer(code) if m[1] in library]
    out: list[str] = []
    for _, call in sorted(found):
        if call == name or call in local or call in out:
            continue
        out.append(call)
    return out


def _parameters(code: str, name: str) -> list[str]:
    defs = {m[1]: m[2] for m in _FUNC_DEF.finditer(code)}
    params = defs.get(name, next(iter(defs.values()), ""))
    names = [p.split("=")[0].strip() for p in params.split(",")]
    return [p for p in names if p and p != "bot"]


def _description(text: str) -> str:
    """Voyager's description is a JS stub whose body is a comment; keep the comment text."""
    if "function" not in text.split("\n", 1)[0]:
        return text.strip()
    lines = []
    for line in text.splitlines()[1:]:
        m = _COMMENT.match(line)
        if m and m[1]:
            lines.append(m[1])
    return " ".join(lines).strip()


def _entries(data: Any) -> list[tuple[str, Mapping[str, Any]]]:
    if isinstance(data, Mapping):
        return [(str(k), v) for k, v in data.items() if isinstance(v, Mapping)]
    if isinstance(data, list):
        return [(str(v.get("name")), v) for v in data if isinstance(v, Mapping) and v.get("name")]
    raise UsageError("a skill library is a JSON object {name: {code, description}} or a list")


def read_skill_library(path: Path | str) -> list[SkillNode]:
    """Skills of a Voyager-style library: `skills.json`, or a directory holding one."""
    path = Path(path)
    if path.is_dir():
        path = path / "skills.json"
    with path.open(encoding="utf-8") as fh:
        entries = _entries(json.load(fh))
    names = {name for name, _ in entries}
    skills = []
    for name, entry in entries:
        code = str(entry.get("code") or "")
        skills.append(SkillNode(
            id=stable_id("Skill", Tier.FUNCTIONAL.value, "imported", name),
            tier=Tier.FUNCTIONAL,
            name=name,
            description=_description(str(entry.get("description") or "")),
            actions=skill_calls(code, name, names),
            parameters=_parameters(code, name),
            code=code or None,
            source="imported",
        ))
    return skills
