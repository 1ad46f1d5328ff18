"""ScienceWorld for the closed-loop benchmark: one JVM, the agent's view of a step, the candidate
actions every agent chooses among, and the experience episodes (gold path + a decisive mistake).

Needs the `bench` extra (`pip install expgraph[bench]`: PyPI `scienceworld`, Apache-2.0) and
Java 17; the core package never imports this module.

Candidate actions (identical for every agent, computed from the environment only): the valid
action-object combinations ScienceWorld lists for the current state (400 to 3,000 strings, mostly
`connect X to Y` / `move X to Y` / `pour X in Y` nonsense such as `connect agent to air`), reduced by
1. dropping every action that names the agent itself, the air or the inventory as an object, and
   two-object actions whose second object is a room or a door (`move jug to kitchen`);
2. deduplicating symmetric `connect A to B` / `connect B to A` (same pair of object ids: kept once,
   as the env lists it first);
3. adding `look around` and `wait1` if missing;
4. a cap of `CAP` (1,000) actions: every action with fewer than two objects first (`go to`,
   `open`, `focus on`, `mix`, `look at`...), then two-object actions in the environment's own
   order. The cap keeps the per-step cost bounded (mean 570 candidates per state); the gold action
   of the state, when the env lists it, is kept in 97 of 99 gold-path states, and 118 of the 134
   gold actions have a candidate with the same words in some order (the env spells `connect
   battery anode to ...` as `connect ... to anode in battery`, `pour X in Y` as `pour X into Y`;
   the first 2 training variations of each task: `python bench/sciworld_env.py --check
   --variations 2`). At 300 most of `power-component`'s connects and the paint tasks' pours fell
   outside it (positions 300 to 750 of the env's order).
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from expgraph.models import ActionCall, Episode, Outcome, Step

TASKS = [
    "lifespan-shortest-lived",
    "lifespan-longest-lived-then-shortest-lived",
    "chemistry-mix-paint-secondary-color",
    "power-component",
    "chemistry-mix-paint-tertiary-color",
    "identify-life-stages-2",
]
CAP = 1000
ALWAYS = ("look around", "wait1")
JUNK_OBJECTS = ("agent", "air", "inventory")
TWO_OBJECT_TEMPLATES_SYMMETRIC = ("connect",)
LOOK_CHARS = 700  # the room description an agent sees with each observation, truncated


# ScienceWorld lists a room's objects, and the valid actions, in the order of the objects'
# identity hash codes, which the JVM draws at random: the same variation then reads differently
# from one run to the next (the objects of a room in another order, another first `focus on`
# for the mistake episode, another set of candidates under the cap), and so do the experience
# and every agent's choices. One identity hash for every object (HotSpot's hashCode=2) makes a
# variation read the same in every run, whatever was played before it in the JVM (sequential
# hashes, hashCode=3, are repeatable too, but a variation then reads differently after another
# agent's episode: one agent's choices would change what the next one sees).
REPEATABLE_JVM = "-XX:+UnlockExperimentalVMOptions -XX:hashCode=2"


@contextlib.contextmanager
def science_world(step_limit: int = 200) -> Iterator[Any]:
    """One ScienceWorld JVM for the whole run (repeatable: `REPEATABLE_JVM`), stopped (by its
    own process) whatever happens."""
    from scienceworld import ScienceWorldEnv

    before = os.environ.get("JAVA_TOOL_OPTIONS")
    os.environ["JAVA_TOOL_OPTIONS"] = f"{before or ''} {REPEATABLE_JVM}".strip()
    try:
        env = ScienceWorldEnv("", envStepLimit=step_limit)
    finally:
        if before is None:
            del os.environ["JAVA_TOOL_OPTIONS"]
        else:
            os.environ["JAVA_TOOL_OPTIONS"] = before
    try:
        yield env
    finally:
        proc = getattr(env._gateway, "java_process", None)
        env.close()
        if proc is not None:
            try:
                proc.wait(timeout=10)
            except Exception:  # noqa: BLE001 - a JVM that ignores the newline is killed
                proc.kill()


def agent_view(observation: str, look: str) -> str:
    """What an agent sees before acting: the last observation and the room it is in."""
    look = " ".join(look.split())[:LOOK_CHARS]
    obs = " ".join(observation.split())
    return obs if obs.startswith(look[:60]) else f"{obs}\n{look}"


def _is_place(type_name: str) -> bool:
    return type_name in {"door", "location", "room"}


def candidate_actions(env: Any, cap: int = CAP) -> list[str]:
    """The actions every agent may choose from in the env's current state (see module doc)."""
    combos = env.get_valid_action_object_combinations_with_templates()
    lut = env.get_all_object_ids_types_referents_LUTJSON()
    places = _place_ids(lut)
    singles: list[str] = []
    pairs: list[str] = []
    seen_pairs: set[tuple[int, frozenset[int]]] = set()
    seen: set[str] = set()
    for c in combos:
        action: str = c["action"]
        objs = [int(o) for o in c["obj_ids"]]
        if action in seen or _names_junk(objs, lut):
            continue
        if len(objs) >= 2:
            if objs[1] in places:
                continue
            if action.split(" ", 1)[0] in TWO_OBJECT_TEMPLATES_SYMMETRIC:
                key = (int(c["template_id"]), frozenset(objs))
                if key in seen_pairs:
                    continue
                seen_pairs.add(key)
            pairs.append(action)
        else:
            singles.append(action)
        seen.add(action)
    for a in ALWAYS:
        if a not in seen:
            singles.append(a)
    return (singles + pairs)[:cap]


