"""Which approximate nearest-neighbour library backs the step memory: hnswlib, usearch and
faiss-cpu (HNSW in each, inner product on unit vectors) against exact numpy search, on the
step vectors of a latency store (bench/query_latency.py builds it) or random unit vectors.

For each: time to add the vectors (in ingest-sized batches, one thread), single-query search
time at k=10 and at the pool size the step memory asks for (one thread), recall@10 against
exact search, and whether it can restrict a search to a subset (a filter) without a Python
callback per visited node.

    .venv/bin/python bench/ann_compare.py [--db bench/results/latency_real_100000_seed0.db]
        [--random 100000] [--queries 200]

Prints a table and writes bench/results/ann_compare.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RESULTS = Path(__file__).parent / "results"
M, EF_CONSTRUCTION, EF_SEARCH, POOL = 16, 160, 256, 128  # as expgraph/memory/ann.py


def store_vectors(db: Path) -> np.ndarray:
    """The distinct newest-message vectors of the Step nodes of a SQLite store (what the
    step memory indexes: identical messages are one vector)."""
    from expgraph.models import Label
    from expgraph.store import SQLiteStore

    store = SQLiteStore(db)
    recs = store.find_nodes(Label.STEP, with_embedding=True)
    store.close()
    vecs = np.asarray([r.embedding for r in recs if r.embedding], np.float32)
    return np.unique(vecs, axis=0)


def unit(n: int, dim: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def exact(vecs: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    s = vecs @ q
    part = np.argpartition(-s, k - 1)[:k]
    return part[np.argsort(-s[part], kind="stable")]


class Hnswlib:
    name, filter_ = "hnswlib 0.8", "Python callback per node"

    def __init__(self, dim: int, n: int) -> None:
        import hnswlib

        self.ix = hnswlib.Index(space="ip", dim=dim)
        self.ix.init_index(max_elements=n, ef_construction=EF_CONSTRUCTION, M=M)
        self.ix.set_num_threads(1)
        self.n = 0

    def add(self, v: np.ndarray) -> None:
        self.ix.add_items(v, np.arange(self.n, self.n + len(v)), num_threads=1)
        self.n += len(v)

    def search(self, q: np.ndarray, k: int) -> np.ndarray:
        self.ix.set_ef(max(EF_SEARCH, k))
        return self.ix.knn_query(q, k=k, num_threads=1)[0][0]


class Usearch:
    name, filter_ = "usearch 2.26", "none in Python"

    def __init__(self, dim: int, n: int) -> None:
        from usearch.index import Index

        self.ix = Index(ndim=dim, metric="ip", dtype="f32", connectivity=M,
                        expansion_add=EF_CONSTRUCTION, expansion_search=EF_SEARCH)
        self.n = 0

    def add(self, v: np.ndarray) -> None:
        self.ix.add(np.arange(self.n, self.n + len(v)), v, threads=1)
        self.n += len(v)

    def search(self, q: np.ndarray, k: int) -> np.ndarray:
        return np.asarray(self.ix.search(q, k, threads=1).keys)


class Faiss:
    name, filter_ = "faiss-cpu 1.15", "bitmap (IDSelectorBitmap), in C++"

    def __init__(self, dim: int, n: int) -> None:
        import faiss

        faiss.omp_set_num_threads(1)
        self.faiss = faiss
        self.ix = faiss.IndexHNSWFlat(dim, M, faiss.METRIC_INNER_PRODUCT)
        self.ix.hnsw.efConstruction = EF_CONSTRUCTION

    def add(self, v: np.ndarray) -> None:
        self.ix.add(v)

    def search(self, q: np.ndarray, k: int) -> np.ndarray:
        params = self.faiss.SearchParametersHNSW(efSearch=max(EF_SEARCH, k))
        return self.ix.search(q.reshape(1, -1), k, params=params)[1][0]


def measure(lib: type, vecs: np.ndarray, queries: np.ndarray, truth: list[np.ndarray]) -> dict:
    t0 = time.perf_counter()
    ix = lib(vecs.shape[1], len(vecs))
    for s in range(0, len(vecs), 1000):  # ingest-sized batches
        ix.add(vecs[s:s + 1000])
    build = time.perf_counter() - t0
    row = {"library": lib.name, "filter": lib.filter_, "build_s": round(build, 1)}
    for k in (10, POOL):
        ts, hits = [], []
        for q, t in zip(queries, truth, strict=True):
            t0 = time.perf_counter()
            got = ix.search(q, k)
            ts.append(time.perf_counter() - t0)
            hits.append(len(set(got[:10].tolist()) & set(t.tolist())) / 10)
        row[f"search_k{k}_p50_ms"] = round(1000 * float(np.median(ts)), 3)
        row[f"search_k{k}_p95_ms"] = round(1000 * float(np.percentile(ts, 95)), 3)
        row[f"recall10_k{k}"] = round(float(np.mean(hits)), 4)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--db", type=Path, default=None)
    ap.add_argument("--random", type=int, default=None, help="random unit vectors instead")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--out", type=Path, default=RESULTS / "ann_compare.json")
    args = ap.parse_args()
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    if args.random:
        vecs, source = unit(args.random, 384, 0), f"random unit vectors ({args.random})"
    else:
        db = args.db or RESULTS / "latency_real_100000_seed0.db"
        vecs, source = store_vectors(db), f"step vectors of {db.name}"
    rng = np.random.default_rng(1)
    # Queries: stored vectors moved a little (an unseen state near seen ones), re-normalised.
    picks = vecs[rng.choice(len(vecs), args.queries, replace=False)]
    q = picks + 0.5 * unit(args.queries, vecs.shape[1], 2) / np.sqrt(vecs.shape[1]) * 4
    queries = (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)
    t0 = time.perf_counter()
    truth = [exact(vecs, x, 10) for x in queries]
    exact_ms = 1000 * (time.perf_counter() - t0) / len(queries)
    rows = [{"library": "numpy exact", "filter": "any mask", "build_s": 0.0,
             "search_k10_p50_ms": round(exact_ms, 3), "recall10_k10": 1.0}]
    for lib in (Hnswlib, Usearch, Faiss):
        rows.append(measure(lib, vecs, queries, truth))
        print(rows[-1], file=sys.stderr, flush=True)
    keys = ["library", "build_s", "search_k10_p50_ms", f"search_k{POOL}_p50_ms",
            f"search_k{POOL}_p95_ms", "recall10_k10", f"recall10_k{POOL}", "filter"]
    print(" | ".join(keys))
    for r in rows:
        print(" | ".join(str(r.get(k, "")) for k in keys))
    load = [round(x, 2) for x in os.getloadavg()]
    print(f"({source}, {len(vecs)} x {vecs.shape[1]}; one thread; load average {load})")
    args.out.write_text(json.dumps({"source": source, "n": len(vecs), "M": M,
                                    "ef_construction": EF_CONSTRUCTION, "ef_search": EF_SEARCH,
                                    "load_average": load, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
