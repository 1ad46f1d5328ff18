"""Embedded SQLite vs a Bolt server on the same generated corpus: ingest throughput and query
latency (p50 / p95). Prints a table and writes bench/results/backends.json.

    .venv/bin/python bench/backends.py [--episodes 1000] [--steps 10] [--queries 100]
                                       [--uri bolt://... (default: start a local ArcadeDB)]

The Bolt server started here is ArcadeDB and is reported as "Bolt-compatible (ArcadeDB)",
never as Neo4j. "query" = the store operations retrieval uses (vector top-k on State and Skill,
full-text search, the graph walk with the hybrid preset's relationships, hops and decay from the
nearest states) plus `queries.retrieval.query` end to end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from bench.corpus import generate_corpus  # noqa: E402
from expgraph.distill import distill  # noqa: E402
from expgraph.embedder import CachedEmbedder, default_embedder  # noqa: E402
from expgraph.models import Label, Rel  # noqa: E402
from expgraph.store.base import GraphStore  # noqa: E402
from ingestion.pipeline import Ingestor  # noqa: E402
from queries.config import get_config  # noqa: E402
from queries.corpus import clear_query_vectors  # noqa: E402
from queries.retrieval import query  # noqa: E402


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))] if xs else float("nan")


def time_ops(store: GraphStore, embedder: Any, probes: list[tuple[str, str]]) -> dict[str, Any]:
    """p50/p95 in ms of each retrieval-side operation over the probe states."""
    vecs = embedder.embed([s for s, _ in probes])
    walk = get_config("hybrid").graph  # the walk retrieval does
    walk_seeds = walk.seed_states
    ops: dict[str, Callable[[int], Any]] = {
        "vector_top_k State": lambda i: store.vector_top_k(Label.STATE, vecs[i], 10),
        "vector_top_k Skill": lambda i: store.vector_top_k(Label.SKILL, vecs[i], 10),
        "text_search": lambda i: store.text_search(probes[i][0][:200], k=10),
        f"expand {walk.hops} hops": lambda i: store.expand(
            {n.id: s for n, s in store.vector_top_k(Label.STATE, vecs[i], walk_seeds)},
            walk.rels, walk.hops, walk.decay),
    }

    def end_to_end(i: int) -> Any:
        clear_query_vectors()  # every call embeds its state, as a new observation would
        return query(store, embedder, probes[i][0], task=probes[i][1], k=10)

    ops["retrieval.query (end to end)"] = end_to_end
    out = {}
    for name, fn in ops.items():
        fn(0)  # warm caches / plans
        times = []
        for i in range(len(probes)):
            t0 = time.perf_counter()
            fn(i)
            times.append((time.perf_counter() - t0) * 1000)
        out[name] = {"p50_ms": round(pct(times, 0.5), 2), "p95_ms": round(pct(times, 0.95), 2),
                     "mean_ms": round(statistics.fmean(times), 2)}
    return out


def run_backend(name: str, store: GraphStore, model: Any, episodes: list,
                probes: list[tuple[str, str]], do_distill: bool = True) -> dict[str, Any]:
    embedder = CachedEmbedder(model, store)
    t0 = time.perf_counter()
    report = Ingestor(store, embedder).ingest(episodes)
    ingest_s = time.perf_counter() - t0
    distill_s = None
    if do_distill:
        t1 = time.perf_counter()
        distill(store, embedder)
        distill_s = time.perf_counter() - t1
    row = {"backend": name, "episodes": report.ingested, "steps": report.steps,
           "ingest_s": round(ingest_s, 2), "embed_s": round(report.embed_seconds, 2),
           "graph_write_s": round(ingest_s - report.embed_seconds, 2),
           "episodes_per_s": round(report.ingested / ingest_s, 1),
           "distill_s": round(distill_s, 2) if distill_s is not None else None,
           "nodes": store.count_by_label(), "edges": store.count_by_type()}
    row["queries"] = time_ops(store, embedder, probes)
    return row


def _cell(q: dict[str, float]) -> str:
    return f"p50 {q['p50_ms']:.1f} / p95 {q['p95_ms']:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--episodes", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--uri", default=os.environ.get("BOLT_COMPAT_URI"),
                    help="Bolt server (default: start a local ArcadeDB for this run)")
    ap.add_argument("--no-distill", action="store_true",
                    help="skip distillation (then Skill search and retrieval find nothing)")
    ap.add_argument("--label", default=None, help="how to report the Bolt server")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "backends.json")
    args = ap.parse_args()

    episodes = generate_corpus(args.episodes, args.steps, args.seed)
    probe_eps = generate_corpus(args.queries, 3, args.seed + 1)
    probes = [(e.steps[1].observation or e.task, e.task) for e in probe_eps]
    model = default_embedder()
    model.embed(["warm up"])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        from expgraph.store import SQLiteStore

        store = SQLiteStore(Path(tmp) / "bench.db")
        rows.append(run_backend("embedded SQLite", store, model, episodes, probes,
                                not args.no_distill))
        store.close()
    server = None
    uri, user, password = args.uri, os.environ.get("BOLT_COMPAT_USER", "root"), \
        os.environ.get("BOLT_COMPAT_PASSWORD", "")
    label = args.label or "Bolt-compatible (ArcadeDB)"
    startup = None
    if not uri:
        import bolt_server

        server = bolt_server.start()
        os.environ["ARCADEDB_HTTP_URL"] = server.http_url
        uri, user, password, startup = server.uri, server.user, server.password, \
            server.startup_seconds
    try:
        from expgraph.store.neo4j import Neo4jStore

        t0 = time.perf_counter()
        store = Neo4jStore.connect(uri, namespace=f"bench-{uuid.uuid4().hex[:8]}", user=user,
                                   password=password)
        connect_s = time.perf_counter() - t0
        row = run_backend(label, store, model, episodes, probes, not args.no_distill)
        row["server_start_s"] = round(startup, 2) if startup is not None else None
        row["connect_s"] = round(connect_s, 2)
        rows.append(row)
        store.clear_derived(list(Label), list(Rel))
        store.close()
    finally:
        if server is not None:
            bolt_server.stop_pid(server.pid)

    print(f"backends benchmark: {args.episodes} episodes x {args.steps} steps, "
          f"{args.queries} query states")
    print(f"{'backend':<28} {'ingest s':>9} {'embed s':>8} {'write s':>8} {'ep/s':>7} "
          f"{'distill s':>9}")
    for r in rows:
        distill_s = r["distill_s"] if r["distill_s"] is not None else "-"
        print(f"{r['backend']:<28} {r['ingest_s']:>9} {r['embed_s']:>8} "
              f"{r['graph_write_s']:>8} {r['episodes_per_s']:>7} {distill_s:>9}")
    print(f"\n{'query (ms)':<32}" + "".join(f"{r['backend'][:24]:>28}" for r in rows))
    for op in rows[0]["queries"]:
        cells = "".join(
            f"{_cell(r['queries'][op]):>28}" for r in rows if op in r["queries"])
        print(f"{op:<32}{cells}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"episodes": args.episodes, "steps": args.steps,
                                    "queries": args.queries, "results": rows}, indent=2))


if __name__ == "__main__":
    main()
