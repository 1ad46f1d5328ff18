"""The corpora of `bench/next_action.py`, their splits, the step labels and the failing steps.

Everything here is what the benchmark *asks*, never how anyone answers: one labeling function
for every method (expgraph's templates are mapped through it too), the two views of a step's
observation (its window and its newest message), and, per corpus, the step the corpus itself
says failed (None where it does not say).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expgraph.memory.records import written
from expgraph.models import Episode, Outcome
from expgraph.templates import action_key, learn_constants, template

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

# A chat observation is its messages joined with role prefixes, newest last
# (ingestion/adapters/chat.py); the newest message starts after the last such boundary.
_MESSAGE_START = re.compile(r"\n\n(?=(?:user|assistant|tool|function|human|ai): )")
# tau-bench retail tools that change the database (the rest read, compute or hand over).
_READ_ONLY = ("get_", "find_", "list_")
_NON_WRITES = {"calculate", "think", "transfer_to_human_agents"}


def newest_message(observation: str) -> str:
    """The last message of an observation window (the whole text when it is one message)."""
    return _MESSAGE_START.split(observation)[-1]


def is_write(tool: str) -> bool:
    return not tool.startswith(_READ_ONLY) and tool not in _NON_WRITES


# --------------------------------------------------------------------------- failing steps


def webshop_failing_step(ep: Episode, gold: Any = None) -> int | None:
    """The first action the environment rejected (`Invalid action!`); else, when the episode
    was scored below 1, the purchase the score judged; else unknown."""
    first_error = next((i for i, s in enumerate(ep.steps) if s.error), None)
    if first_error is not None:
        return first_error
    if ep.outcome.reward is not None:
        buys = [i for i, s in enumerate(ep.steps) if action_key(s.action) == "click[buy now]"]
        return buys[-1] if buys else None
    return None


def hotpotqa_failing_step(ep: Episode, gold: Any = None) -> int | None:
    """The `Finish[...]` the environment answered `Answer is INCORRECT` (HALTED: unknown)."""
    return next((i for i, s in enumerate(ep.steps) if s.action.name == "finish"
                 and "incorrect" in (s.result or "").lower()), None)


def tau_failing_step(ep: Episode, gold: Sequence[dict] | None) -> int | None:
    """The first write call (name and arguments) that is not among the task's gold actions."""
    wanted = [(a["name"], _canon(a.get("kwargs", {}))) for a in gold or ()]
    for i, s in enumerate(ep.steps):
        if is_write(s.action.name) and (s.action.name, _canon(s.action.arguments)) not in wanted:
            return i
    return None


def no_failing_step(ep: Episode, gold: Any = None) -> int | None:
    return None


def _canon(args: Any) -> str:
    return json.dumps(args, sort_keys=True, default=str)


# --------------------------------------------------------------------------- corpora


@dataclass(frozen=True)
class CorpusSpec:
    name: str
    path: str  # under the data directory
    failing_step: Callable[[Episode, Any], int | None]
    format: str = "auto"
    mapping: str | None = None
    all_succeeded: bool = False  # the corpus documents every episode as a success
    gold_actions: bool = False  # tau-bench: read info.task.actions from the raw file


CORPORA: dict[str, CorpusSpec] = {c.name: c for c in (
    CorpusSpec("webshop", "react_webshop/episodes.txt", webshop_failing_step),
    CorpusSpec("hotpotqa", "reflexion_hotpotqa/react_base_5trials.txt", hotpotqa_failing_step),
    CorpusSpec("alfworld", "alfworld_agentinstruct/trajectories.json", no_failing_step,
               format="generic", all_succeeded=True,
               mapping="records=trajectories,task=task_description,steps=state_action_pairs,"
                       "action=action,observation=state,id=task_instance_id"),
    CorpusSpec("tau_retail", "tau_bench_retail/trajectories.json", tau_failing_step,
               gold_actions=True),
)}


@dataclass
class Corpus:
    name: str
    episodes: list[Episode]  # file order, exact reprints dropped
    failing: dict[str, int | None]  # episode id -> index of the step that failed
    reprints: int = 0


def load_corpus(spec: CorpusSpec, data_dir: Path = DATA) -> Corpus:
    """Read a corpus with the project's own adapters; a record that does not parse is an error
    (the benchmark must not silently shrink)."""
    from ingestion.detect import open_source

    path = data_dir / spec.path
    items = list(open_source(path, format=spec.format, mapping=spec.mapping))
    bad = [str(i) for i in items if not isinstance(i, Episode)]
    if bad:
        raise ValueError(f"{path}: {len(bad)} records do not parse, e.g. {bad[0]}")
    gold: list[Any] = []
    if spec.gold_actions:
        gold = [r.get("info", {}).get("task", {}).get("actions", [])
                for r in json.loads(path.read_text())]
    episodes: list[Episode] = []
    failing: dict[str, int | None] = {}
    seen: set[str] = set()
    for ep in items:
        assert isinstance(ep, Episode) and ep.id
        if ep.id in seen:  # HotpotQA re-prints earlier agents in later trials, byte for byte
            continue
        seen.add(ep.id)
        if spec.all_succeeded:
            ep = ep.model_copy(update={"outcome": Outcome(success=True)})
        g = gold[_position(ep)] if spec.gold_actions else None
        failing[ep.id] = None if ep.succeeded else spec.failing_step(ep, g)
        episodes.append(ep)
    return Corpus(spec.name, episodes, failing, reprints=len(items) - len(episodes))


