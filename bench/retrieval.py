"""Retrieval quality on the WebShop ReAct corpus: does `suggest` name the action a held-out
agent took next, and does it warn about the action a failed agent died on?

Split by task instruction (70% of the distinct tasks ingested, 30% held out, seeded). For
every step of a held-out successful episode: is the template of the action taken among the
top 1 / top 5 of `suggest(state=observation, task=task)` (hit@1, hit@5, MRR over the top 10).
For every held-out failed episode: is the template of its failing step (the first erroring
step, else the last) among the top 5 of `avoid`. Presets hybrid, dense, sparse and graph,
hybrid with the episode's own action history, and a plain baseline: the 10 ingested steps
whose raw observations are nearest by embedding vote (cosine-weighted) for the action they took.
Rows "all steps" count `think[...]` steps (a no-op in WebShop); "no think" leaves them out.
ms/call: the hybrid row pays for embedding each new state; the rows after it reuse the vectors.

    .venv/bin/python bench/retrieval.py [--reuse] [--seed 0]

Prints a table and writes bench/results/retrieval.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from expgraph.embedder import default_embedder  # noqa: E402
from expgraph.graph import ExperienceGraph  # noqa: E402
from expgraph.models import Episode  # noqa: E402
from expgraph.templates import action_key, learn_constants, template  # noqa: E402
from queries.corpus import embed_texts  # noqa: E402
from queries.suggest import suggest  # noqa: E402

RESULTS = Path(__file__).parent / "results"
DEFAULT_DATA = (Path(__file__).resolve().parents[2] / "shared" / "data" / "react_webshop"
                / "episodes.txt")
PRESETS = ("hybrid", "dense", "sparse", "graph")
TOP = 10


def load(path: Path) -> list[Episode]:
    from ingestion.detect import open_source

    return [e for e in open_source(path) if isinstance(e, Episode)]


def split(episodes: list[Episode], seed: int, share: float) -> tuple[list[Episode], list[Episode]]:
    tasks = sorted({e.task for e in episodes})
    random.Random(seed).shuffle(tasks)
    train_tasks = set(tasks[:round(share * len(tasks))])
    return ([e for e in episodes if e.task in train_tasks],
            [e for e in episodes if e.task not in train_tasks])


def failing_step(ep: Episode) -> int:
    return next((i for i, s in enumerate(ep.steps) if s.error), len(ep.steps) - 1)


def build_store(db: Path, train: list[Episode], reuse: bool) -> ExperienceGraph:
    if db.exists() and reuse:
        return ExperienceGraph(db, embedder=default_embedder())
    for p in db.parent.glob(db.name + "*"):
        p.unlink()
    try:
        from expgraph.distill import distill  # noqa: F401
        distilled = True
    except ImportError:
        distilled = False
        print("expgraph.distill is not there yet: raw layer only", file=sys.stderr)
    g = ExperienceGraph(db, embedder=default_embedder(), auto_distill=distilled)
    t0 = time.perf_counter()
    report = g.ingest(train)
    print(f"ingested + distilled {report.ingested} episodes in {time.perf_counter() - t0:.0f} s",
          file=sys.stderr)
    if g.store.get_meta("action_constants") is None:  # no distillation yet: learn them here
        uses = [(e.id, action_key(s.action)) for e in train for s in e.steps]
        g.store.set_meta("action_constants",
                         {k: sorted(v) for k, v in learn_constants(uses).items()})
    return g


class Baseline:
    """Nearest raw steps by embedding, voting for the action each took."""

    def __init__(self, graph: ExperienceGraph, train: list[Episode], consts: dict) -> None:
        steps = [(e, i) for e in train for i in range(len(e.steps))]
        self.vecs = graph.embedder.embed([e.steps[i].observation for e, i in steps])
        self.acts = [template(action_key(e.steps[i].action), consts) for e, i in steps]
        self.failing = np.array([(not e.succeeded) and i == failing_step(e) for e, i in steps])

    def rank(self, vec: np.ndarray, k: int = 10, failing: bool = False) -> list[str]:
        sims = self.vecs @ vec
        if failing:
            sims = np.where(self.failing, sims, -np.inf)
        top = np.argsort(-sims)[:k]
        votes: dict[str, float] = defaultdict(float)
        for i in top:
            if np.isfinite(sims[i]):
                votes[self.acts[i]] += float(sims[i])
        return [a for a, _ in sorted(votes.items(), key=lambda kv: -kv[1])]


def score(ranked: list[str], gold: str) -> tuple[float, float, float]:
    pos = ranked.index(gold) + 1 if gold in ranked[:TOP] else 0
    return float(pos == 1), float(0 < pos <= 5), (1.0 / pos if pos else 0.0)


def evaluate(graph: ExperienceGraph, held: list[Episode], baseline: Baseline,
             consts: dict) -> list[dict]:
    store, emb = graph.store, graph.embedder
    methods = [*PRESETS, "hybrid+history", "baseline"]
    hits: dict[str, dict[str, list[tuple[float, float, float]]]] = {
        m: {"all": [], "no_think": []} for m in methods}
    avoid: dict[str, list[float]] = {m: [] for m in methods}
    secs: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    for ep in held:
        gold_seq = [template(action_key(s.action), consts) for s in ep.steps]
        if ep.succeeded:
            todo = [(i, gold_seq[i]) for i in range(len(ep.steps))]
        else:
            i = failing_step(ep)
            todo = [(i, gold_seq[i])]
        for i, gold in todo:
            obs = ep.steps[i].observation
            for m in methods:
                t0 = time.perf_counter()
                if m == "baseline":
                    vec = embed_texts(emb, [obs])[0]
                    nxt = baseline.rank(vec)
                    bad = baseline.rank(vec, failing=True)
                else:
                    preset = m.split("+")[0]
                    hist = gold_seq[:i] if m.endswith("history") else None
                    res = suggest(store, emb, obs, task=ep.task, history=hist, k=TOP,
                                  preset=preset)
                    nxt = [n.action for n in res.next]
                    bad = [a.action for a in res.avoid]
                secs[m] += time.perf_counter() - t0
                calls[m] += 1
                if ep.succeeded:
                    s = score(nxt, gold)
                    hits[m]["all"].append(s)
                    if not gold.startswith("think"):
                        hits[m]["no_think"].append(s)
                else:
                    avoid[m].append(float(gold in bad[:5]))
    rows = []
    for m in methods:
        row: dict = {"method": m}
        for subset, vals in hits[m].items():
            arr = np.array(vals) if vals else np.zeros((0, 3))
            for j, name in enumerate(("hit@1", "hit@5", "mrr")):
                row[f"{name} {subset}"] = round(float(arr[:, j].mean()), 3) if len(arr) else None
        row["avoid@5"] = round(float(np.mean(avoid[m])), 3) if avoid[m] else None
        row["ms/call"] = round(1000 * secs[m] / max(calls[m], 1), 1)
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-share", type=float, default=0.7)
    ap.add_argument("--reuse", action="store_true", help="reuse the ingested store if present")
    ap.add_argument("--out", type=Path, default=RESULTS / "retrieval.json")
    args = ap.parse_args()
    RESULTS.mkdir(exist_ok=True)

    episodes = load(args.data)
    train, held = split(episodes, args.seed, args.train_share)
    graph = build_store(RESULTS / f"retrieval_webshop_seed{args.seed}.db", train, args.reuse)
    consts = {k: set(v) for k, v in (graph.store.get_meta("action_constants") or {}).items()}
    baseline = Baseline(graph, train, consts)
    t0 = time.perf_counter()
    rows = evaluate(graph, held, baseline, consts)
    held_ok = [e for e in held if e.succeeded]
    info = {
        "data": str(args.data), "seed": args.seed, "train_episodes": len(train),
        "held_out_episodes": len(held), "held_out_successful": len(held_ok),
        "held_out_failed": len(held) - len(held_ok),
        "steps_scored": sum(len(e.steps) for e in held_ok),
        "steps_scored_no_think": sum(1 for e in held_ok for s in e.steps
                                     if s.action.name != "think"),
        "graph": graph.stats(), "eval_seconds": round(time.perf_counter() - t0, 1),
    }
    headers = list(rows[0])
    widths = [max(len(h), *(len(str(r[h])) for r in rows)) for h in headers]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    for r in rows:
        print("  ".join(str(r[h]).ljust(w) for h, w in zip(headers, widths, strict=True)))
    print(json.dumps({k: v for k, v in info.items() if k != "graph"}))
    args.out.write_text(json.dumps({"info": info, "rows": rows}, indent=2))
    graph.close()


if __name__ == "__main__":
    main()
