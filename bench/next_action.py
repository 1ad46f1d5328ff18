"""Next-action benchmark (issue 11): does `suggest` name the action an agent took next, and
does it warn about the action a failed agent went wrong with — better than trivial baselines?

Corpora (../shared/data): WebShop ReAct, HotpotQA ReAct (5 trials, exact reprints dropped),
ALFWorld (AgentInstruct GPT-4, all successful; read with `--map`), tau-bench retail.
Splits: *unseen* (every third distinct task held out, all its episodes) on every corpus;
*recurring* (first attempt of each task ingested, later attempts asked) where tasks repeat.
The training split is ingested, then `distill()` and `refine()` run as a user would.

For every step of a successful held-out episode: `suggest(state=observation window, task,
history=previous action keys, k=10)`; hit@1, hit@5, MRR (top 10) of the label of the action taken
(tool name for tool calls, template for text actions; one labeling function for every method,
expgraph's templates mapped through it). Avoid recall: the failing action's label in the top 5
of `avoid`, over failed held-out episodes whose corpus says which step failed (WebShop: first
`Invalid action!`, else the scored purchase; HotpotQA: the `Finish` judged INCORRECT; tau
retail: first write call not among the task's gold actions). False-avoid: share of successful
held-out steps whose taken action is in the top 5 of `avoid`.
Streaming (Evo-Memory): held-out episodes in order, each ingested (online distillation) after it
was asked; hit@1 on the steps of the second half of the successful episodes, against the same
steps asked of the static store, and again with the failed episodes ingested too.
Baselines: Markov, kNN over the observation window, kNN over the newest message, kNN over failing
steps for avoid (bench/nextaction_baselines.py). Both sides get the same supervision about
failures: the baseline's pool is the training steps the corpus says failed, and expgraph ingests
the training episodes with those steps flagged as errors. Avoid is compared at the baseline's
operating point too: the row `expgraph@F` asks with `max_false_avoid=F`, F the baseline's
measured false-avoid (the default row uses the store's calibrated 4 % budget). Their ms/call is ranking plus the measured
cost of embedding one text; expgraph's is the whole `suggest` call.

    .venv/bin/python bench/next_action.py [--corpus tau_retail] [--max-queries 300]
        [--db-dir bench/results/next_action_db] [--no-stream] [--data ../shared/data]

Prints one table per corpus x split; writes bench/results/next_action.json (merged by
corpus/split, so a run on one corpus keeps the others' last results).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.nextaction_baselines import KNN, Markov, failure_knn  # noqa: E402
from bench.nextaction_data import (  # noqa: E402
    CORPORA,
    DATA,
    Labeler,
    Query,
    Split,
    failing_training_steps,
    load_corpus,
    newest_message,
    queries_for,
    split_recurring,
    split_unseen,
    subsample,
    subsample_episodes,
)
from expgraph.embedder import CachedEmbedder, default_embedder  # noqa: E402
from expgraph.graph import ExperienceGraph  # noqa: E402
from expgraph.models import Episode  # noqa: E402

RESULTS = Path(__file__).parent / "results"
TOP = 10  # ranks beyond this count as a miss (MRR)
AVOID_TOP = 5
BASELINES = ("markov", "knn-window", "knn-newest")
AVOID_BASELINE = "knn-failures"
READY = "bench_next_action_ready"  # meta flag: ingest + distill + refine finished

Answer = tuple[list[str] | None, list[str] | None]  # (next labels, avoid labels)
Method = Callable[[Query], Answer]


def log(msg: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- metrics


def rank_scores(ranked: Sequence[str], gold: str, top: int = TOP) -> tuple[float, float, float]:
    """hit@1, hit@5 and reciprocal rank of `gold` within the first `top` answers."""
    ranked = list(ranked)[:top]
    pos = ranked.index(gold) + 1 if gold in ranked else 0
    return float(pos == 1), float(0 < pos <= 5), (1.0 / pos if pos else 0.0)


def _mean(xs: Sequence[float]) -> float | None:
    return round(float(np.mean(xs)), 3) if len(xs) else None


@dataclass
class Row:
    method: str
    next: list[tuple[float, float, float]] = field(default_factory=list)
    avoid_hits: list[float] = field(default_factory=list)  # failing action flagged
    false_avoids: list[float] = field(default_factory=list)  # action taken (success) flagged
    secs: list[float] = field(default_factory=list)
    per_query: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    extra_ms: float = 0.0  # per-call cost paid outside the timed part (query embedding)

    def summary(self) -> dict[str, Any]:
        arr = np.array(self.next) if self.next else np.zeros((0, 3))
        ms = 1000 * statistics.fmean(self.secs) + self.extra_ms if self.secs else None
        return {"method": self.method,
                "hit@1": _mean(arr[:, 0]), "hit@5": _mean(arr[:, 1]), "mrr": _mean(arr[:, 2]),
                "avoid_recall": _mean(self.avoid_hits), "false_avoid": _mean(self.false_avoids),
                "ms/call": round(ms, 2) if ms is not None else None}


def evaluate(methods: dict[str, Method], next_q: Sequence[Query], avoid_q: Sequence[Query],
             extra_ms: dict[str, float] | None = None) -> dict[str, Row]:
    """Ask every method every query. A method answers (next, avoid); None for a part it does
    not offer (its metrics stay None)."""
    rows = {m: Row(m, extra_ms=(extra_ms or {}).get(m, 0.0)) for m in methods}
    done, total, start = 0, len(next_q) + len(avoid_q), time.perf_counter()
    for qs in (next_q, avoid_q):
        for q in qs:
            done += 1
            if done % 250 == 0:
                log(f"  asked {done} of {total} ({time.perf_counter() - start:.0f} s)")
            for name, method in methods.items():
                t0 = time.perf_counter()
                nxt, bad = method(q)
                rows[name].secs.append(time.perf_counter() - t0)
                row = rows[name]
                flagged = None if bad is None else float(q.gold in bad[:AVOID_TOP])
                if q.failing:
                    if flagged is not None:
                        row.avoid_hits.append(flagged)
                    continue
                if nxt is not None:
                    row.next.append(rank_scores(nxt, q.gold))
                    row.per_query[(q.episode, q.index)] = nxt[:TOP]
                if flagged is not None:
                    row.false_avoids.append(flagged)
    return rows


def verdict(rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Does expgraph match or beat the best baseline on hit@1 and hit@5, and the failure
    baseline on avoid recall at no higher false-avoid?"""
    eg = rows["expgraph"]
    out: dict[str, Any] = {}
    for metric in ("hit@1", "hit@5"):
        cands = [(r[metric], m) for m, r in rows.items() if m in BASELINES and r[metric] is not None]
        if eg[metric] is None or not cands:
            out[metric] = None
            continue
        best, who = max(cands)
        out[metric] = {"wins": eg[metric] >= best, "expgraph": eg[metric], "best": best,
                       "baseline": who}
    fb = rows.get(AVOID_BASELINE)
    at = [r for m, r in rows.items() if m.startswith("expgraph@")]
    if at and at[0]["avoid_recall"] is not None:
        eg = at[0]  # avoid is compared at the baseline's false-avoid budget
    if fb and eg["avoid_recall"] is not None and fb["avoid_recall"] is not None:
        no_worse = (eg["false_avoid"] is None or fb["false_avoid"] is None
                    or eg["false_avoid"] <= fb["false_avoid"])  # None: no successful step asked
        out["avoid"] = {"wins": eg["avoid_recall"] >= fb["avoid_recall"] and no_worse,
                        "expgraph": [eg["avoid_recall"], eg["false_avoid"]],
                        "baseline": [fb["avoid_recall"], fb["false_avoid"]]}
    else:
        out["avoid"] = None
    return out