PLACE_WORDS = {"room", "door", "location", "outside"}


def _place_ids(lut: dict[str, Any]) -> set[int]:
    """Rooms and doors (an object's referents begin with its kind: `room`, `door`...)."""
    return {int(oid) for oid, info in lut.items() if set(info.get("referents", [])) & PLACE_WORDS}


def _names_junk(objs: list[int], lut: dict[str, Any]) -> bool:
    return any(set(lut.get(str(o), {}).get("referents", [])) & set(JUNK_OBJECTS) for o in objs)


@dataclass
class Variation:
    """One loaded task variation: its text, its gold path, the first agent view."""

    task: str
    variation: int
    description: str
    gold: list[str]
    start: str


def load(env: Any, task: str, variation: int) -> Variation:
    env.load(task, variation, "", generateGoldPath=True)
    gold = list(env.get_gold_action_sequence())
    obs, info = env.reset()
    return Variation(task=task, variation=variation, description=env.get_task_description(),
                     gold=gold, start=agent_view(obs, info["look"]))


@dataclass
class StepResult:
    view: str
    result: str
    score: int
    done: bool


def act(env: Any, action: str) -> StepResult:
    obs, _reward, done, info = env.step(action)
    return StepResult(view=agent_view(obs, info["look"]), result=" ".join(obs.split()),
                      score=int(info["score"]), done=bool(done))


def final_score(score: int) -> int:
    """ScienceWorld reports -100 for a failed task; the benchmark counts it as 0 of 100."""
    return max(score, 0)


@dataclass
class Trace:
    """A played episode, ready to become an `Episode`."""

    task: str
    agent: str
    steps: list[Step] = field(default_factory=list)
    score: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)

    def add(self, view: str, action: str, res: StepResult, error: bool = False) -> None:
        self.steps.append(Step(index=len(self.steps), observation=view, action=sciworld_action(action),
                               result=res.result, reward=float(res.score), error=error))

    def episode(self, episode_id: str) -> Episode:
        score = final_score(self.score)
        return Episode(id=episode_id, agent=self.agent, task=self.task, steps=list(self.steps),
                       outcome=Outcome(success=score >= 100, reward=score / 100.0),
                       source_format="scienceworld", metadata=dict(self.metadata))


def sciworld_action(action: str) -> ActionCall:
    """`focus on red light bulb` -> focus(arg="on red light bulb"), raw kept: the template is the
    verb plus its argument where the argument recurs (`go[to kitchen]`), `focus[<arg>]` otherwise."""
    verb, _, rest = action.strip().partition(" ")
    return ActionCall(name=verb.lower() or "unknown", arguments={"arg": rest} if rest else {},
                      raw=action)


