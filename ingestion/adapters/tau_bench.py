"""tau-bench results: a JSON list of `{task_id, reward, traj, info, trial}` (or JSONL of them).

`traj` is an OpenAI-style conversation and goes through the shared chat step logic. The
task is the simulated user's first message; the user simulator's private instruction is kept in
metadata["user_instruction"]. Outcome: reward as given, success = reward >= 1.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from expgraph.models import Episode, Outcome
from ingestion._io import get_path, read_records
from ingestion.adapters.chat import episode_from_chat
from ingestion.errors import ParseError, RecordError


def is_tau_record(obj: Any) -> bool:
    return isinstance(obj, Mapping) and "traj" in obj and ("reward" in obj or "task_id" in obj)


def episode_from_tau(rec: Any) -> Episode:
    if not isinstance(rec, Mapping):
        raise RecordError("tau-bench record is not an object")
    traj = rec.get("traj")
    if not isinstance(traj, list):
        raise RecordError("missing trajectory", "traj")
    reward = rec.get("reward")
    if reward is not None and not isinstance(reward, int | float):
        raise RecordError(f"reward is not a number: {reward!r}", "reward")
    outcome = Outcome(
        reward=float(reward) if reward is not None else None,
        success=(reward >= 1.0) if reward is not None else None,
    )
    info = rec.get("info") if isinstance(rec.get("info"), Mapping) else {}
    meta: dict[str, Any] = {"task_id": rec.get("task_id"), "trial": rec.get("trial")}
    instruction = get_path(info, "task.instruction")
    if isinstance(instruction, str):
        meta["user_instruction"] = instruction
    expected = get_path(info, "task.actions")
    if isinstance(expected, list):
        meta["expected_actions"] = [a.get("name") for a in expected if isinstance(a, Mapping)]
    return episode_from_chat(traj, outcome=outcome, agent="tau-bench",
                             source_format="tau_bench", metadata=meta)


def _split(doc: Any) -> list[Any]:
    if isinstance(doc, list):
        return doc
    if isinstance(doc, Mapping):
        return [doc]
    raise RecordError("expected a JSON list of tau-bench results")


class TauBenchAdapter:
    name = "tau_bench"

    def sniff(self, path: Path, head: str) -> bool:
        return (head.lstrip()[:1] in ("[", "{")
                and re.search(r'"traj"\s*:\s*\[', head) is not None
                and re.search(r'"(task_id|reward)"\s*:', head) is not None)

    def read(self, path: Path) -> Iterator[Episode | ParseError]:
        return read_records(path, _split, episode_from_tau)