# --------------------------------------------------------------------------- stores


def _cache_key(corpus: str, split: Split) -> str:
    """Code-independent: the corpus, the split and the exact training episodes."""
    h = hashlib.blake2b(digest_size=6)
    for part in (corpus, split.name, "failing-marked", *(e.id or "" for e in split.train)):
        h.update(part.encode() + b"\x1f")
    return h.hexdigest()


def _remove_db(path: Path) -> None:
    for p in path.parent.glob(path.name + "*"):
        p.unlink()


def mark_failing(train: Sequence[Episode], failing: dict[str, int | None]) -> list[Episode]:
    """The training episodes with the step the corpus says failed flagged as an error: the
    same supervision the kNN-on-failures baseline gets (its pool is those steps)."""
    out = []
    for e in train:
        f = failing.get(e.id or "")
        if e.succeeded or f is None or e.steps[f].error:
            out.append(e)
            continue
        steps = list(e.steps)
        steps[f] = steps[f].model_copy(update={"error": True})
        out.append(e.model_copy(update={"steps": steps}))
    return out


def build_store(path: Path, train: Sequence[Episode], embedder: Any,
                refit: bool = False) -> tuple[ExperienceGraph, dict[str, Any]]:
    """Ingest the training split, then distil and refine as a user would; reuse a finished
    store at `path` (with `refit`, its advice model is fit again by the current code)."""
    if path.exists():
        g = ExperienceGraph(path, embedder=embedder, auto_distill=False)
        if g.store.get_meta(READY):
            if refit:
                g.refine(passes=["advice"])
            return g, {"cached": True, **g.store.get_meta(READY)}
        g.close()
        _remove_db(path)
    g = ExperienceGraph(path, embedder=embedder, auto_distill=False)
    times: dict[str, Any] = {"cached": False}
    t0 = time.perf_counter()
    report = g.ingest(list(train))
    times["ingest_s"] = round(time.perf_counter() - t0, 1)
    if report.ingested != len(train):
        raise RuntimeError(f"{path}: ingested {report.ingested} of {len(train)} episodes")
    t0 = time.perf_counter()
    g.distill()
    times["distill_s"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    g.refine()
    times["refine_s"] = round(time.perf_counter() - t0, 1)
    g.store.set_meta(READY, {k: v for k, v in times.items() if k != "cached"})
    return g, times


def copy_db(src: Path, dst: Path) -> None:
    """A consistent copy of a SQLite store (WAL included) through SQLite's backup API."""
    _remove_db(dst)
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)


