"""The closed loop in ScienceWorld: does an agent whose policy is `suggest` (over the actions
available now) play unseen task variations well, and does it improve while it plays?

Experience: for each task, its first N training variations (fewer where the task has fewer): the
gold path played in the env (a success) and a copy that goes wrong at the decisive step (the
first `focus on`, else the first `connect`, done on another object: a failure, that step
marked errored), both with real observations and scores (bench/sciworld_env.py). Test: the first N
variations of `--split` (dev or test: the verdict; tune: the next N training variations, which
the experience does not use, for choosing settings without looking at dev or test), at most
2 x the gold path's length steps. Each agent chooses among the same candidate actions per
state (the env's valid actions, filtered, deduplicated and capped: see bench/sciworld_env.py).

Agents, all in the same run:
- random: a uniformly random candidate (seeded per variation);
- nn-imitation: the 5 successful experience steps nearest by MiniLM over task + state vote, with
  their similarity, for the candidate most like the action they took (cosine of MiniLM vectors);
- expgraph-offline: `ExperienceAgent` of examples/agent_loop.py on a store of the experience
  (ingested, refined): ranks the candidates with `suggest(state, task, history, candidates)` and
  skips what `avoid` flags;
- expgraph-online: the same agent on its own copy of the store; each finished test episode is
  ingested with `metadata.retrieved` (the skills and guardrails it was served: execution
  feedback; the step that ends it in failure, ScienceWorld's -100, marked errored) and `refine`
  runs every 8 episodes.
The three non-random agents never repeat an action from the same state within an episode.
Score: ScienceWorld's 0-100 score at the end (a failed task's -100 counts 0); success = 100.
The simulator runs repeatable (`bench/sciworld_env.REPEATABLE_JVM`): a variation reads the same
in every run and whatever was played before it, so the experience, texts and candidates are the
same for every agent and every run.

    .venv/bin/python bench/closed_loop.py [--split dev|test|tune] [--tasks T ...] [--variations 8]
                                          [--agents ...] [--cap 1000]

Needs `pip install -e ".[bench]"` (ScienceWorld) and Java 17. Prints a table per task and
overall; writes bench/results/closed_loop.json.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.sciworld_env import (  # noqa: E402
    CAP,
    TASKS,
    act,
    candidate_actions,
    experience,
    final_score,
    load,
    science_world,
    sciworld_action,
    variations,
)
from examples.agent_loop import ExperienceAgent  # noqa: E402
from expgraph.embedder import CachedEmbedder, default_embedder  # noqa: E402
from expgraph.graph import ExperienceGraph  # noqa: E402
from expgraph.models import Episode  # noqa: E402
from expgraph.templates import action_key  # noqa: E402
from ingestion.record import EpisodeRecorder  # noqa: E402

RESULTS = ROOT / "bench" / "results"
AGENTS = ["random", "nn-imitation", "expgraph-offline", "expgraph-online"]
Policy = Callable[[str, str, Sequence[str], Sequence[str]], str]


class NearestNeighbour:
    """Imitation of the nearest successful steps (the baseline the issue names)."""

    def __init__(self, embedder: CachedEmbedder, episodes: Sequence[Episode], k: int = 5) -> None:
        self.embedder, self.k = embedder, k
        keys, actions = [], []
        for ep in episodes:
            if ep.outcome.success:
                for st in ep.steps:
                    keys.append(f"{ep.task}\n{st.observation}")
                    actions.append(st.action.raw or st.action.name)
        self.keys = embedder.embed(keys)
        self.actions = embedder.embed(actions)
        self.tried: dict[str, set[str]] = {}

    def start(self) -> None:
        self.tried = {}

    def choose(self, state: str, task: str, history: Sequence[str],
               candidates: Sequence[str]) -> str:
        sims = self.keys @ self.embedder.embed([f"{task}\n{state}"])[0]
        near = np.argsort(-sims, kind="stable")[:self.k]
        cands = self.embedder.embed(list(candidates))
        votes = (cands @ self.actions[near].T) @ sims[near]
        tried = self.tried.setdefault(state, set())
        for i in np.argsort(-votes, kind="stable"):
            if candidates[i] not in tried:
                tried.add(candidates[i])
                return candidates[i]
        return candidates[0]


def play(env: Any, task: str, variation: int, choose: Policy,
         recorder: Callable[[str], EpisodeRecorder], budget: int, cap: int = CAP,
         ) -> dict[str, Any]:
    """One test episode of at most `budget` steps; the episode goes to `recorder`'s sink."""
    var = load(env, task, variation)
    view, history, score = var.start, [], 0
    with recorder(var.description) as ep:
        for _ in range(budget):
            cands = candidate_actions(env, cap)
            action = choose(view, var.description, history, cands)
            res = act(env, action)
            # the step that ends the task in failure (ScienceWorld's -100) is the error
            ep.step(observation=view, action=sciworld_action(action), result=res.result,
                    reward=float(res.score), error=res.done and res.score < 0)
            history.append(action)
            view, score = res.view, res.score
            if res.done:
                break
        final = final_score(score)
        if final >= 100:
            ep.succeed(reward=1.0)
        else:
            ep.fail(f"score {final} after {len(history)} steps", reward=final / 100)
    return {"task": task, "variation": variation, "score": final, "success": final >= 100,
            "steps": len(history), "budget": budget, "actions": history}