def decisive_step(gold: list[str]) -> int:
    """Where a plausible mistake ends the task: the first `focus on` (choosing the animal, the paint,
    the light bulb, the life stage) or, for a task without one, the first `connect`."""
    for verb in ("focus on ", "connect "):
        for i, a in enumerate(gold):
            if a.startswith(verb):
                return i
    return len(gold) - 1


def wrong_alternative(env: Any, gold_action: str) -> str | None:
    """A different action of the same kind on another object, deterministic: the first valid
    `focus on X` (or `connect X to Y`) whose objects differ from the gold action's."""
    verb = "focus on " if gold_action.startswith("focus on ") else "connect "
    target = gold_action[len(verb):]
    for a in candidate_actions(env, cap=10_000):
        if a.startswith(verb) and a != gold_action and target not in a and a[len(verb):] not in target:
            return a
    return None


def experience(env: Any, task: str, variation: int) -> tuple[Trace, Trace | None]:
    """The gold path (a success) and a copy that goes wrong at its decisive step (a failure,
    that step marked errored so the failure evidence lands on it), both played in the env so
    observations and scores are real."""
    var = load(env, task, variation)
    good = Trace(task=var.description, agent="sciworld-gold",
                 metadata={"task_name": task, "variation": variation, "kind": "gold"})
    view = var.start
    for a in var.gold:
        res = act(env, a)
        good.add(view, a, res)
        good.score, view = res.score, res.view
        if res.done:
            break
    var = load(env, task, variation)
    d = decisive_step(var.gold)
    bad = Trace(task=var.description, agent="sciworld-gold-mistake",
                metadata={"task_name": task, "variation": variation, "kind": "mistake",
                          "mistake_step": d})
    view = var.start
    for i, a in enumerate(var.gold):
        if i == d:
            wrong = wrong_alternative(env, a)
            if wrong is None:
                return good, None
            a = wrong
            bad.metadata["mistake"] = wrong
        res = act(env, a)
        bad.add(view, a, res, error=i == d)  # failure evidence lands on the wrong step itself
        bad.score, view = res.score, res.view
        if res.done:
            break
    if final_score(bad.score) >= 100:  # the "mistake" did no harm: not a failure to learn from
        return good, None
    return good, bad


def variations(env: Any, task: str, split: str, n: int) -> list[int]:
    """The first `n` variations of a split; `tune` is the next `n` training variations after
    the `n` the experience comes from (for choosing settings without looking at dev or test)."""
    env.load(task, 0, "")
    if split == "tune":
        return list(env.get_variations_train())[n:2 * n]
    vs = {"train": env.get_variations_train, "dev": env.get_variations_dev,
          "test": env.get_variations_test}[split]()
    return list(vs)[:n]


def _check(tasks: list[str], n: int) -> None:
    """How often the cap keeps the gold action, where the env lists it (the module doc's number)."""
    listed = kept = steps = spelled = 0
    sizes: list[int] = []
    with science_world() as env:
        for task in tasks:
            for v in variations(env, task, "train", n):
                var = load(env, task, v)
                for a in var.gold:
                    valid = set(env.get_valid_action_object_combinations())
                    cands = candidate_actions(env)
                    sizes.append(len(cands))
                    steps += 1
                    spelled += _spelling(a) in {_spelling(c) for c in cands}
                    if a in valid:
                        listed += 1
                        kept += a in cands
                    if act(env, a).done:
                        break
    print(f"gold action listed by the env: {listed}; kept by the candidate rule: {kept} "
          f"({kept / max(listed, 1):.0%}); gold actions with a candidate of the same words in any "
          f"order (`battery anode` = `anode in battery`, `in` = `into`): {spelled} of {steps}; "
          f"candidates per state: mean {sum(sizes) / len(sizes):.0f}, max {max(sizes)}")


def _spelling(action: str) -> frozenset[str]:
    return frozenset(action.lower().split()) - {"in", "into", "to", "the", "a"}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="check the candidate rule on the gold paths")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--tasks", nargs="*", default=TASKS)
    ap.add_argument("--variations", type=int, default=3)
    args = ap.parse_args()
    _check(args.tasks, args.variations)