# --------------------------------------------------------------------------- methods


def expgraph_method(graph: ExperienceGraph, labeler: Labeler,
                    max_false_avoid: float | None = None) -> Method:
    def ask(q: Query) -> Answer:
        res = graph.suggest(q.state, task=q.task, history=q.history, k=TOP,
                            max_false_avoid=max_false_avoid)
        nxt = list(dict.fromkeys(labeler.of_answer(n.action) for n in res.next))
        bad = list(dict.fromkeys(labeler.of_answer(a.action) for a in res.avoid))
        return nxt, bad
    return ask


@dataclass
class Baselines:
    markov: Markov
    window: KNN
    newest: KNN
    failures: KNN
    vec: dict[str, np.ndarray]  # text -> unit vector, for every query text
    embed_ms: float  # measured cost of embedding one text, added to ms/call

    def methods(self) -> dict[str, Method]:
        return {
            "markov": lambda q: (self.markov.rank(q.prev), None),
            "knn-window": lambda q: (self.window.rank(self.vec[q.state]), None),
            "knn-newest": lambda q: (self.newest.rank(self.vec[q.newest]), None),
            AVOID_BASELINE: lambda q: (None, self.failures.rank(self.vec[q.newest])),
        }


def build_baselines(train: Sequence[Episode], failing: dict[str, int | None], labeler: Labeler,
                    embedder: Any, queries: Sequence[Query], model: Any) -> Baselines:
    ok = [e for e in train if e.succeeded]
    steps = [s for e in ok for s in e.steps]
    labels = [labeler.of_step(s) for s in steps]
    fails = failing_training_steps(train, failing)
    windows = [s.observation for s in steps]
    newest = [newest_message(s.observation) for s in steps]
    fail_newest = [newest_message(e.steps[i].observation) for e, i in fails]
    q_texts = list(dict.fromkeys([q.state for q in queries] + [q.newest for q in queries]))
    every = list(dict.fromkeys(windows + newest + fail_newest + q_texts))
    mat = embedder.embed(every) if every else np.zeros((0, 384), np.float32)
    vec = dict(zip(every, mat, strict=True))

    def stack(texts: list[str]) -> np.ndarray:
        return np.stack([vec[t] for t in texts]) if texts else np.zeros((0, mat.shape[1]))

    sample = q_texts[:20]
    t0 = time.perf_counter()
    for t in sample:  # uncached, one at a time: what a live caller pays per query
        model.embed([t])
    embed_ms = 1000 * (time.perf_counter() - t0) / max(len(sample), 1)
    return Baselines(
        markov=Markov([[labeler.of_step(s) for s in e.steps] for e in ok]),
        window=KNN(stack(windows), labels), newest=KNN(stack(newest), labels),
        failures=failure_knn(stack(fail_newest), [labeler.of_step(e.steps[i]) for e, i in fails]),
        vec=vec, embed_ms=embed_ms)


