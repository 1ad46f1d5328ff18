"""An agent whose memory is expgraph: at every step it asks `suggest` which of the actions
available now to take, acts, records the step; at the end of an episode the episode goes back
into the graph with the ids of what it was served (`metadata.retrieved`), so those skills and
guardrails get execution feedback, and `refine` runs every N episodes.

    python examples/agent_loop.py [--mode offline|online|both] [--db agent_loop.db]

Offline: the store is fixed (built once from the shipped episodes). Online: the store grows
with every episode the agent plays and is refined as it goes.

The environment here is a small replay world built from the shipped examples (no simulator
needed): each held-out successful episode is a task; at each step the agent sees the recorded
observation and chooses among the recorded action and the actions other agents of the same
kind took at that point; the right one moves to the next recorded observation, a wrong one
returns "Nothing happens." and costs a step (budget: 2 x the episode's length). Copy `run_episode`
and `ExperienceAgent` into your own agent: only the environment changes.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expgraph.graph import ExperienceGraph
from expgraph.models import Episode
from ingestion.record import EpisodeRecorder
from queries.schema import SuggestResult

HERE = Path(__file__).resolve().parent


# ---------------------------------------------------------------------------- the agent
def suggest_among(graph: ExperienceGraph, state: str, task: str, history: Sequence[str],
                  candidates: Sequence[str], k: int = 5,
                  spell: Callable[[str], str] = lambda a: a) -> SuggestResult:
    """`graph.suggest(..., candidates=...)`: the concrete actions available now, ranked
    (`spell` is kept for callers that pass it; the store reads any spelling)."""
    return graph.suggest(state, task=task, history=list(history), k=k,
                         candidates=list(candidates))


@dataclass
class ExperienceAgent:
    """Chooses among the available actions with `suggest`; learns online if asked.

    `history_form` renders a taken action the way the store spells actions (identity by
    default); `served` collects the skill and guardrail ids behind each answer of the
    current episode, for `metadata.retrieved`. Within an episode the agent never repeats an
    action from the same state (a loop guard: the second try would see the same answer)."""

    graph: ExperienceGraph
    online: bool = False
    refine_every: int = 8
    k: int = 5
    name: str = "expgraph-agent"
    history_form: Callable[[str], str] = staticmethod(lambda a: a)  # type: ignore[assignment]
    served: set[str] = field(default_factory=set)
    episodes: int = 0
    _tried: dict[str, set[str]] = field(default_factory=dict)

    def choose(self, state: str, task: str, history: Sequence[str],
               candidates: Sequence[str]) -> str:
        res = suggest_among(self.graph, state, task, [self.history_form(a) for a in history],
                            candidates, k=self.k, spell=self.history_form)
        tried = self._tried.setdefault(state, set())
        avoid = {a.action for a in res.avoid}
        for n in res.next:
            self.served.update(n.skills)
        for a in res.avoid:
            self.served.update(a.guardrails)
        allowed = set(candidates) - tried
        pick = next((n.action for n in res.next if n.action in allowed and n.action not in avoid),
                    None)
        if pick is None:
            rest = [c for c in candidates if c not in avoid and c not in tried]
            pick = (rest or [c for c in candidates if c not in tried] or list(candidates))[0]
        tried.add(pick)
        return pick

    def recorder(self, task: str) -> EpisodeRecorder:
        """Where the steps of one episode go: ingested at the end when online, kept otherwise."""
        self.served, self._tried = set(), {}
        return EpisodeRecorder(self._finish, task=task, agent=self.name)

    def _finish(self, episode: Episode) -> None:
        self.episodes += 1
        if not self.online:
            return
        episode.metadata["retrieved"] = sorted(self.served)
        self.graph.ingest(episode)
        if self.episodes % self.refine_every == 0:
            self.graph.refine()


# ---------------------------------------------------------------------------- a replay world
@dataclass
class ReplayTask:
    task: str
    observations: list[str]
    actions: list[str]
    results: list[str]
    options: list[list[str]]  # the actions offered at each step (recorded one included)


def _raw(step: dict[str, Any]) -> str:
    a = step["action"]
    return a.get("raw") or a["name"]


def replay_world(path: Path, every: int = 3, max_options: int = 6,
                 ) -> tuple[list[dict[str, Any]], list[ReplayTask]]:
    """Split the shipped episodes: every `every`-th successful episode of each agent becomes a
    task to play, the rest is the agent's starting experience."""
    episodes = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    by_agent: dict[str, list[dict[str, Any]]] = {}
    for ep in episodes:
        by_agent.setdefault(ep["agent"], []).append(ep)
    memory: list[dict[str, Any]] = []
    tasks: list[ReplayTask] = []
    for group in by_agent.values():
        wins = [e for e in group if e["outcome"].get("success")]
        held = {id(e) for e in wins[every - 1::every]}
        memory += [e for e in group if id(e) not in held]
        for ep in (e for e in group if id(e) in held):
            steps = ep["steps"]
            options = []
            for i, st in enumerate(steps):
                others = sorted({_raw(o["steps"][i]) for o in group
                                 if o is not ep and len(o["steps"]) > i} - {_raw(st)})
                opts = sorted([_raw(st), *others[:max_options - 1]])
                options.append(opts)
            tasks.append(ReplayTask(task=ep["task"], observations=[s["observation"] for s in steps],
                                    actions=[_raw(s) for s in steps],
                                    results=[s.get("result") or "" for s in steps],
                                    options=options))
    return memory, tasks


