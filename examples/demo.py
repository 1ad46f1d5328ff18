"""The demo behind `make demo`: ingest the shipped example episodes into an embedded store,
distil and refine them, then show what an agent would be told.

    python examples/demo.py [--db demo.db] [FILE ...]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from expgraph.cli import print_table
from expgraph.graph import ExperienceGraph

HERE = Path(__file__).resolve().parent
SAMPLES = [
    ("[Back to Search] Page 1 (Total results: 50) [Next >] [B07XK2LQ9M] Stormline Men's "
     "Waterproof Rain Jacket $45.99", "i need a waterproof rain jacket in navy under 60 dollars"),
    ("tool: {\"order_id\": \"#W1234567\", \"user_id\": \"kim_lee_1010\", \"status\": \"delivered\"}",
     "cancel order #W1234567, it arrived late"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("files", nargs="*", type=Path, default=[HERE / "episodes.jsonl"])
    ap.add_argument("--db", default="demo.db")
    args = ap.parse_args()

    t0 = time.perf_counter()
    with ExperienceGraph(args.db) as graph:
        for f in args.files:
            report = graph.ingest(f)
            print(f"{f.name}: {report.summary()}")
        graph.refine()
        stats = graph.stats()
        print(f"\nThe experience graph in {args.db} ({time.perf_counter() - t0:.1f} s):")
        print_table(sorted(stats["nodes"].items()), ["label", "nodes"])
        tiers: dict[str, int] = {}
        for rec in graph.store.find_nodes("Skill", {"status": "active"}):
            tiers[rec.props["tier"]] = tiers.get(rec.props["tier"], 0) + 1
        print()
        print_table([(t, tiers.get(t, 0)) for t in ("strategic", "functional", "atomic")],
                    ["skill tier", "active skills"])
        for state, task in SAMPLES:
            print(f"\nAgent sees: {state[:90]}...\nTask: {task}")
            res = graph.query(state, task=task, k=5)
            print_table([(r.kind, r.tier or "-", r.name[:60], f"{r.score:.3f}")
                         for r in res.results], ["kind", "tier", "name", "score"])
            sug = graph.suggest(state, task=task, k=3)
            print("next:  " + ", ".join(f"{n.action} ({n.score:.2f})" for n in sug.next))
            print("avoid: " + (", ".join(a.action for a in sug.avoid) or "-"))


if __name__ == "__main__":
    main()