def matched_recall(graph: ExperienceGraph, labeler: Labeler, next_q: Sequence[Query],
                   avoid_q: Sequence[Query], budget: float) -> dict[str, Any]:
    """A point of expgraph's avoid curve on the asked steps themselves (not what a user gets:
    the threshold is chosen knowing the answers): the highest recall whose false-avoid on
    the asked successful steps is <= `budget`. Shows how far the calibrated threshold is
    from the best one; the verdict never uses it."""
    def flagged_at(q: Query) -> list[tuple[str, float]]:
        res = graph.suggest(q.state, task=q.task, history=q.history, k=TOP, max_false_avoid=1.0)
        return [(labeler.of_answer(a.action), a.score) for a in res.avoid]

    ok = [flagged_at(q) + [(q.gold, -1.0)] for q in next_q]  # gold risk -1: never flagged
    bad = [flagged_at(q) + [(q.gold, -1.0)] for q in avoid_q]

    def rate(lists: list[list[tuple[str, float]]], qs: Sequence[Query], t: float) -> float:
        return float(np.mean([q.gold in [a for a, s in lst if s >= t][:AVOID_TOP]
                              for lst, q in zip(lists, qs, strict=True)])) if qs else 0.0

    best = {"threshold": None, "avoid_recall": 0.0, "false_avoid": 0.0}
    for t in sorted({s for lst in ok + bad for _, s in lst if s >= 0}):
        fa, rec = rate(ok, next_q, t), rate(bad, avoid_q, t)
        if fa <= budget and rec > best["avoid_recall"]:
            best = {"threshold": round(t, 6), "avoid_recall": round(rec, 3),
                    "false_avoid": round(fa, 3)}
    return {"budget": budget, **best}


# --------------------------------------------------------------------------- streaming


def stream(db: Path, held: Sequence[Episode], queries: Sequence[Query], labeler: Labeler,
           model: Any, include_failed: bool, refine_every: int = 0,
           ) -> dict[tuple[str, int], list[str]]:
    """Ask `queries` of a copy of the store while the held-out episodes stream in, in order,
    each ingested (online distillation) after its turn; the failed ones only with
    `include_failed`. Episodes nobody asks about in between are ingested together just before
    the next question: at every question the memory is exactly what one-by-one ingest gives.
    With `refine_every` N, the advice model is fit again after every N ingested episodes
    (what an online agent's periodic `refine` does)."""
    by_ep: dict[str, list[Query]] = {}
    for q in queries:
        by_ep.setdefault(q.episode, []).append(q)
    with tempfile.TemporaryDirectory(prefix="next_action_stream_") as tmp:
        copy = Path(tmp) / "stream.db"
        copy_db(db, copy)
        answers: dict[tuple[str, int], list[str]] = {}
        pending: list[Episode] = []
        since_fit = 0
        with ExperienceGraph(copy, embedder=model, auto_distill=True) as g:
            ask = expgraph_method(g, labeler)
            for ep in held:
                asked = by_ep.get(ep.id or "", ())
                if asked and pending:
                    g.ingest(pending)
                    since_fit += len(pending)
                    pending = []
                    if refine_every and since_fit >= refine_every:
                        g.refine(passes=["advice"])
                        since_fit = 0
                for q in asked:
                    answers[(q.episode, q.index)] = ask(q)[0] or []
                if ep.succeeded or include_failed:
                    pending.append(ep)
        return answers


