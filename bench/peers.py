"""A side-by-side anchor: txtai (a plain semantic index: embed, store, search) on the same
texts and queries as expgraph, in the same run, with the same model (the local
all-MiniLM-L6-v2 package directory) and the same thread count.

expgraph ingests a realistic corpus (bench/corpus.py: steps recombined from the real corpora,
embedding, graph writing and online distillation included) into a fresh SQLite store; txtai
indexes the texts that corpus gives a step memory (each step's newest message and window,
distinct, as expgraph embeds them) into a fresh faiss index. Then both answer the same unseen
states: expgraph `query` and `suggest`, txtai `search` (k=10), each embedding its query.

    .venv/bin/python bench/peers.py [--steps 2000] [--queries 100] [--threads 1]

Prints the times and the ratios expgraph / txtai; writes bench/results/peers.json. txtai is an
optional bench dependency (`pip install -e ".[bench]"`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RESULTS = Path(__file__).parent / "results"


def p50(ts: list[float]) -> float:
    return round(1000 * float(np.median(ts)), 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS / "peers.json")
    args = ap.parse_args()
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    from txtai import Embeddings

    from bench.corpus import load_real_pool, realistic_corpus
    from bench.query_latency import probes
    from expgraph.embedder import _local_model_path, default_embedder
    from expgraph.graph import ExperienceGraph
    from expgraph.memory.records import step_views
    from queries.corpus import clear_query_vectors

    pool = load_real_pool()
    episodes = realistic_corpus(args.steps, args.seed, pool=pool)
    texts = list(dict.fromkeys(t for ep in episodes for s in ep.steps
                               for t in step_views(s.observation)))
    queries = probes(args.queries, args.seed + 1, pool, "random")  # (as its table was made)
    default_embedder().embed(["warm up"])

    tmp = Path(tempfile.mkdtemp())
    try:
        g = ExperienceGraph(tmp / "peers.db", embedder=default_embedder())
        t0 = time.perf_counter()
        report = g.ingest(episodes)
        ingest_s = time.perf_counter() - t0
        clear_query_vectors()
        q_times, s_times = [], []
        for n, (state, task, hist) in enumerate(queries):
            t0 = time.perf_counter()
            g.query(f"{state}\n({n})", task=task, k=10)
            q_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            g.suggest(f"{state}\n({n}).", task=task, history=hist, k=5)
            s_times.append(time.perf_counter() - t0)
        steps = g.store.count_by_label().get("Step", 0)
        g.close()

        tx = Embeddings(path=_local_model_path(), content=False, backend="faiss")
        tx.transform("warm up")  # its model loaded before timing, as expgraph's is
        t0 = time.perf_counter()
        tx.index([(i, t, None) for i, t in enumerate(texts)])
        index_s = time.perf_counter() - t0
        t_times = []
        for n, (state, _, _) in enumerate(queries):
            t0 = time.perf_counter()
            tx.search(f"{state}\n({n})", 10)
            t_times.append(time.perf_counter() - t0)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load = [round(x, 2) for x in os.getloadavg()]
    row = {"steps": steps, "episodes": len(episodes), "texts": len(texts),
           "expgraph_ingest_s": round(ingest_s, 1),
           "expgraph_embed_s": round(report.embed_seconds, 1),
           "txtai_index_s": round(index_s, 1),
           "ingest_ratio": round(ingest_s / index_s, 2),
           "expgraph_query_p50_ms": p50(q_times), "expgraph_suggest_p50_ms": p50(s_times),
           "txtai_search_p50_ms": p50(t_times),
           "query_ratio": round(float(np.median(q_times) / np.median(t_times)), 2),
           "suggest_ratio": round(float(np.median(s_times) / np.median(t_times)), 2),
           "threads": args.threads, "load_average": load}
    for k, v in row.items():
        print(f"{k:>24}  {v}")
    print(f"(ratios are expgraph / txtai; same model, {args.threads} thread(s); "
          f"load average {load})")
    args.out.write_text(json.dumps(row, indent=2))


if __name__ == "__main__":
    main()