def _position(ep: Episode) -> int:
    pos = ep.provenance.position if ep.provenance else None
    if not pos or not pos.startswith("episode "):
        raise ValueError(f"episode {ep.id}: no `episode N` provenance to find its gold actions")
    return int(pos.split()[1])


# --------------------------------------------------------------------------- splits


@dataclass
class Split:
    name: str
    train: list[Episode]
    held: list[Episode]  # in the order they are asked (and streamed)
    note: str = ""


def split_unseen(episodes: Sequence[Episode]) -> Split:
    """Every third distinct task (in order of first appearance) is held out, all its episodes."""
    order = list(dict.fromkeys(e.task for e in episodes))
    held_tasks = {t for i, t in enumerate(order) if i % 3 == 2}
    return Split("unseen",
                 [e for e in episodes if e.task not in held_tasks],
                 [e for e in episodes if e.task in held_tasks],
                 f"{len(order) - len(held_tasks)} tasks ingested, {len(held_tasks)} held out")


def split_recurring(episodes: Sequence[Episode]) -> Split | None:
    """The first attempt of each task is ingested, the later attempts are asked; None when no
    task repeats."""
    seen: set[str] = set()
    train, held = [], []
    for e in episodes:
        (held if e.task in seen else train).append(e)
        seen.add(e.task)
    if not held:
        return None
    repeated = len({e.task for e in held})
    return Split("recurring", train, held,
                 f"{repeated} of {len(seen)} tasks repeat; first attempts ingested")


# --------------------------------------------------------------------------- labels, queries


class Labeler:
    """One labeling function for every method: the action template under the constants
    learned from the training split (tool name for tool calls). With `agree_with` (the
    constants a store learned from the same split) a value is a constant only where both
    agree, so that no answer is a slot where the gold label is a constant or the reverse."""

    def __init__(self, train: Iterable[Episode],
                 agree_with: Mapping[str, Iterable[str]] | None = None) -> None:
        uses = [(e.id or "", action_key(s.action)) for e in train for s in e.steps]
        self.constants = learn_constants(uses)
        if agree_with is not None:
            self.constants = {n: vs & set(agree_with.get(n, ()))
                              for n, vs in self.constants.items()}

    def of_step(self, step: Any) -> str:
        return template(action_key(step.action), self.constants)

    def of_answer(self, answer: str) -> str:
        """A template another component produced (key or template), relabeled here."""
        return template(answer, self.constants)


@dataclass
class Query:
    episode: str
    index: int  # step index in its episode
    task: str
    state: str  # the observation window
    newest: str  # its newest message
    history: list[str]  # previous actions: text calls as written (`think[...]` in full), else keys
    prev: str | None  # label of the previous action
    gold: str  # label of the action taken (the failing one for an avoid query)
    failing: bool = False  # an avoid query: the step that failed
    sample_key: str = field(default="", repr=False)


def as_written(action: Any) -> str:
    """An action as an agent passes it in its history (`expgraph.memory.records.written`):
    a text call as it wrote it, a thought in full; anything else by its key."""
    return written(action.raw, action_key(action))


def queries_for(held: Sequence[Episode], failing: dict[str, int | None],
                labeler: Labeler) -> tuple[list[Query], list[Query]]:
    """Every step of every successful held-out episode, and the failing step of every failed
    held-out episode whose corpus says which step failed."""
    next_q: list[Query] = []
    avoid_q: list[Query] = []
    for ep in held:
        labels = [labeler.of_step(s) for s in ep.steps]
        keys = [as_written(s.action) for s in ep.steps]
        if ep.succeeded:
            todo = range(len(ep.steps))
        else:
            f = failing.get(ep.id or "")
            todo = range(f, f + 1) if f is not None else range(0)
        for i in todo:
            s = ep.steps[i]
            q = Query(ep.id or "", i, ep.task, s.observation, newest_message(s.observation),
                      keys[:i], labels[i - 1] if i else None, labels[i],
                      failing=not ep.succeeded)
            q.sample_key = hashlib.blake2b(f"{q.episode}\x1f{i}".encode(),
                                           digest_size=8).hexdigest()
            (avoid_q if q.failing else next_q).append(q)
    return next_q, avoid_q


def subsample(queries: list[Query], n: int | None) -> list[Query]:
    """At most n queries, the same ones on every run (by a hash of episode id and step),
    kept in their asking order."""
    if n is None or len(queries) <= n:
        return queries
    keep = {id(q) for q in sorted(queries, key=lambda q: q.sample_key)[:n]}
    return [q for q in queries if id(q) in keep]


def subsample_episodes(queries: list[Query], n: int | None) -> list[Query]:
    """The queries of whole episodes (picked by a hash of their id, the same on every run) until
    at least n steps are in, kept in asking order: fewer episodes asked means fewer separate
    ingests when streaming."""
    if n is None or len(queries) <= n:
        return queries
    by_ep: dict[str, list[Query]] = {}
    for q in queries:
        by_ep.setdefault(q.episode, []).append(q)
    keep: set[str] = set()
    count = 0
    for ep in sorted(by_ep, key=lambda e: hashlib.blake2b(e.encode(), digest_size=8).digest()):
        if count >= n:
            break
        keep.add(ep)
        count += len(by_ep[ep])
    return [q for q in queries if q.episode in keep]


def failing_training_steps(train: Sequence[Episode], failing: dict[str, int | None]
                           ) -> list[tuple[Episode, int]]:
    return [(e, f) for e in train if not e.succeeded
            and (f := failing.get(e.id or "")) is not None]