def second_half(held: Sequence[Episode], next_q: Sequence[Query]) -> list[Query]:
    ok = [e.id for e in held if e.succeeded]
    late = set(ok[len(ok) // 2:])
    return [q for q in next_q if q.episode in late]


def hit1(answers: dict[tuple[str, int], list[str]], qs: Sequence[Query]) -> float | None:
    return _mean([rank_scores(answers.get((q.episode, q.index), []), q.gold)[0] for q in qs])


# --------------------------------------------------------------------------- one corpus x split


def run_split(corpus_name: str, split: Split, failing: dict[str, int | None], model: Any,
              embedder: CachedEmbedder, db_dir: Path, max_queries: int | None,
              streaming: bool, stream_max: int | None = None, refit: bool = False,
              stream_refine: int = 0) -> dict[str, Any]:
    db = db_dir / f"{corpus_name}-{split.name}-{_cache_key(corpus_name, split)}.db"
    log(f"{corpus_name}/{split.name}: {len(split.train)} episodes to ingest, "
        f"{len(split.held)} held out")
    t0 = time.perf_counter()
    graph, times = build_store(db, mark_failing(split.train, failing), model, refit)
    log(f"  store ready in {time.perf_counter() - t0:.0f} s {times}")
    labeler = Labeler(split.train, graph.store.get_meta("action_constants"))
    next_all, avoid_all = queries_for(split.held, failing, labeler)
    next_q, avoid_q = subsample(next_all, max_queries), subsample(avoid_all, max_queries)
    log(f"  asking {len(next_q)} of {len(next_all)} steps, {len(avoid_q)} of {len(avoid_all)} "
        f"failing steps")
    t0 = time.perf_counter()
    base = build_baselines(split.train, failing, labeler, embedder, [*next_q, *avoid_q], model)
    times["baselines_s"] = round(time.perf_counter() - t0, 1)
    methods = {"expgraph": expgraph_method(graph, labeler), **base.methods()}
    extra = {m: base.embed_ms for m in methods if m != "expgraph" and m != "markov"}
    t0 = time.perf_counter()
    rows = evaluate(methods, next_q, avoid_q, extra)
    fa = rows[AVOID_BASELINE].summary()["false_avoid"]
    if fa is not None:  # the same comparison at the baseline's operating point: its budget
        at = f"expgraph@{fa:.2f}"
        rows[at] = evaluate({at: expgraph_method(graph, labeler, max_false_avoid=fa)},
                            next_q, avoid_q)[at]
        result_roc = matched_recall(graph, labeler, next_q, avoid_q, fa)
    else:
        result_roc = None
    times["eval_s"] = round(time.perf_counter() - t0, 1)
    stats = graph.stats()["nodes"]
    graph.close()
    summary = {m: r.summary() for m, r in rows.items()}
    result: dict[str, Any] = {
        "corpus": corpus_name, "split": split.name, "note": split.note,
        "train_episodes": len(split.train), "held_episodes": len(split.held),
        "held_successful": sum(bool(e.succeeded) for e in split.held),
        "steps_asked": len(next_q), "steps_total": len(next_all),
        "failing_asked": len(avoid_q), "failing_total": len(avoid_all),
        "max_queries": max_queries, "graph_nodes": stats,
        "rows": list(summary.values()), "wins": verdict(summary), "times": times,
        "avoid_at_matched_false_avoid": result_roc,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    late = subsample_episodes(second_half(split.held, next_q), stream_max)
    if streaming and late:
        t0 = time.perf_counter()
        log(f"  streaming: {len(late)} steps of {len({q.episode for q in late})} episodes of "
            f"the second half")
        ok_only = stream(db, split.held, late, labeler, model, include_failed=False,
                         refine_every=stream_refine)
        with_failed = (stream(db, split.held, late, labeler, model, include_failed=True,
                              refine_every=stream_refine)
                       if any(not e.succeeded for e in split.held) else ok_only)
        times["stream_s"] = round(time.perf_counter() - t0, 1)
        static = hit1(rows["expgraph"].per_query, late)
        s_ok, s_all = hit1(ok_only, late), hit1(with_failed, late)
        result["streaming"] = {
            "steps": len(late), "refine_every": stream_refine, "static_hit@1": static, "stream_hit@1": s_ok,
            "stream_with_failed_hit@1": s_all,
            "rises": None if static is None or s_ok is None else s_ok > static,
            "failed_do_not_hurt": None if s_ok is None or s_all is None else s_all >= s_ok}
    return result


# --------------------------------------------------------------------------- report


def _fmt(v: Any) -> str:
    return "-" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))


def render(res: dict[str, Any]) -> str:
    cols = ["method", "hit@1", "hit@5", "mrr", "avoid_recall", "false_avoid", "ms/call"]
    table = [cols] + [[_fmt(r[c]) for c in cols] for r in res["rows"]]
    widths = [max(len(line[i]) for line in table) for i in range(len(cols))]
    out = [f"== {res['corpus']} / {res['split']}: {res['note']}; {res['train_episodes']} "
           f"episodes ingested; {res['steps_asked']} steps of {res['held_successful']} "
           f"successful held-out episodes, {res['failing_asked']} failing steps"]
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in table]
    w = res["wins"]
    parts = []
    for metric in ("hit@1", "hit@5"):
        v = w[metric]
        parts.append(f"{metric} n/a" if v is None else
                     f"{metric} {'yes' if v['wins'] else 'NO'} ({v['expgraph']:.3f} vs "
                     f"{v['baseline']} {v['best']:.3f})")
    a = w["avoid"]
    parts.append("avoid n/a" if a is None else
                 f"avoid {'yes' if a['wins'] else 'NO'} ({a['expgraph'][0]:.3f} @ "
                 f"{_fmt(a['expgraph'][1])} vs {a['baseline'][0]:.3f} @ {_fmt(a['baseline'][1])})")
    out.append("wins? " + "; ".join(parts))
    s = res.get("streaming")
    if s:
        refit = f", advice refit every {s['refine_every']}" if s.get("refine_every") else ""
        out.append(f"streaming, 2nd half ({s['steps']} steps{refit}): static "
                   f"{_fmt(s['static_hit@1'])}"
                   f" -> streaming {_fmt(s['stream_hit@1'])} (rises: "
                   f"{'yes' if s['rises'] else 'NO'}) -> with failed "
                   f"{_fmt(s['stream_with_failed_hit@1'])} (no harm: "
                   f"{'yes' if s['failed_do_not_hurt'] else 'NO'})")
    m = res.get("avoid_at_matched_false_avoid")
    if m:
        out.append(f"avoid at a threshold chosen on these steps (false-avoid <= {m['budget']:.3f}):"
                   f" {m['avoid_recall']:.3f} @ {m['false_avoid']:.3f} (not in the verdict)")
    t = res["times"]
    out.append("times (s): " + ", ".join(f"{k.removesuffix('_s')} {v}" for k, v in t.items()
                                         if k != "cached") + (" (store cached)" if t.get("cached")
                                                              else ""))
    return "\n".join(out)


