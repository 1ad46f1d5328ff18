"""Refinement against near-duplicates: the WebShop ReAct corpus ingested together with a
reworded copy of itself, then refined.

The copy keeps every action and outcome but rewords what the agent saw: paraphrased task
instructions (so episode ids differ), synonym templates on page text ("Price:" -> "Cost:"),
filler words dropped from free text, some lines upper-cased. Active skills per tier are
counted for (a) one copy, (b) both copies before refine, (c) both copies after refine; refine
must bring the active count back to within 10% of (a).

    .venv/bin/python bench/refine_perturbed.py [--episodes PATH] [--limit N]

Prints the table and writes bench/results/refine_perturbed.json.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from expgraph.models import Episode, Label, Status  # noqa: E402

DEFAULT_CORPUS = (Path(__file__).resolve().parents[2] / "shared" / "data" / "react_webshop"
                  / "episodes.txt")
RESULTS = Path(__file__).resolve().parent / "results" / "refine_perturbed.json"
TIERS = ("strategic", "functional", "atomic")

# Page-text rewordings: (pattern, replacement), applied outside [bracketed] UI elements.
SYNONYMS = [
    (r"\bPage (\d+) \(Total results: (\d+)\)", r"Results page \1 (\2 items in total)"),
    (r"\bPrice:", "Cost:"), (r"\bRating:", "Stars:"), (r"\bYou have clicked\b", "You selected"),
    (r"\bThank you for shopping with us!", "Thanks for your purchase!"),
    (r"\bYour score\b", "Your score"),  # the adapter reads the score line: keep it
    (r"\bWebshop\b", "WebShop store"),
]
TASK_OPENERS = [
    (r"^i(?:'m| am) looking for\b", "please find me"), (r"^i need\b", "get me"),
    (r"^i want to buy\b", "help me buy"), (r"^i want\b", "find me"),
    (r"^i would like\b", "i'd love"), (r"^show me\b", "look up"),
]
FILLER = {"and", "with", "for", "the", "a", "an", "of", "in"}


def reword_task(task: str) -> str:
    t = task.strip()
    for pat, rep in TASK_OPENERS:
        if re.search(pat, t, re.I):
            t = re.sub(pat, rep, t, count=1, flags=re.I)
            break
    else:
        t = "please: " + t
    t = re.sub(r"price lower than ([\d.]+) dollars", r"costing under \1 dollars", t)
    return t


def reword(text: str | None, rng: random.Random, task: str, new_task: str) -> str | None:
    """Reword free text, leave [bracketed] elements (what actions click) untouched."""
    if text is None:
        return None
    if task and task in text:
        text = text.replace(task, new_task)
    parts = re.split(r"(\[[^\]\n]*\])", text)
    out = []
    for part in parts:
        if part.startswith("[") and part.endswith("]"):
            out.append(part)
            continue
        for pat, rep in SYNONYMS:
            part = re.sub(pat, rep, part)
        lines = []
        for line in part.split("\n"):
            words = line.split(" ")
            if len(words) > 5:  # free text (titles): drop some filler words
                words = [w for w in words if w.lower() not in FILLER or rng.random() < 0.5]
            line = " ".join(words)
            if len(words) > 5 and rng.random() < 0.3:
                line = line.upper()
            lines.append(line)
        out.append("\n".join(lines))
    return "".join(out)


def perturb(ep: Episode, rng: random.Random) -> Episode:
    new_task = reword_task(ep.task)
    steps = [s.model_copy(update={"observation": reword(s.observation, rng, ep.task, new_task),
                                  "result": reword(s.result, rng, ep.task, new_task)})
             for s in ep.steps]
    return Episode(id=f"{ep.id}~reworded", agent=ep.agent, task=new_task, steps=steps,
                   outcome=ep.outcome, source_format=ep.source_format,
                   metadata={**ep.metadata, "perturbed_from": ep.id})


def active_by_tier(store) -> dict[str, int]:  # noqa: ANN001
    out = dict.fromkeys(TIERS, 0)
    for r in store.find_nodes(Label.SKILL, where={"status": Status.ACTIVE.value}):
        out[r.props["tier"]] = out.get(r.props["tier"], 0) + 1
    out["guardrails"] = len(store.find_nodes(Label.GUARDRAIL,
                                             where={"status": Status.ACTIVE.value}))
    return out


def build(db: Path, episodes: list[Episode], model) -> tuple[object, float]:  # noqa: ANN001
    from expgraph.graph import ExperienceGraph

    g = ExperienceGraph(db, embedder=model)
    t0 = time.perf_counter()
    g.ingest(episodes)
    return g, time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--episodes", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--limit", type=int, default=None, help="first N episodes only")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not args.episodes.exists():
        print(f"corpus not found: {args.episodes}", file=sys.stderr)
        return 2
    from bench.distill import load_episodes
    from expgraph.embedder import default_embedder

    original = list(load_episodes(args.episodes))[: args.limit]
    rng = random.Random(args.seed)
    copy = [perturb(e, rng) for e in original]
    model = default_embedder()
    with tempfile.TemporaryDirectory() as tmp:
        single, t_single = build(Path(tmp) / "single.db", original, model)
        a = active_by_tier(single.store)
        single_report = single.refine()
        a_ref = active_by_tier(single.store)
        single.close()
        both, t_both = build(Path(tmp) / "both.db", original + copy, model)
        b = active_by_tier(both.store)
        states = both.store.count_by_label().get("State", 0)
        t0 = time.perf_counter()
        report = both.refine()
        t_refine = time.perf_counter() - t0
        c = active_by_tier(both.store)
        again = both.refine()
        both.close()
    cols = {"a": a, "a_refined": a_ref, "b": b, "c": c}
    rows = [(k, *(d[k] for d in cols.values())) for k in (*TIERS, "guardrails")]
    total = {x: sum(d[t] for t in TIERS) for x, d in cols.items()}
    rows.append(("skills total", *total.values()))
    within = abs(total["c"] - total["a"]) <= 0.10 * total["a"]
    same_as_single_refined = abs(total["c"] - total["a_refined"]) <= 0.10 * total["a_refined"]
    print(f"{len(original)} episodes + {len(copy)} reworded copies; {states} states with both")
    print(f"{'active':<14}{'(a) single':>12}{'(a) refined':>13}{'(b) both':>10}"
          f"{'(c) refined':>13}")
    for r in rows:
        print(f"{r[0]:<14}{r[1]:>12}{r[2]:>13}{r[3]:>10}{r[4]:>13}")
    for title, rep in (("refine passes on (b) -> (c)", report),
                       ("refine passes on (a) alone", single_report)):
        print(f"\n{title}:")
        for name, n, counts in rep.table_rows():
            print(f"  {name:<12}{n:>6}  {counts}")
    print(f"\n(c) within 10% of (a): {within} ({total['c']} vs {total['a']}); "
          f"(c) within 10% of (a) refined: {same_as_single_refined} "
          f"({total['c']} vs {total['a_refined']}); second refine changed "
          f"{again.total_changes}")
    for row in again.change_rows():
        print("  second run:", *row)
    print(f"time: ingest+distill single {t_single:.1f}s, both {t_both:.1f}s, "
          f"refine {t_refine:.1f}s")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "episodes": len(original), "perturbed": len(copy), "states_both": states,
        "active": {"single": a, "single_refined": a_ref, "both_before_refine": b,
                   "both_after_refine": c},
        "skills_total": total, "within_10_percent": within,
        "within_10_percent_of_single_refined": same_as_single_refined,
        "refine_single": single_report.model_dump(exclude={"passes": {"__all__": {"changes"}}}),
        "second_refine_changes": again.total_changes,
        "refine": report.model_dump(exclude={"passes": {"__all__": {"changes"}}}),
        "seconds": {"single": t_single, "both": t_both, "refine": t_refine},
    }, indent=2, default=str))
    print(f"wrote {RESULTS}")
    return 0 if within else 1


if __name__ == "__main__":
    raise SystemExit(main())