def build_experience(env: Any, tasks: Sequence[str], n: int) -> list[Episode]:
    out: list[Episode] = []
    for task in tasks:
        for v in variations(env, task, "train", n):
            good, bad = experience(env, task, v)
            out.append(good.episode(f"{task}-train{v}-gold"))
            if bad is not None:
                out.append(bad.episode(f"{task}-train{v}-mistake"))
    return out


def summarise(rows: list[dict[str, Any]], tasks: Sequence[str], agents: Sequence[str],
              ) -> dict[str, dict[str, dict[str, float]]]:
    table: dict[str, dict[str, dict[str, float]]] = {}
    for task in [*tasks, "overall"]:
        table[task] = {}
        for agent in agents:
            sel = [r for r in rows if r["agent"] == agent and task in (r["task"], "overall")]
            if sel:
                table[task][agent] = {
                    "mean_score": round(sum(r["score"] for r in sel) / len(sel), 1),
                    "success_rate": round(sum(r["success"] for r in sel) / len(sel), 3),
                    "episodes": len(sel)}
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", nargs="*", default=TASKS)
    ap.add_argument("--variations", type=int, default=8,
                    help="train variations for experience and dev variations for test, per task")
    ap.add_argument("--split", choices=["dev", "test", "tune"], default="dev",
                    help="which variations the agents play: dev and test are the verdict; tune "
                         "(training variations the experience does not use) is for choosing "
                         "settings")
    ap.add_argument("--agents", nargs="*", default=AGENTS, choices=AGENTS)
    ap.add_argument("--cap", type=int, default=CAP,
                    help="candidate actions per state, the same for every agent")
    ap.add_argument("--refine-every", type=int, default=8)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--out", type=Path, default=RESULTS / "closed_loop.json")
    args = ap.parse_args()

    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    with science_world() as env, tempfile.TemporaryDirectory() as tmp:
        episodes = build_experience(env, args.tasks, args.variations)
        n_fail = sum(not e.outcome.success for e in episodes)
        print(f"experience: {len(episodes)} episodes ({len(episodes) - n_fail} gold, "
              f"{n_fail} with a mistake) in {time.perf_counter() - t0:.0f} s")
        offline_db = Path(tmp) / "offline.db"
        with ExperienceGraph(offline_db) as g:
            g.ingest(episodes)
            g.refine()
        online_db = Path(tmp) / "online.db"
        shutil.copy(offline_db, online_db)

        graphs = {"expgraph-offline": ExperienceGraph(offline_db),
                  "expgraph-online": ExperienceGraph(online_db)}
        policies: dict[str, tuple[Policy, Callable[[str], EpisodeRecorder]]] = {}
        for name, graph in graphs.items():
            agent = ExperienceAgent(graph, online=name.endswith("online"), k=args.k,
                                    refine_every=args.refine_every, name=name,
                                    history_form=lambda a: action_key(sciworld_action(a)))
            policies[name] = (agent.choose, agent.recorder)
        embedder = CachedEmbedder(default_embedder())
        nn = NearestNeighbour(embedder, episodes)

        def nn_recorder(task: str) -> EpisodeRecorder:
            nn.start()
            return EpisodeRecorder(lambda ep: None, task=task, agent="nn-imitation")

        policies["nn-imitation"] = (nn.choose, nn_recorder)
        try:
            for task in args.tasks:
                for v in variations(env, task, args.split, args.variations):
                    rng = random.Random(f"{task}-{v}")
                    # The simulator's gold path can differ between loads of one variation:
                    # the budget is fixed once, the same for every agent.
                    budget = 2 * len(load(env, task, v).gold)
                    policies["random"] = (
                        lambda s, t, h, c, rng=rng: rng.choice(list(c)),
                        lambda task: EpisodeRecorder(lambda ep: None, task=task))
                    for name in args.agents:
                        t1 = time.perf_counter()
                        choose, recorder = policies[name]
                        row = play(env, task, v, choose, recorder, budget, args.cap)
                        row.update(agent=name, seconds=round(time.perf_counter() - t1, 1))
                        rows.append(row)
                        print(f"{task:44} {args.split} {v:3} {name:17} score {row['score']:4} "
                              f"steps {row['steps']:3}/{row['budget']:3} ({row['seconds']} s)",
                              flush=True)
        finally:
            for g in graphs.values():
                g.close()

    table = summarise(rows, args.tasks, args.agents)
    print(f"\nmean score (0-100) / success rate; {time.perf_counter() - t0:.0f} s")
    head = f"{'task':44} " + " ".join(f"{a:>20}" for a in args.agents)
    print(head)
    for task, per in table.items():
        cells = []
        for a in args.agents:
            m = per.get(a)
            cells.append(f"{m['mean_score']:8.1f} / {m['success_rate']:5.0%}    " if m else " " * 20)
        n = next(iter(per.values()))["episodes"] if per else 0
        print(f"{task + f' ({n})':44} " + " ".join(f"{c:>20}" for c in cells))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "config": {"tasks": args.tasks, "variations": args.variations, "split": args.split,
                   "agents": args.agents,
                   "candidate_cap": args.cap, "refine_every": args.refine_every, "k": args.k,
                   "experience_episodes": len(episodes), "experience_failures": n_fail},
        "table": table, "episodes": rows,
        "seconds": round(time.perf_counter() - t0, 1)}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