MARKDOWN_HEADER = (
    "| corpus / split | asked | expgraph hit@1 / hit@5 / MRR | Markov | kNN window | kNN newest "
    "| expgraph avoid @ false-avoid (default budget) | expgraph avoid at the baseline's budget F "
    "| kNN-failures avoid @ false-avoid | best threshold on the asked steps (not in verdict) "
    "| streaming hit@1: static → stream → +failed | wins? (hit@1, hit@5, avoid, streaming) |")


def markdown(results: Sequence[dict[str, Any]]) -> str:
    """The README's table: one row per corpus x split of a results JSON."""
    def num(v: float | None) -> str:
        return "–" if v is None else f"{v:.3f}"

    def verdict(v: dict[str, Any] | None) -> str:
        return "n/a" if v is None else ("yes" if v["wins"] else "**no**")

    lines = [MARKDOWN_HEADER, "|---" * MARKDOWN_HEADER.count(" | ") + "|---|"]
    for r in results:
        rows = {x["method"]: x for x in r["rows"]}
        e, kf = rows["expgraph"], rows["knn-failures"]
        at = next((x for m, x in rows.items() if m.startswith("expgraph@")), None)
        hits = [f"{num(rows[m]['hit@1'])} / {num(rows[m]['hit@5'])}"
                for m in ("markov", "knn-window", "knn-newest")]
        s, m, w = r.get("streaming"), r.get("avoid_at_matched_false_avoid"), r["wins"]
        cells = [
            f"{r['corpus']} / {r['split']}",
            f"{r['steps_asked']} of {r['steps_total']} steps, {r['failing_asked']} failing",
            f"{num(e['hit@1'])} / {num(e['hit@5'])} / {num(e['mrr'])}", *hits,
            f"{num(e['avoid_recall'])} @ {num(e['false_avoid'])}",
            "–" if at is None else f"{num(at['avoid_recall'])} @ {num(at['false_avoid'])} "
                                   f"(F={at['method'].split('@')[1]})",
            f"{num(kf['avoid_recall'])} @ {num(kf['false_avoid'])}",
            "–" if not m else f"{num(m['avoid_recall'])} @ {num(m['false_avoid'])}",
            "–" if not s else f"{num(s['static_hit@1'])} → {num(s['stream_hit@1'])} → "
                              f"{num(s['stream_with_failed_hit@1'])}",
            ", ".join([verdict(w["hit@1"]), verdict(w["hit@5"]), verdict(w["avoid"]),
                       "n/a" if not s else verdict(
                           {"wins": s["rises"] and s["failed_do_not_hurt"]})])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def merge_results(path: Path, results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Keep the other corpora's last results; replace the ones just measured."""
    old = json.loads(path.read_text()) if path.exists() else {}
    merged = {f"{r['corpus']}/{r['split']}": r for r in old.get("results", [])}
    merged.update({f"{r['corpus']}/{r['split']}": r for r in results})
    order = [f"{c}/{s}" for c in CORPORA for s in ("unseen", "recurring")]
    return {"protocol": __doc__.split("\n\n    .venv")[0],
            "results": [merged[k] for k in order if k in merged]}


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--corpus", action="append", choices=list(CORPORA),
                    help="repeatable; default: every corpus")
    ap.add_argument("--split", action="append", choices=["unseen", "recurring"])
    ap.add_argument("--max-queries", type=int, default=None,
                    help="ask at most N held-out steps (and N failing steps) per split, "
                         "the same ones every run")
    ap.add_argument("--db-dir", type=Path, default=None,
                    help="keep the ingested stores here and reuse them on later runs")
    ap.add_argument("--no-stream", action="store_true", help="skip the streaming runs")
    ap.add_argument("--refit", action="store_true",
                    help="on a cached store, fit the advice model again with the current code")
    ap.add_argument("--stream-max", type=int, default=0,
                    help="stream-ask the steps of whole second-half episodes, about N steps (the "
                         "same ones every run; 0 = all, the default): each asked episode costs an "
                         "online ingest")
    ap.add_argument("--stream-refine", type=int, default=0, metavar="N",
                    help="while streaming, fit the advice model again after every N ingested "
                         "episodes (0: never, the default)")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--torch-threads", type=int, default=1,
                    help="threads for the embedding model (1: on a shared 2-core machine a second "
                         "thread mostly waits for the first; single-text latency drops ~20x)")
    ap.add_argument("--out", type=Path, default=RESULTS / "next_action.json")
    ap.add_argument("--markdown", action="store_true",
                    help="print the README table of the results in --out and exit")
    args = ap.parse_args(argv)
    if args.markdown:
        print(markdown(json.loads(args.out.read_text())["results"]))
        return
    args.stream_max = args.stream_max or None
    if not args.data.is_dir():
        ap.error(f"no data directory at {args.data} (../shared/data beside the repo; --data DIR)")

    import torch

    torch.set_num_threads(args.torch_threads)
    model = default_embedder()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = None
    if args.db_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="next_action_")
        db_dir = Path(tmp.name)
    else:
        db_dir = args.db_dir
        db_dir.mkdir(parents=True, exist_ok=True)
    from expgraph.store import open_store

    cache_store = open_store(str(db_dir / "embedding_cache.db"))
    embedder = CachedEmbedder(model, cache_store)
    results = []
    t_all = time.perf_counter()
    try:
        for name in args.corpus or list(CORPORA):
            corpus = load_corpus(CORPORA[name], args.data)
            splits = [split_unseen(corpus.episodes), split_recurring(corpus.episodes)]
            for split in splits:
                if split is None or (args.split and split.name not in args.split):
                    continue
                res = run_split(name, split, corpus.failing, model, embedder, db_dir,
                                args.max_queries, not args.no_stream, args.stream_max,
                                refit=args.refit, stream_refine=args.stream_refine)
                results.append(res)
                print(render(res) + "\n", flush=True)
                # written after every split: an interrupted run keeps what it measured
                args.out.write_text(json.dumps(merge_results(args.out, [res]), indent=2) + "\n")
            if splits[1] is None:
                print(f"== {name} / recurring: no task repeats in this corpus\n")
    finally:
        cache_store.close()
        if tmp is not None:
            tmp.cleanup()
    log(f"done in {time.perf_counter() - t_all:.0f} s; {len(results)} splits written to "
        f"{args.out}")


if __name__ == "__main__":
    main()
