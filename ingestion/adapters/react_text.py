"""ReAct text logs with `Action: verb[arg]` / `Observation:` pairs (ReAct's WebShop notebook).

Layout of the WebShop log: episodes separated by a dashed line and the episode's index; after
the last observation the notebook printed its *running* statistics (`n mean_reward success_rate
error_rate` over the first n episodes, e.g. `3 0.58 0.33 0.0`), then a shorter dashed line. That
line is not the episode's score; it is kept in metadata["running_stats"].

Rules:
- `Action: reset` is not a step: its observation (the instruction page) is the observation of
  the first real step. A new `reset` also starts a new episode in logs without separators.
- Task: the text after `Instruction:` (WebShop) or `Your task is to:` (ALFWorld).
- Step observation = the previous Observation; result = the Observation after the action.
  `Invalid action!` / `Nothing happens.` results are errors.
- Outcome: the env's `Your score (min 0.0, max 1.0): X` result gives reward X and success
  X >= max. No score (cut off at the step limit, or bought with an empty result) = failure
  with reward None.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from expgraph.models import Episode, Outcome, Step
from ingestion._io import Located, build, lines_problem, open_text
from ingestion._text import react_action
from ingestion.errors import ParseError, RecordError

_SEPARATOR = re.compile(r"^-{5,}\s*$")
_INDEX = re.compile(r"^\s*(\d+)\s*$")
_STATS = re.compile(r"^\s*(\d+) ([-\d.eE+]+) ([-\d.eE+]+) ([-\d.eE+]+)\s*$")
_SCORE = re.compile(r"Your score \(min ([-\d.]+), max ([-\d.]+)\):\s*([-\d.eE+]+)")
_TASK = re.compile(r"Instruction:\s*(.+?)\s*(?:\[Search\]|\n\s*\n|$)|Your task is to:\s*(.+)", re.S)
_ERROR_RESULTS = ("invalid action", "nothing happens")


class _Pair:
    def __init__(self, action: str, line: int) -> None:
        self.action = action
        self.line = line
        self.obs: list[str] | None = None

    @property
    def observation(self) -> str | None:
        if self.obs is None:
            return None
        return "\n".join(x.rstrip() for x in self.obs).strip()


def _pairs(lines: list[tuple[int, str]]) -> list[_Pair]:
    pairs: list[_Pair] = []
    for n, line in lines:
        if line.startswith("Action:"):
            pairs.append(_Pair(line[len("Action:"):].strip(), n))
        elif line.startswith("Observation:") and pairs and pairs[-1].obs is None:
            pairs[-1].obs = [line[len("Observation:"):]]
        elif pairs and pairs[-1].obs is not None:
            pairs[-1].obs.append(line)
    return pairs


def episode_from_lines(lines: list[tuple[int, str]], label: str | None) -> Episode:
    meta: dict[str, Any] = {}
    if label is not None:
        meta["index"] = int(label)
    while lines and not lines[-1][1].strip():
        lines = lines[:-1]
    if lines and (m := _STATS.match(lines[-1][1])):
        meta["running_stats"] = {"episodes": int(m[1]), "mean_reward": float(m[2]),
                                 "success_rate": float(m[3]), "error_rate": float(m[4])}
        lines = lines[:-1]
    pairs = _pairs(lines)
    if not pairs:
        raise RecordError("no `Action:` lines")
    first_obs = ""
    if pairs[0].action.lower() == "reset":
        first_obs = pairs.pop(0).observation or ""
    task_source = first_obs or (pairs[0].observation if pairs else "") or ""
    m = _TASK.search(task_source)
    task = (m[1] or m[2]).strip() if m else ""
    if not task:
        where = f"line {lines[0][0]}"
        raise RecordError(f"no task: no `Instruction:` in the first observation ({where})")
    if "webshop" in first_obs.lower():
        meta["env"] = "webshop"
    steps: list[Step] = []
    previous = first_obs
    reward: float | None = None
    success = False
    for pair in pairs:
        action = react_action(pair.action, f" at line {pair.line}")
        result = pair.observation
        error = result is not None and result.lower().startswith(_ERROR_RESULTS)
        step = Step(observation=previous, action=action, result=result, error=error)
        if result is not None and (s := _SCORE.search(result)):
            reward = step.reward = float(s[3])
            success = reward >= float(s[2])
        steps.append(step)
        previous = result or ""
    meta["termination"] = "scored" if reward is not None else "no_score"
    return Episode(agent="react", task=task, steps=steps, source_format="react_text",
                   outcome=Outcome(success=success, reward=reward), metadata=meta)


def _chunks(path: Path) -> Iterator[tuple[str | None, list[tuple[int, str]]]]:
    """(index label, numbered lines) of each episode, streamed."""
    buf: list[tuple[int, str]] = []
    label: str | None = None

    def has_action() -> bool:
        return any(ln.startswith("Action:") for _, ln in buf)

    with open_text(path) as fh:
        for n, raw in enumerate(fh, 1):
            line = raw.rstrip("\n")
            if _SEPARATOR.match(line):
                if has_action():
                    yield label, buf
                buf, label = [], None
                continue
            if line.strip().lower() == "action: reset" and has_action():
                yield label, buf
                buf, label = [], None
            if label is None and not buf and (m := _INDEX.match(line)):
                label = m[1]
                continue
            if buf or line.strip():
                buf.append((n, line))
    if has_action():
        yield label, buf


class ReactTextAdapter:
    name = "react_text"

    def sniff(self, path: Path, head: str) -> bool:
        return (re.search(r"^Action: ?\S", head, re.M) is not None
                and re.search(r"^Observation:", head, re.M) is not None)

    def read(self, path: Path) -> Iterator[Episode | ParseError]:
        file = str(path)
        for count, (label, lines) in enumerate(_chunks(path)):
            pos = f"episode {label if label is not None else count}"
            bad = lines_problem(file, pos, lines)
            if bad:
                yield bad
                continue
            yield build(file, Located(None, pos, pos), episode_from_lines, lines, label)
