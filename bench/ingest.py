"""Ingest throughput on a generated corpus: episodes/s, steps/s, embedding time vs the rest,
peak memory. Prints a table and writes bench/results/ingest.json.

    .venv/bin/python bench/ingest.py [--episodes 1000] [--steps 10]
    .venv/bin/python bench/ingest.py --real 10000 [--data ../shared/data]

`--real N`: N steps recombined from the real corpora (bench/corpus.py `realistic_corpus`)
instead of the generated shop/support episodes.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import generate_corpus, realistic_corpus  # noqa: E402
from expgraph.embedder import CachedEmbedder, default_embedder  # noqa: E402
from expgraph.store import SQLiteStore  # noqa: E402
from ingestion.pipeline import Ingestor  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--episodes", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--real", type=int, default=None, metavar="STEPS",
                    help="this many steps recombined from the real corpora")
    ap.add_argument("--data", type=Path, default=None, help="the real corpora (../shared/data)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "ingest.json")
    args = ap.parse_args()

    if args.real:
        episodes = realistic_corpus(args.real, args.seed, data_dir=args.data)
    else:
        episodes = generate_corpus(args.episodes, args.steps, args.seed)
    n_steps = sum(len(e.steps) for e in episodes)
    obs_chars = sum(len(s.observation) + len(s.result or "") for e in episodes for s in e.steps)
    t_load = time.perf_counter()
    model = default_embedder()
    model.embed(["warm up"])
    load_s = time.perf_counter() - t_load
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "bench.db")
        embedder = CachedEmbedder(model, store)
        t0 = time.perf_counter()
        report = Ingestor(store, embedder).ingest(episodes)
        total = time.perf_counter() - t0
        db_bytes = sum(p.stat().st_size for p in Path(tmp).iterdir())
        counts = store.count_by_label()
        store.close()
    embed = report.embed_seconds
    rest = total - embed
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    row = {
        "episodes": report.ingested, "steps": report.steps,
        "mean_chars_per_step": round(obs_chars / n_steps),
        "texts_embedded": embedder.embedded,
        "total_s": round(total, 2), "embed_s": round(embed, 2), "graph_write_s": round(rest, 2),
        "overhead_pct_of_embed": round(100 * rest / embed, 1) if embed else None,
        "episodes_per_s": round(report.ingested / total, 1),
        "steps_per_s": round(report.steps / total, 1),
        "peak_rss_mb": round(peak_mb), "db_mb": round(db_bytes / 2**20, 1),
        "model_load_s": round(load_s, 1), "nodes": counts,
    }
    print(f"ingest benchmark: {row['episodes']} episodes, {row['steps']} steps "
          f"(~{row['mean_chars_per_step']} chars of observation+result per step)")
    width = max(len(k) for k in row)
    for k, v in row.items():
        if k != "nodes":
            print(f"  {k.ljust(width)}  {v}")
    print(f"  {'nodes'.ljust(width)}  {counts}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(row, indent=2))


if __name__ == "__main__":
    main()
