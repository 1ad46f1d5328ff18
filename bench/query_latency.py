"""Latency of `query` and `suggest` (query embedding included) on generated stores of 10,000
and 100,000 steps: p50 and p95 over queries built from steps the store has not seen.

The stores are generated with bench/corpus.py, ingested and distilled once, and cached under
bench/results/ (gitignored), so re-runs only measure. The first call after opening a store
builds the in-memory served corpus (BM25 index, templates); it is reported apart as `cold`.

    .venv/bin/python bench/query_latency.py [--sizes 10000 100000] [--queries 200]

Prints a table and writes bench/results/query_latency.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import generate_corpus  # noqa: E402
from expgraph.embedder import default_embedder  # noqa: E402
from expgraph.graph import ExperienceGraph  # noqa: E402
from queries.corpus import clear_query_vectors  # noqa: E402

RESULTS = Path(__file__).parent / "results"
STEPS_PER_EPISODE = 10


def store_for(steps: int, seed: int) -> Path:
    """The cached store of `steps` steps, generated and ingested when missing."""
    db = RESULTS / f"latency_{steps}_seed{seed}.db"
    if db.exists():
        g = ExperienceGraph(db, embedder=default_embedder())
        done = g.store.get_meta("bench_complete", False)
        g.close()
        if done:
            return db
    for p in RESULTS.glob(db.name + "*"):
        p.unlink()
    episodes = generate_corpus(steps // STEPS_PER_EPISODE, STEPS_PER_EPISODE, seed)
    g = ExperienceGraph(db, embedder=default_embedder())
    t0 = time.perf_counter()
    report = g.ingest(episodes)
    g.store.set_meta("bench_complete", True)
    print(f"{steps} steps: ingested and distilled {report.ingested} episodes in "
          f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
    g.close()
    return db


def probes(n: int, seed: int) -> list[tuple[str, str, list[str]]]:
    """(state, task, history) from episodes of another seed: unseen text, familiar structure."""
    rng = random.Random(seed)
    eps = generate_corpus(max(n // 2, 1), STEPS_PER_EPISODE, seed + 1000)
    out = []
    for _ in range(n):
        ep = rng.choice(eps)
        i = rng.randrange(len(ep.steps))
        out.append((ep.steps[i].observation, ep.task,
                    [s.action.raw or s.action.name for s in ep.steps[max(0, i - 3):i]]))
    return out


class TimedModel:
    """The real model, timing its calls: splits each query's latency into embedding and the
    rest (the rest is what retrieval itself costs)."""

    def __init__(self, inner) -> None:  # noqa: ANN001
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.seconds = 0.0

    def embed(self, texts):  # noqa: ANN001, ANN201
        t0 = time.perf_counter()
        try:
            return self.inner.embed(texts)
        finally:
            self.seconds += time.perf_counter() - t0


def measure(db: Path, queries: list[tuple[str, str, list[str]]]) -> dict:
    """The first half of the probes times `query`, the second `suggest`: every state text is
    new to the process, so each call embeds it (tasks and signatures recur, as in use)."""
    clear_query_vectors()
    model = TimedModel(default_embedder())
    g = ExperienceGraph(db, embedder=model)
    nodes = g.store.count_by_label()
    state, task, hist = queries[0]
    t0 = time.perf_counter()
    g.query(state + " cold", task=task)
    cold = time.perf_counter() - t0
    times: dict[str, list[float]] = {"query": [], "suggest": []}
    rest: dict[str, list[float]] = {"query": [], "suggest": []}
    half = len(queries) // 2
    for n, (state, task, hist) in enumerate(queries):
        name = "query" if n < half else "suggest"
        model.seconds = 0.0
        t0 = time.perf_counter()
        if name == "query":
            g.query(f"{state}\n({n})", task=task, k=10)
        else:
            g.suggest(f"{state}\n({n})", task=task, history=hist, k=5)
        times[name].append(time.perf_counter() - t0)
        rest[name].append(times[name][-1] - model.seconds)
    g.close()
    row = {"steps": nodes.get("Episode", 0) * STEPS_PER_EPISODE, "nodes": nodes,
           "cold_ms": round(1000 * cold, 1)}
    for name, ts in times.items():
        ms = 1000 * np.array(ts)
        row[f"{name}_p50_ms"] = round(float(np.percentile(ms, 50)), 1)
        row[f"{name}_p95_ms"] = round(float(np.percentile(ms, 95)), 1)
        row[f"{name}_without_embedding_p50_ms"] = round(
            float(np.percentile(1000 * np.array(rest[name]), 50)), 1)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--queries", type=int, default=200, help="timed calls of each function")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS / "query_latency.json")
    args = ap.parse_args()
    RESULTS.mkdir(exist_ok=True)
    default_embedder().embed(["warm up"])
    queries = probes(2 * args.queries, args.seed)
    rows = [measure(store_for(n, args.seed), queries) for n in args.sizes]
    headers = ["steps", "skills", "states", "query p50", "query p95", "suggest p50",
               "suggest p95", "cold", "q p50 -emb", "s p50 -emb"]
    print("  ".join(f"{h:>11}" for h in headers))
    for r in rows:
        vals = [r["steps"], r["nodes"].get("Skill", 0), r["nodes"].get("State", 0),
                r["query_p50_ms"], r["query_p95_ms"], r["suggest_p50_ms"], r["suggest_p95_ms"],
                r["cold_ms"], r["query_without_embedding_p50_ms"],
                r["suggest_without_embedding_p50_ms"]]
        print("  ".join(f"{v:>11}" for v in vals))
    print("(milliseconds; query embedding included; `-emb`: the same calls minus model time)")
    env = {"cpus": os.cpu_count(), "python": platform.python_version(),
           "load_average": os.getloadavg()}
    args.out.write_text(json.dumps({"env": env, "queries": args.queries, "rows": rows},
                                   indent=2))


if __name__ == "__main__":
    main()
