"""Latency of `query` and `suggest` (query embedding included) on stores of 10,000 and
100,000 steps: p50 and p95 over queries built from steps the store has not seen, and the first
`suggest` after ingesting one new episode (the stall an online agent would pay per episode).

The stores are recombined from the real corpora in ../shared/data (bench/corpus.py
`realistic_corpus`: WebShop, ALFWorld, HotpotQA, tau retail; distinct texts grow with size),
ingested and distilled once and cached under bench/results/ (gitignored), so re-runs only
measure; a larger store seeds its embedding cache from the smaller ones. The first call after
opening a store builds the in-memory served corpus; it is reported apart as `cold`. The
after-write part runs on a copy of the store, so the cached store stays as built.

    .venv/bin/python bench/query_latency.py [--sizes 10000 100000] [--queries 200]
        [--data ../shared/data] [--synthetic]

Prints a table and writes bench/results/query_latency.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import (  # noqa: E402
    _Entities,
    generate_corpus,
    iter_realistic_corpus,
    load_real_pool,
)
from expgraph.embedder import default_embedder  # noqa: E402
from expgraph.graph import ExperienceGraph  # noqa: E402
from queries.corpus import clear_query_vectors, quiet_blas  # noqa: E402

RESULTS = Path(__file__).parent / "results"
STEPS_PER_EPISODE = 10  # the synthetic corpus only
PROBE_VARIANT = 10**6  # probes rewrite ids with variants no store draws: unseen text


def corpus(steps: int, seed: int, pool: list | None) -> Iterable:
    """The episodes of a store of `steps` steps; the real ones one at a time (ingest takes
    them in batches: a 1,000,000-step corpus is never held whole)."""
    if pool is None:
        return generate_corpus(steps // STEPS_PER_EPISODE, STEPS_PER_EPISODE, seed)
    return iter_realistic_corpus(steps, seed, pool=pool)


class _Progress:
    """Ingest progress on stderr, every `every` episodes (a 1M-step build runs for an hour)."""

    def __init__(self, every: int = 5000) -> None:
        self.every, self.done, self.t0 = every, 0, time.perf_counter()

    def __call__(self, n: int) -> None:
        before, self.done = self.done, self.done + n
        if before // self.every != self.done // self.every:
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
            print(f"  {self.done} episodes in {time.perf_counter() - self.t0:.0f} s "
                  f"(peak {rss} MB)", file=sys.stderr, flush=True)


def store_for(steps: int, seed: int, pool: list | None) -> Path:
    """The cached store of `steps` steps, generated and ingested when missing."""
    kind = "synthetic" if pool is None else "real"
    db = RESULTS / f"latency_{kind}_{steps}_seed{seed}.db"
    if db.exists():
        g = ExperienceGraph(db, embedder=default_embedder())
        done = g.store.get_meta("bench_complete", False)
        g.close()
        if done:
            return db
    # An interrupted build resumes: ingest skips the episodes already stored, and the texts
    # already embedded come from the store's embedding cache.
    episodes = corpus(steps, seed, pool)
    g = ExperienceGraph(db, embedder=default_embedder())
    seeded = 0
    for other in sorted(RESULTS.glob(f"latency_{kind}_*_seed{seed}.db")):
        if other != db:  # vectors of texts a smaller store already embedded: not re-embedded
            src = ExperienceGraph(other, embedder=default_embedder())
            items = {h: v for m, h, v in src.store.embedding_cache_items()
                     if m == g.embedder.name}
            src.close()
            g.store.cache_embeddings(g.embedder.name, items)
            seeded += len(items)
    t0 = time.perf_counter()
    report = g.ingest(episodes, progress=_Progress())
    g.store.set_meta("bench_complete", True)
    g.store.set_meta("bench_build", {
        "seconds": round(time.perf_counter() - t0, 1),
        "ingest_seconds": round(report.total_seconds, 1),
        "embed_seconds": round(report.embed_seconds, 1), "seeded_vectors": seeded,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)})
    print(f"{steps} steps: ingested and distilled {report.ingested} episodes in "
          f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
    g.close()
    return db


def probes(n: int, seed: int, pool: list | None, stream: str = "episodes",
           ) -> list[tuple[str, str, list[str]]]:
    """(state, task, history) of n calls on steps no store holds: real episodes with their ids
    and numbers rewritten as an unseen variant (synthetic: another seed). Unseen text,
    familiar structure. `episodes`: as an agent calls, each episode walked step by step, the
    same task at every step and the actions taken so far (the last 3) as history; `random`:
    a random step of a random such episode per call (the stream before: a task recurs only
    when its episode is drawn again)."""
    rng = random.Random(seed)
    if pool is None:
        eps = generate_corpus(max(n // 2, 1), STEPS_PER_EPISODE, seed + 1000)
    elif stream == "episodes":
        out: list[tuple[str, str, list[str]]] = []
        while len(out) < n:
            ep = fresh_episode(rng.choice(pool), PROBE_VARIANT + len(out))
            out += [(s.observation, ep.task, [a.action.raw or a.action.name
                                              for a in ep.steps[max(0, i - 3):i]])
                    for i, s in enumerate(ep.steps)]
        return out[:n]
    else:
        eps = [fresh_episode(rng.choice(pool), PROBE_VARIANT + i) for i in range(n)]
    out = []
    for _ in range(n):
        ep = rng.choice(eps)
        i = rng.randrange(len(ep.steps))
        out.append((ep.steps[i].observation, ep.task,
                    [s.action.raw or s.action.name for s in ep.steps[max(0, i - 3):i]]))
    return out


def fresh_episode(ep, variant: int):  # noqa: ANN001, ANN201
    """`ep` with its ids and numbers rewritten as `variant`, under a new episode id."""
    ent = _Entities(variant)
    data = ent(ep.model_dump(exclude={"id", "provenance", "started_at", "ended_at"}))
    return type(ep).model_validate({**data, "id": f"{ep.id}~probe{variant}"})


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


def measure(db: Path, queries: list[tuple[str, str, list[str]]], writes: list) -> dict:
    """Times `query` over the probes, then `suggest` over the same probes, each from an empty
    query-vector cache: every state text is new to the process, so each call embeds it (a
    task recurs within its episode, as in use). Then, per episode of `writes`: ingest it
    (with its online distillation) and time the next `suggest`."""
    clear_query_vectors()
    model = TimedModel(default_embedder())
    tmp = Path(tempfile.mkdtemp(dir=RESULTS))
    work = tmp / db.name
    shutil.copy(db, work)
    g = ExperienceGraph(work, embedder=model)
    nodes = g.store.count_by_label()
    state, task, hist = queries[0]
    t0 = time.perf_counter()
    g.query(state + " cold", task=task)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    g.suggest(state + " cold", task=task, history=hist)  # builds the step memory and index
    cold_suggest = time.perf_counter() - t0
    times: dict[str, list[float]] = {"query": [], "suggest": []}
    rest: dict[str, list[float]] = {"query": [], "suggest": []}
    cpu: dict[str, list[float]] = {"query": [], "suggest": []}
    for name in ("query", "suggest"):
        clear_query_vectors()  # (the same texts for both: neither finds the other's vectors)
        for n, (state, task, hist) in enumerate(queries):
            model.seconds = 0.0
            t0, c0 = time.perf_counter(), time.process_time()
            if name == "query":
                g.query(f"{state}\n({n})", task=task, k=10)
            else:
                g.suggest(f"{state}\n({n})", task=task, history=hist, k=5)
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
            rest[name].append(times[name][-1] - model.seconds)
    agreement = exact_agreement(g, queries[:50])
    after, after_cpu, again, ingest_s = [], [], [], []
    for n, ep in enumerate(writes):
        t0 = time.perf_counter()
        g.ingest([ep])
        ingest_s.append(time.perf_counter() - t0)
        # calls spread over the stream (its first calls are one episode's steps: not a sample
        # of what the warm p50 is the median of), each then asked again warm: the stall itself
        state, task, hist = queries[(n * len(queries)) // len(writes)]
        t0, c0 = time.perf_counter(), time.process_time()
        g.suggest(f"{state}\n(after {n})", task=task, history=hist, k=5)
        after.append(time.perf_counter() - t0)
        after_cpu.append(time.process_time() - c0)
        t0 = time.perf_counter()
        g.suggest(f"{state}\n(again {n})", task=task, history=hist, k=5)
        again.append(time.perf_counter() - t0)
    steps = g.store.count_by_label().get("Step", 0) - sum(len(e.steps) for e in writes)
    g.close()
    shutil.rmtree(tmp)
    row = {"steps": steps or nodes.get("Episode", 0) * STEPS_PER_EPISODE, "nodes": nodes,
           "cold_ms": round(1000 * cold, 1), "cold_suggest_ms": round(1000 * cold_suggest, 1),
           **agreement}
    if after:
        row["after_write_suggest_ms"] = [round(1000 * t, 1) for t in after]
        row["after_write_suggest_p50_ms"] = round(float(np.median(after)) * 1000, 1)
        row["after_write_suggest_max_ms"] = round(max(after) * 1000, 1)
        row["after_write_suggest_cpu_p50_ms"] = round(float(np.median(after_cpu)) * 1000, 1)
        row["after_write_same_call_warm_ms"] = [round(1000 * t, 1) for t in again]
        row["after_write_same_call_warm_p50_ms"] = round(float(np.median(again)) * 1000, 1)
        row["ingest_one_episode_p50_ms"] = round(float(np.median(ingest_s)) * 1000, 1)
    for name, ts in times.items():
        ms = 1000 * np.array(ts)
        row[f"{name}_p50_ms"] = round(float(np.percentile(ms, 50)), 1)
        row[f"{name}_p95_ms"] = round(float(np.percentile(ms, 95)), 1)
        row[f"{name}_cpu_p50_ms"] = round(1000 * float(np.median(cpu[name])), 1)
        row[f"{name}_without_embedding_p50_ms"] = round(
            float(np.percentile(1000 * np.array(rest[name]), 50)), 1)
    row["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    row["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return row


def exact_agreement(g, queries: list[tuple[str, str, list[str]]]) -> dict:  # noqa: ANN001
    """The ANN path against exact search on the same memory, per probe: recall@10 of the 10
    nearest successful steps, and whether `suggest` gives the same next actions (top 5)."""
    from expgraph.memory.features import candidate_rows
    from expgraph.memory.index import step_memory
    from queries.suggest import _probe

    mem = step_memory(g.store, g.embedder)
    if not mem.approximate:
        return {"ann": False}
    threshold = mem.ann_min_steps
    recall, ids, same = [], [], []
    try:
        for n, (state, task, hist) in enumerate(queries):
            probe = _probe(mem, g.embedder, f"{state}\n({n})", task, hist)
            out = {}
            for mode, thr in (("ann", threshold), ("exact", len(mem) + 1)):
                mem.ann_min_steps = thr
                rows = candidate_rows(mem, probe)
                res = g.suggest(f"{state}\n({n})", task=task, history=hist, k=5)
                sims = mem.sims("new", rows.neighbours, probe.new)
                out[mode] = (rows.neighbours.tolist(), sims, [a.action for a in res.next])
            (got, got_s, got_next), (want, want_s, want_next) = out["ann"], out["exact"]
            # recall@10 by similarity (ann-benchmarks' definition): a returned step counts
            # when it is at least as near as the exact 10th (a real store's duplicate texts
            # tie, and which of the tied steps is returned does not matter)
            kth = float(want_s.min()) if len(want_s) else 1.0
            recall.append(float(np.sum(got_s >= kth - 1e-5)) / max(len(want), 1))
            ids.append(len(set(got) & set(want)) / max(len(want), 1))
            same.append(got_next == want_next)
    finally:
        mem.ann_min_steps = threshold
    return {"ann": True, "recall_at_10": round(float(np.mean(recall)), 4),
            "same_steps_at_10": round(float(np.mean(ids)), 4),
            "same_next_actions": round(float(np.mean(same)), 4),
            "distinct_new": mem.distinct("new"), "distinct_window": mem.distinct("win")}


def _distinct(n: float) -> float:
    """Distinct newest messages among n realistic steps (bench/corpus.py growth: 4,190 at
    10,000, 16,082 at 100,000, 50,612 at 1,000,000)."""
    return 4190 * (n / 10_000) ** 0.55


class SyntheticSteps:
    """Steps shaped like the realistic corpus, without a model: unit vectors around 2,000
    topics, repeated the way real texts repeat (distinct messages grow like `_distinct`, a
    repeat picks the message of a random earlier step, so popular texts get more popular),
    10-step episodes, 60 action templates mostly following the topic, tasks repeating, 3 of
    4 episodes successful, some steps errored."""

    def __init__(self, dim: int, seed: int) -> None:
        from expgraph.memory.index import StepMemory

        self.rng = np.random.default_rng(seed)
        self.dim = dim
        self.centres = self.rng.standard_normal((2000, dim)).astype(np.float32)
        self.mem = StepMemory(generation=0, dim=dim, constants={})
        self.pool: dict[str, list[np.ndarray]] = {"new": [], "win": []}
        self.topic: dict[str, list[int]] = {"new": [], "win": []}
        self.used: dict[str, list[int]] = {"new": [], "win": []}  # distinct id per step
        self.acts = [f"act{i}[x]" for i in range(60)]
        self.tasks: list[np.ndarray] = []

    def vector(self, topic: int) -> np.ndarray:
        v = self.centres[topic] + 0.6 * self.rng.standard_normal(self.dim).astype(np.float32)
        return (v / np.linalg.norm(v)).astype(np.float32)

    def _pick(self, view: str, n: int) -> tuple[np.ndarray, int]:
        pool, used = self.pool[view], self.used[view]
        if not pool or self.rng.random() < _distinct(n + 1) - _distinct(n):
            topic = int(self.rng.integers(2000))
            pool.append(self.vector(topic))
            self.topic[view].append(topic)
            d = len(pool) - 1
        else:
            d = used[int(self.rng.integers(len(used)))]
        used.append(d)
        return pool[d], self.topic[view][d]

    def add(self, count: int) -> None:
        from expgraph.models import Label, NodeRecord

        rng, mem = self.rng, self.mem
        for _ in range(count):
            i = len(mem)
            new, topic = self._pick("new", i)
            win, _ = self._pick("win", i)
            e = i // 10
            if i % 10 == 0:
                self.episode_task = int(rng.integers(e // 14 + 1))
            while len(self.tasks) <= self.episode_task:
                self.tasks.append(self.vector(int(rng.integers(2000))))
            act = topic % 60 if rng.random() < 0.7 else int(rng.integers(60))
            mem.add(NodeRecord.model_construct(
                id=f"s{i}", label=Label.STEP, embedding=new, props={
                    "episode": f"e{e}", "key": self.acts[act],
                    "prev": [mem.keys[-1]] if i % 10 else [], "task": f"t{self.episode_task}",
                    "success": e % 4 != 0, "error": i % 23 == 0,
                    "state": f"st{topic % 800}", "index": i % 10}), win)
        for t in range(len(mem.tasks)):
            mem._task_vecs[t] = self.tasks[int(mem.tasks[t][1:])]
        mem._arrays = None

    def probes(self, count: int) -> list:
        from expgraph.memory.features import Probe

        out = []
        for _ in range(count):  # an unseen state near a seen one, a known task
            near = self.pool["new"][int(self.rng.integers(len(self.pool["new"])))]
            v = near + 0.05 * self.rng.standard_normal(self.dim).astype(np.float32)
            w = self.pool["win"][int(self.rng.integers(len(self.pool["win"])))]
            out.append(Probe(new=(v / np.linalg.norm(v)).astype(np.float32), win=w,
                             task=self.tasks[int(self.rng.integers(len(self.tasks)))],
                             history=[int(self.rng.integers(60))]))
        return out


def memory_scale(sizes: list[int], calls: int, seed: int) -> list[dict]:
    """The in-memory half of `suggest` alone (expgraph/memory: candidate rows), at sizes
    whose stores this machine cannot embed in a session, on `SyntheticSteps`. Times the
    first call (it builds the ANN index), the warm calls, then the first call after each of
    5 more episodes; and compares the ANN path with exact search on the same memory
    (recall@10 of the nearest successful steps, identical candidate rows)."""
    from expgraph.memory.features import candidate_rows

    steps = SyntheticSteps(default_embedder().dim, seed)
    rows = []
    for n in sorted(sizes):
        t0 = time.perf_counter()
        steps.add(n - len(steps.mem))
        fill = time.perf_counter() - t0
        mem = steps.mem
        probes_ = steps.probes(calls)
        t0 = time.perf_counter()
        with quiet_blas():
            candidate_rows(mem, probes_[0])  # builds (or grows) the index
        first = time.perf_counter() - t0
        warm, cpu = [], []
        for p in probes_:
            t0, c0 = time.perf_counter(), time.process_time()
            with quiet_blas():  # as `suggest` runs it
                candidate_rows(mem, p)
            warm.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        recall, same = [], []
        threshold = mem.ann_min_steps
        for p in probes_[:20]:
            with quiet_blas():
                a = candidate_rows(mem, p)
                mem.ann_min_steps = len(mem) + 1
                b = candidate_rows(mem, p)
                mem.ann_min_steps = threshold
            got, want = (mem.sims("new", r.neighbours, p.new) for r in (a, b))
            kth = float(want.min()) if len(want) else 1.0
            recall.append(float(np.sum(got >= kth - 1e-5)) / max(len(want), 1))
            same.append(a.candidates == b.candidates and np.allclose(a.next_x, b.next_x))
        after, after_cpu = [], []
        for p in probes_[:5]:
            steps.add(10)
            t0, c0 = time.perf_counter(), time.process_time()
            with quiet_blas():
                candidate_rows(mem, p)
            after.append(time.perf_counter() - t0)
            after_cpu.append(time.process_time() - c0)
        ms = 1000 * np.array(warm)
        rows.append({"steps": n, "distinct_new": mem.distinct("new"),
                     "distinct_window": mem.distinct("win"), "tasks": len(mem.tasks),
                     "ann": mem.approximate, "fill_s": round(fill, 1),
                     "first_call_s": round(first, 2),
                     "warm_p50_ms": round(float(np.percentile(ms, 50)), 1),
                     "warm_p95_ms": round(float(np.percentile(ms, 95)), 1),
                     "warm_cpu_p50_ms": round(1000 * float(np.median(cpu)), 1),
                     "after_add_p50_ms": round(1000 * float(np.median(after)), 1),
                     "after_add_cpu_p50_ms": round(1000 * float(np.median(after_cpu)), 1),
                     "recall_at_10": round(float(np.mean(recall)), 4),
                     "same_candidate_rows": round(float(np.mean(same)), 4),
                     "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                          / 1024),
                     "load_average": [round(x, 2) for x in os.getloadavg()]})
        print(rows[-1], file=sys.stderr, flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--queries", type=int, default=200, help="timed calls of each function")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--writes", type=int, default=5,
                    help="episodes ingested one at a time, each followed by a timed suggest")
    ap.add_argument("--data", type=Path, default=None,
                    help="the real corpora (default: ../shared/data beside the repository)")
    ap.add_argument("--synthetic", action="store_true",
                    help="the old generated shop/support corpus instead of the real one")
    ap.add_argument("--out", type=Path, default=RESULTS / "query_latency.json")
    ap.add_argument("--stream", choices=["episodes", "random"], default="episodes",
                    help="the calls: episodes walked step by step (as an agent asks: one task "
                         "per episode) or a random step per call (the stream before)")
    ap.add_argument("--build-only", action="store_true",
                    help="build (or finish) the stores of --sizes and print their build cost")
    ap.add_argument("--memory-only", type=int, nargs="*", metavar="STEPS",
                    help="only the in-memory part of suggest at these sizes (no store, no model"
                         " calls); writes bench/results/query_latency_memory.json")
    ap.add_argument("--threads", type=int, default=None,
                    help="cap torch and BLAS threads (on an oversubscribed machine 1 thread "
                         "avoids waiting at every parallel barrier)")
    args = ap.parse_args()
    RESULTS.mkdir(exist_ok=True)
    if args.threads:
        import torch

        # the ONNX backend's session reads it when it is made (below): one thread there too
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(args.threads)
        threadpool_limits(args.threads)
    if args.memory_only:
        rows = memory_scale(args.memory_only, min(args.queries, 50), args.seed)
        keys = ["steps", "distinct_new", "ann", "first_call_s", "warm_p50_ms", "warm_p95_ms",
                "warm_cpu_p50_ms", "after_add_p50_ms", "after_add_cpu_p50_ms", "recall_at_10",
                "same_candidate_rows", "peak_rss_mb"]
        print(" ".join(f"{k:>12}" for k in keys))
        for r in rows:
            print(" ".join(f"{r[k]!s:>12}" for k in keys))
        print("(milliseconds unless _s: candidate rows of one suggest, synthetic realistic steps;"
              f" load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} on "
              f"{os.cpu_count()} cpus)")
        (RESULTS / "query_latency_memory.json").write_text(json.dumps(
            {"cpus": os.cpu_count(), "threads": args.threads, "rows": rows}, indent=2))
        return
    default_embedder().embed(["warm up"])
    pool = None if args.synthetic else load_real_pool(args.data)
    queries = probes(args.queries, args.seed, pool, args.stream)
    if pool is None:
        writes = generate_corpus(args.writes, STEPS_PER_EPISODE, args.seed + 2000)
    else:
        rng = random.Random(args.seed + 2000)
        writes = [fresh_episode(rng.choice(pool), 2 * PROBE_VARIANT + i)
                  for i in range(args.writes)]
    if args.build_only:
        for n in args.sizes:
            db = store_for(n, args.seed, pool)
            g = ExperienceGraph(db, embedder=default_embedder())
            print(f"{db}: {g.store.get_meta('bench_build')}")
            g.close()
        return
    rows = [measure(store_for(n, args.seed, pool), queries, writes) for n in args.sizes]
    headers = ["steps", "skills", "states", "query p50", "query p95", "suggest p50",
               "suggest p95", "s cpu p50", "cold", "q p50 -emb", "s p50 -emb", "after write",
               "its cpu", "same warm", "ingest 1 ep", "peak MB"]
    print("  ".join(f"{h:>11}" for h in headers))
    for r in rows:
        vals = [r["steps"], r["nodes"].get("Skill", 0), r["nodes"].get("State", 0),
                r["query_p50_ms"], r["query_p95_ms"], r["suggest_p50_ms"], r["suggest_p95_ms"],
                r["suggest_cpu_p50_ms"], r["cold_ms"], r["query_without_embedding_p50_ms"],
                r["suggest_without_embedding_p50_ms"], r.get("after_write_suggest_p50_ms"),
                r.get("after_write_suggest_cpu_p50_ms"),
                r.get("after_write_same_call_warm_p50_ms"), r.get("ingest_one_episode_p50_ms"),
                r["peak_rss_mb"]]
        print("  ".join(f"{v:>11}" for v in vals))
    print("(milliseconds, wall clock unless `cpu`: this process's CPU time, what the call costs"
          " without waiting for a core; query embedding included; `-emb`: minus model time;"
          " `after write`: median first suggest after ingesting one episode, `same warm`: the"
          " same calls asked again right after; load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cpus)")
    env = {"cpus": os.cpu_count(), "threads": args.threads, "stream": args.stream,
           "python": platform.python_version(),
           "load_average": os.getloadavg(), "corpus": "synthetic" if pool is None else "real"}
    args.out.write_text(json.dumps({"env": env, "queries": args.queries, "writes": args.writes,
                                    "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
