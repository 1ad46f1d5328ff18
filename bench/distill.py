"""Distillation of the WebShop ReAct corpus (500 episodes): counts per tier, failures,
guardrails, time, and three skills and three guardrails in readable form.

The corpus is ingested into a fresh SQLite store without distilling; then distillation runs
three ways: the first online pass over all episodes (embeds every new skill text), an online
re-run (nothing changed: what every later ingest pays at least), and the offline rebuild
(`expgraph distill`: states replayed, everything re-mined; skill texts come from the cache).

    .venv/bin/python bench/distill.py [--episodes PATH]

Prints a table and writes bench/results/distill.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from expgraph.models import Episode  # noqa: E402

DEFAULT_CORPUS = (Path(__file__).resolve().parents[2] / "shared" / "data" / "react_webshop"
                  / "episodes.txt")


def load_episodes(path: Path) -> Iterator[Episode]:
    """The corpus' episodes through the format detector (or the ReAct adapter directly)."""
    try:
        from ingestion.detect import open_source

        items = open_source(path, format="auto")
    except ImportError:
        from ingestion.adapters.react_text import ReactTextAdapter

        items = ReactTextAdapter().read(path)
    for it in items:
        if isinstance(it, Episode):
            yield it


def readable_skill(p: dict) -> str:
    lines = [f"[{p['tier']}] {p['name']}",
             f"  actions: {' -> '.join(p['actions'])}",
             f"  {p['description']}",
             f"  support {p['support']}, successes {p['successes']}, failures {p['failures']}, "
             f"utility {p['utility']:.3f}, parameters {p['parameters']}"]
    if p.get("pitfalls"):
        lines.append(f"  pitfalls: {p['pitfalls'][:2]}")
    return "\n".join(lines)


def readable_guardrail(p: dict) -> str:
    return "\n".join([f"[{p['scope']}] {p['rule']}",
                      f"  root cause: {p['root_cause']}",
                      f"  severity {p['severity']:.3f}, support {p['support']}, "
                      f"failed {p['failures']} of {p['total']}, utility {p['utility']:.3f}"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--episodes", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "distill.json")
    args = ap.parse_args()

    from expgraph.distill import distill
    from expgraph.embedder import CachedEmbedder, default_embedder
    from expgraph.models import Label
    from expgraph.store import SQLiteStore
    from ingestion.pipeline import Ingestor

    episodes = list(load_episodes(args.episodes))
    model = default_embedder()
    model.embed(["warm up"])
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "bench.db")
        embedder = CachedEmbedder(model, store)
        t0 = time.perf_counter()
        ingest = Ingestor(store, embedder).ingest(episodes)
        ingest_s = time.perf_counter() - t0
        runs = {}
        for name, kw in (("online_first", {"episode_ids": ingest.episode_ids}),
                         ("online_rerun", {"episode_ids": []}),
                         ("rebuild", {"rebuild": True})):
            t = time.perf_counter()
            report = distill(store, embedder, **kw)
            runs[name] = {"seconds": round(time.perf_counter() - t, 3),
                          "embedded_texts": report.embedded, "written": report.written,
                          "timings": report.timings}
        skills = [r.props for r in store.find_nodes(Label.SKILL)]
        rails = [r.props for r in store.find_nodes(Label.GUARDRAIL)]
        store.close()

    print(f"WebShop: {len(episodes)} episodes ({ingest.steps} steps) ingested in {ingest_s:.1f} s"
          f"; {sum(1 for e in episodes if e.succeeded)} successful\n")
    print(f"{'node':10} {'kind':12} {'count':>6}")
    for node, kind, count in report.table_rows():
        print(f"{node:10} {kind:12} {count:>6}")
    print(f"\n{'run':14} {'seconds':>8} {'embedded':>9} {'written':>8}   breakdown (s)")
    for name, r in runs.items():
        print(f"{name:14} {r['seconds']:>8.2f} {r['embedded_texts']:>9} {r['written']:>8}   "
              + ", ".join(f"{k} {v:.2f}" for k, v in r["timings"].items()))
    best = {t: max((s for s in skills if s["tier"] == t),
                   key=lambda s: (s["support"], len(s["actions"]), s["name"]))
            for t in ("atomic", "functional", "strategic")}
    best["functional"] = max(
        (s for s in skills if s["tier"] == "functional" and len(s["actions"]) >= 4),
        key=lambda s: (s["actions"][-1] == "click[buy now]", s["support"], s["name"]),
        default=best["functional"])
    print("\nthree skills (the best supported of each tier; functional: >= 4 steps, ending "
          "in a purchase when there is one)")
    for s in best.values():
        print(readable_skill(s))
    top_rails = sorted(rails, key=lambda g: (-g["severity"], g["rule"]))[:3]
    print("\nthree guardrails (most severe)")
    for g in top_rails:
        print(readable_guardrail(g))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "corpus": str(args.episodes), "episodes": len(episodes), "steps": ingest.steps,
        "ingest_seconds": round(ingest_s, 2), "report": report.model_dump(), "runs": runs,
        "skills_shown": list(best.values()), "guardrails_shown": top_rails}, indent=2,
        default=str))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