Policy = Callable[[str, str, Sequence[str], Sequence[str]], str]


def run_episode(task: ReplayTask, choose: Policy, recorder: EpisodeRecorder) -> float:
    """Play one task: ask the policy at every step, record the step, score = share of the
    recorded steps reached (1.0 = success)."""
    pos, history, budget = 0, [], 2 * len(task.actions)
    with recorder as ep:
        while pos < len(task.actions) and len(history) < budget:
            state, options = task.observations[pos], task.options[pos]
            action = choose(state, task.task, history, options)
            right = action == task.actions[pos]
            ep.step(observation=state, action=action,
                    result=task.results[pos] if right else "Nothing happens.", error=not right,
                    reward=(pos + right) / len(task.actions))  # the running score
            history.append(action)
            pos += right
        score = pos / len(task.actions)
        if score >= 1.0:
            ep.succeed(reward=1.0)
        else:
            ep.fail("step budget spent", reward=score)
    return score


def play(tasks: Sequence[ReplayTask], choose: Policy, recorder: Callable[[str], EpisodeRecorder],
         ) -> tuple[float, float]:
    scores = [run_episode(t, choose, recorder(t.task)) for t in tasks]
    return sum(scores) / len(scores), sum(s >= 1.0 for s in scores) / len(scores)


def main(argv: Sequence[str] | None = None) -> dict[str, tuple[float, float]]:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--episodes", type=Path, default=HERE / "episodes.jsonl")
    ap.add_argument("--mode", choices=["offline", "online", "both"], default="both")
    ap.add_argument("--db", default=None, help="SQLite file for the store (default: temporary)")
    ap.add_argument("--rounds", type=int, default=2, help="times the task list is played")
    ap.add_argument("--refine-every", type=int, default=8)
    args = ap.parse_args(argv)

    memory, tasks = replay_world(args.episodes)
    print(f"{len(memory)} episodes of experience, {len(tasks)} tasks to play "
          f"x {args.rounds} rounds")
    rng = random.Random(0)
    results: dict[str, tuple[float, float]] = {}
    results["random"] = play(tasks * args.rounds, lambda s, t, h, c: rng.choice(list(c)),
                             lambda task: EpisodeRecorder(lambda ep: None, task=task))
    modes = ["offline", "online"] if args.mode == "both" else [args.mode]
    with tempfile.TemporaryDirectory() as tmp:
        for mode in modes:
            db = Path(args.db).with_suffix(f".{mode}.db") if args.db else Path(tmp) / f"{mode}.db"
            db.unlink(missing_ok=True)
            t0 = time.perf_counter()
            with ExperienceGraph(db) as graph:
                graph.ingest(Episode.model_validate(e) for e in memory)
                graph.refine()
                agent = ExperienceAgent(graph, online=mode == "online",
                                        refine_every=args.refine_every)
                results[mode] = play(tasks * args.rounds, agent.choose, agent.recorder)
                grown = graph.stats()["nodes"].get("Episode", 0)
            print(f"{mode}: store has {grown} episodes after the run "
                  f"({time.perf_counter() - t0:.1f} s)")
    print(f"\n{'agent':10} {'mean score':>10} {'success':>8}")
    for name, (score, success) in results.items():
        print(f"{name:10} {score:10.2f} {success:8.0%}")
    return results


if __name__ == "__main__":
    main()
