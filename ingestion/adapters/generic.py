"""Any JSON/JSONL layout, read through a field mapping (`--map`):

    task=instruction,steps=trajectory,action=act,observation=obs,success=won

Values are dotted paths (`a.b.0.c`). Episode-level keys are looked up in each record: `task`
(required), `steps`, `success`, `reward`, `agent`, `id`, and `records` (where the list of
records sits inside a JSON document, e.g. `records=data.runs`). Step-level keys are looked up in
each element of `steps`: `action` (required with `steps`), `observation`, `result`, `thought`,
`arguments`, `step_reward`, `error`.

An action string is parsed with `text_action` (`search[shoes]` -> search(query=...)); with an
`arguments` mapping, the string is the tool name and the arguments are taken as they are; a
dict action with a `name` is a tool call (`arguments`/`args`/`input` as its arguments).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from expgraph.actions import text_action, tool_action
from expgraph.models import ActionCall, Episode, Outcome, Step
from ingestion._io import get_path, read_records, text_of
from ingestion.errors import ParseError, RecordError

EPISODE_KEYS = ("task", "steps", "success", "reward", "agent", "id", "records")
STEP_KEYS = ("action", "observation", "result", "thought", "arguments", "step_reward", "error")
MAP_SYNTAX = "task=PATH,steps=PATH,action=PATH[,observation=PATH,result=PATH,success=PATH,...]"


class MappingError(ValueError):
    """A `--map` string that cannot be used; the message is one line."""


def parse_mapping(s: str) -> dict[str, str]:
    """`task=instruction,steps=trajectory,action=act` -> {"task": "instruction", ...}."""
    mapping: dict[str, str] = {}
    for part in (p.strip() for p in s.split(",")):
        if not part:
            continue
        key, sep, value = (x.strip() for x in part.partition("="))
        if not sep or not key or not value:
            raise MappingError(f"bad --map entry {part!r}: expected KEY=PATH ({MAP_SYNTAX})")
        if key not in EPISODE_KEYS + STEP_KEYS:
            allowed = ", ".join(EPISODE_KEYS + STEP_KEYS)
            raise MappingError(f"unknown --map key {key!r}; allowed keys: {allowed}")
        if key in mapping:
            raise MappingError(f"--map key {key!r} given twice")
        if any(not seg for seg in value.split(".")):
            raise MappingError(f"bad path {value!r} for --map key {key!r}: empty segment")
        mapping[key] = value
    check_mapping(mapping)
    return mapping


def check_mapping(mapping: Mapping[str, str]) -> None:
    if "task" not in mapping:
        raise MappingError(f"--map needs at least task=PATH ({MAP_SYNTAX})")
    if "steps" in mapping and "action" not in mapping:
        raise MappingError("--map has steps=PATH but no action=PATH")
    unknown = set(mapping) - set(EPISODE_KEYS + STEP_KEYS)
    if unknown:
        raise MappingError(f"unknown --map key(s): {', '.join(sorted(unknown))}")


def _bool(value: Any, field: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "yes", "1", "success", "succeeded", "pass", "passed", "won"):
            return True
        if low in ("false", "no", "0", "failure", "failed", "fail", "lost", ""):
            return False
    raise RecordError(f"cannot read {value!r} as true/false", field)


def _float(value: Any, field: str) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise RecordError(f"cannot read {value!r} as a number", field) from None


def _action(value: Any, args: Any, field: str) -> ActionCall:
    if isinstance(value, Mapping):
        name = value.get("name")
        if not isinstance(name, str) or not name.strip():
            raise RecordError("action object without a name", field)
        inner = value.get("arguments", value.get("args", value.get("input")))
        return tool_action(name, inner if args is None else args)
    if isinstance(value, str) and value.strip():
        return tool_action(value, args) if args is not None else text_action(value)
    raise RecordError(f"bad action {value!r}", field)


class GenericAdapter:
    name = "generic"

    def __init__(self, mapping: Mapping[str, str] | str) -> None:
        self.mapping = parse_mapping(mapping) if isinstance(mapping, str) else dict(mapping)
        check_mapping(self.mapping)

    def sniff(self, path: Path, head: str) -> bool:
        return False  # never guessed: a mapping is always the user's explicit choice

    def _split(self, doc: Any) -> list[Any]:
        if "records" in self.mapping:
            doc = get_path(doc, self.mapping["records"])
            if not isinstance(doc, list):
                raise RecordError("no list of records", self.mapping["records"])
        return doc if isinstance(doc, list) else [doc]

    def episode(self, rec: Any) -> Episode:
        m = self.mapping
        if not isinstance(rec, Mapping):
            raise RecordError("record is not a JSON object")
        task = get_path(rec, m["task"])
        if task is None or not text_of(task).strip():
            raise RecordError("missing task", m["task"])
        steps: list[Step] = []
        if "steps" in m:
            raw_steps = get_path(rec, m["steps"])
            if not isinstance(raw_steps, list):
                raise RecordError("steps is not a list", m["steps"])
            for i, s in enumerate(raw_steps):
                steps.append(self._step(s, f"{m['steps']}.{i}"))
        outcome = Outcome(
            success=_bool(get_path(rec, m["success"]), m["success"]) if "success" in m else None,
            reward=_float(get_path(rec, m["reward"]), m["reward"]) if "reward" in m else None,
        )
        agent = get_path(rec, m["agent"]) if "agent" in m else None
        ep_id = get_path(rec, m["id"]) if "id" in m else None
        return Episode(id=str(ep_id) if ep_id is not None else None, task=text_of(task),
                       agent=str(agent or "unknown"), steps=steps, outcome=outcome,
                       source_format="generic", metadata={"mapping": dict(m)})

    def _step(self, s: Any, where: str) -> Step:
        m = self.mapping

        def get(key: str) -> Any:
            return get_path(s, m[key]) if key in m else None

        args = get("arguments")
        result = get("result")
        return Step(
            action=_action(get("action") if not isinstance(s, str) else s, args,
                           f"{where}.{m['action']}"),
            observation=text_of(get("observation")),
            result=text_of(result) if result is not None else None,
            thought=text_of(get("thought")) or None,
            reward=_float(get("step_reward"), f"{where}.{m.get('step_reward')}"),
            error=bool(_bool(get("error"), f"{where}.{m.get('error')}")),
        )

    def read(self, path: Path) -> Iterator[Episode | ParseError]:
        return read_records(path, self._split, self.episode)
