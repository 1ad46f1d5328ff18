"""Embedding backends of the default model: PyTorch (sentence-transformers), ONNX fp32 and
ONNX int8 (expgraph/embedder_onnx.py), on texts ingest embeds from the real corpora (the two
views of steps of bench/corpus.py's realistic corpus, distinct, as ingest sees them), and on
single short query texts (what one `suggest` embeds). Texts/s and mean / min cosine of each
backend's vectors to PyTorch's. Same thread count for all (--threads).

    .venv/bin/python bench/embed_backends.py [--texts 1000] [--threads 1]

Prints a table and writes bench/results/embed_backends.json.
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


def corpus_texts(n: int, seed: int) -> list[str]:
    from bench.corpus import realistic_corpus
    from expgraph.memory.records import step_views

    out: dict[str, None] = {}
    for ep in realistic_corpus(max(n, 1000), seed):
        for s in ep.steps:
            for t in step_views(s.observation):
                out.setdefault(t)
    texts = list(out)
    rng = np.random.default_rng(seed)
    return [texts[i] for i in rng.permutation(len(texts))[:n]]


def timed(embedder, texts: list[str], queries: list[str]) -> tuple[np.ndarray, float, float]:  # noqa: ANN001
    embedder.embed(texts[:8])  # warm up
    t0 = time.perf_counter()
    vecs = embedder.embed(texts)
    bulk = time.perf_counter() - t0
    one = []
    for q in queries:
        t0 = time.perf_counter()
        embedder.embed([q])
        one.append(time.perf_counter() - t0)
    return vecs, len(texts) / bulk, 1000 * float(np.median(one))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--texts", type=int, default=1000)
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS / "embed_backends.json")
    args = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    from expgraph.embedder import SentenceTransformerEmbedder
    from expgraph.embedder_onnx import OnnxEmbedder

    texts = corpus_texts(args.texts, args.seed)
    queries = texts[-args.queries:]
    rows = []
    base = None
    for name, make in (("pytorch", SentenceTransformerEmbedder),
                       ("onnx fp32", lambda: OnnxEmbedder(threads=args.threads)),
                       ("onnx int8", lambda: OnnxEmbedder(int8=True, threads=args.threads))):
        vecs, rate, one_ms = timed(make(), texts, queries)
        if base is None:
            base, base_rate = vecs, rate
        cos = np.sum(vecs * base, axis=1)
        rows.append({"backend": name, "texts_per_s": round(rate, 1),
                     "speedup": round(rate / base_rate, 2), "one_query_ms": round(one_ms, 2),
                     "mean_cosine": round(float(cos.mean()), 5),
                     "min_cosine": round(float(cos.min()), 5)})
        print(rows[-1], file=sys.stderr, flush=True)
    keys = ["backend", "texts_per_s", "speedup", "one_query_ms", "mean_cosine", "min_cosine"]
    print(" | ".join(keys))
    for r in rows:
        print(" | ".join(str(r[k]) for k in keys))
    load = [round(x, 2) for x in os.getloadavg()]
    print(f"({len(texts)} distinct step texts, {args.threads} thread(s); load average {load})")
    args.out.write_text(json.dumps({"texts": len(texts), "threads": args.threads,
                                    "load_average": load, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
