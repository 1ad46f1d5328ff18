"""A synthetic corpus for the benchmarks: shopping and support-desk agents, successes and
failures, observations of realistic length (a few hundred characters).

Deterministic for a seed, so every benchmark run measures the same input.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from expgraph.models import ActionCall, Episode, Step

ADJ = ["red", "blue", "waterproof", "wireless", "organic", "stainless", "compact", "vegan",
       "leather", "bamboo", "ergonomic", "portable", "noise cancelling", "gluten free",
       "long lasting", "lightweight", "heavy duty", "scented", "rechargeable", "foldable"]
NOUN = ["hiking boots", "desk lamp", "coffee grinder", "yoga mat", "phone case", "face cream",
        "water bottle", "backpack", "headphones", "throw pillow", "tea set", "dog bed",
        "shampoo", "office chair", "rain jacket", "toothbrush", "jerky", "candle",
        "keyboard", "hair extension"]
BRAND = ["Acme", "Nordic", "Lumen", "Verde", "Oakly", "Pinnacle", "Solace", "Kestrel", "Tidal",
         "Ember", "Quill", "Harbor"]
COLORS = ["black", "white", "navy", "grey", "olive", "red", "beige", "pink"]
SIZES = ["small", "medium", "large", "x-large", "8 oz", "16 oz", "pack of 2", "pack of 6"]
TOOLS = ["get_order", "get_user_details", "search_flights", "update_address", "cancel_order",
         "refund_payment", "list_reservations", "send_email"]


def _asin(rng: random.Random) -> str:
    return "B0" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(8))


def _title(rng: random.Random, noun: str) -> str:
    extra = rng.sample(ADJ, 3)
    return (f"{rng.choice(BRAND)} {' '.join(extra[:2]).title()} {noun.title()} with "
            f"{extra[2]} design, premium quality, {rng.randint(1, 5)} year warranty")


def _results_page(rng: random.Random, noun: str, items: list[str]) -> str:
    lines = ["[Back to Search]", f"Page 1 (Total results: {rng.randint(20, 60)})", "[Next >]"]
    for asin in items:
        lines += [f"[{asin}]", _title(rng, noun), f"${rng.uniform(5, 80):.2f}"]
    return "\n".join(lines)


def _item_page(rng: random.Random, noun: str, color: str, size: str) -> str:
    colors = " ".join(f"[{c}]" for c in rng.sample(COLORS, 4) + [color])
    sizes = " ".join(f"[{s}]" for s in rng.sample(SIZES, 3) + [size])
    return (f"[Back to Search]\n[< Prev]\ncolor {colors}\nsize {sizes}\n{_title(rng, noun)}\n"
            f"Price: ${rng.uniform(5, 80):.2f}\nRating: N.A.\n[Description]\n[Features]\n"
            "[Reviews]\n[Buy Now]")


def shop_episode(rng: random.Random, i: int, steps: int) -> Episode:
    noun, adj = rng.choice(NOUN), rng.choice(ADJ)
    color, size = rng.choice(COLORS), rng.choice(SIZES)
    price = rng.choice([20, 30, 40, 50, 100])
    task = f"i need a {adj} {noun} in {color}, size {size}, and price lower than {price}.00 dollars"
    obs = f"WebShop\nInstruction:\n{task}\n[Search]"
    out = []
    success = rng.random() < 0.55
    items = [_asin(rng) for _ in range(3)]
    plan = [("search", f"{adj} {noun}", _results_page(rng, noun, items)),
            ("click", items[rng.randrange(3)], _item_page(rng, noun, color, size)),
            ("click", color, f"You have clicked {color}."),
            ("click", size, f"You have clicked {size}.")]
    while len(plan) < steps - 1:  # pad long episodes with browsing and reasoning
        kind = rng.random()
        if kind < 0.4:
            plan.insert(1, ("think", f"The first results do not match {adj}; look further.", "OK."))
        elif kind < 0.7:
            plan.insert(1, ("click", "Next >", _results_page(rng, noun, [_asin(rng) for _ in range(3)])))
        else:
            plan.insert(2, ("click", "< Prev", _results_page(rng, noun, items)))
    final = ("click", "Buy Now", "Thank you for shopping with us!") if success else \
        rng.choice([("click", "Buy Now", "Your score (min 0.0, max 1.0): 0.0"),
                    ("click", "Add to cart", "Invalid action!"),
                    ("search", f"{noun}", "Invalid action!")])
    plan = plan[:steps - 1] + [final]
    for verb, arg, result in plan:
        out.append({"observation": obs, "action": {"name": verb, "arguments": {
            {"search": "query", "click": "item", "think": "thought"}[verb]: arg},
            "raw": f"{verb}[{arg}]"}, "result": result, "error": result == "Invalid action!"})
        obs = result
    return Episode(id=f"shop-{i}", agent="synthetic-shop", task=task, steps=out,
                   outcome={"success": success, "reward": 1.0 if success else 0.0},
                   source_format="synthetic")


def support_episode(rng: random.Random, i: int, steps: int) -> Episode:
    user = f"{rng.choice(['mia', 'liam', 'ava', 'noah', 'zoe'])}_{rng.randint(1000, 9999)}"
    order = f"#W{rng.randint(1000000, 9999999)}"
    task = (f"Customer {user} asks to {rng.choice(['cancel', 'return', 'exchange'])} order "
            f"{order} because the {rng.choice(NOUN)} arrived {rng.choice(['late', 'damaged', 'wrong'])}")
    success = rng.random() < 0.6
    obs = f"user: Hi, I'm {user}. {task}."
    out = []
    for s in range(steps):
        tool = TOOLS[(s + rng.randrange(2)) % len(TOOLS)]
        args = {"user_id": user} if s == 0 else {"order_id": order, "reason": "customer request"}
        err = (not success) and s == steps - 1
        result = (f"Error: order {order} cannot be modified in status delivered" if err else
                  '{"order_id": "%s", "status": "%s", "items": [{"name": "%s", "price": %.2f}]}'
                  % (order, rng.choice(["pending", "processed", "delivered"]), rng.choice(NOUN),
                     rng.uniform(5, 300)))
        out.append({"observation": obs, "action": {"name": tool, "arguments": args},
                    "result": result, "error": err})
        obs = f"tool: {result}"
    return Episode(id=f"support-{i}", agent="synthetic-support", task=task, steps=out,
                   outcome={"success": success}, source_format="synthetic")


def generate_corpus(n_episodes: int, steps_per_episode: int = 10, seed: int = 0) -> list[Episode]:
    """`n_episodes` episodes of `steps_per_episode` steps: 70% shopping, 30% support desk."""
    rng = random.Random(seed)
    return [shop_episode(rng, i, steps_per_episode) if rng.random() < 0.7
            else support_episode(rng, i, steps_per_episode) for i in range(n_episodes)]


# --------------------------------------------------------------------------- realistic corpus
# Steps sampled and recombined from the real corpora in ../shared/data, read with the project's
# adapters (bench/nextaction_data.py). A store of n steps then holds what real logs hold: texts
# that keep being new (ids, prices, objects, rewritten consistently within an episode), next to
# boilerplate that recurs ("Nothing happens.", "Invalid action!", the retail greeting).

REAL_CORPORA = ("webshop", "hotpotqa", "alfworld", "tau_retail")
_DIGITS = re.compile(r"\d+")


class _Entities:
    """One variant of an episode: every digit run rewritten by a keyed hash that keeps its
    length, the same run the same way everywhere in the episode (ids stay consistent between
    the observation that shows them and the action that uses them). Variant 0 is the original."""

    def __init__(self, variant: int) -> None:
        self.variant = variant
        self.memo: dict[str, str] = {}

    def _one(self, m: re.Match[str]) -> str:
        d = m.group(0)
        out = self.memo.get(d)
        if out is None:
            h = hashlib.blake2b(f"{self.variant}:{d}".encode(), digest_size=8).digest()
            n = int.from_bytes(h, "big") % 10 ** len(d)
            out = self.memo[d] = str(n).zfill(len(d))
        return out

    def __call__(self, value: Any) -> Any:
        if self.variant == 0:
            return value
        if isinstance(value, str):
            return _DIGITS.sub(self._one, value)
        if isinstance(value, dict):
            return {k: self(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v) for v in value]
        return value


def load_real_pool(data_dir: Path | None = None) -> list[Episode]:
    """Every episode of the four real corpora (file order, exact reprints dropped)."""
    from bench.nextaction_data import CORPORA, DATA, load_corpus

    out: list[Episode] = []
    for name in REAL_CORPORA:
        out += load_corpus(CORPORA[name], data_dir or DATA).episodes
    return out


def realistic_corpus(n_steps: int, seed: int = 0, novelty: float = 0.5,
                     splice: float = 0.2, pool: list[Episode] | None = None,
                     data_dir: Path | None = None) -> list[Episode]:
    """`iter_realistic_corpus` as a list."""
    return list(iter_realistic_corpus(n_steps, seed, novelty, splice, pool, data_dir))


def iter_realistic_corpus(n_steps: int, seed: int = 0, novelty: float = 0.5,
                          splice: float = 0.2, pool: list[Episode] | None = None,
                          data_dir: Path | None = None) -> Iterator[Episode]:
    """Episodes totalling at least `n_steps` steps, recombined from the real corpora, one at
    a time (a 1,000,000-step corpus is never held whole: ingest takes them in batches).

    Each episode takes a real episode as its skeleton (task, actions, outcome). The k-th time a
    skeleton is drawn it becomes a new variant (its ids and numbers rewritten) with probability
    k**novelty - (k-1)**novelty, else repeats an earlier variant: distinct texts then grow like
    Heaps' law, n**novelty per skeleton, the way a deployed agent's logs repeat tasks but rarely
    pages. Each step, with probability `splice`, takes its observation and result from another
    real step of the same corpus that took the same action (recombination across episodes).
    Deterministic for a seed."""
    pool = pool if pool is not None else load_real_pool(data_dir)
    rng = random.Random(seed)
    by_action: dict[tuple[str, str], list[tuple[str, str | None]]] = {}
    for ep in pool:
        for s in ep.steps:
            by_action.setdefault((ep.agent, s.action.name), []).append((s.observation, s.result))
    draws = [0] * len(pool)
    variants = [0] * len(pool)
    made = 0
    total = 0
    while total < n_steps:
        j = rng.randrange(len(pool))
        draws[j] += 1
        k = draws[j]
        if rng.random() < k ** novelty - (k - 1) ** novelty:
            variant = variants[j]
            variants[j] += 1
        else:
            variant = rng.randrange(variants[j])
        src = pool[j]
        ent = _Entities(variant)
        steps = []
        for s in src.steps:
            obs, result = s.observation, s.result
            if rng.random() < splice:
                obs, result = rng.choice(by_action[(src.agent, s.action.name)])
            steps.append(Step(index=len(steps), observation=ent(obs),
                              action=ActionCall(name=s.action.name,
                                                arguments=ent(s.action.arguments),
                                                raw=ent(s.action.raw)),
                              result=ent(result), reward=s.reward, error=s.error,
                              thought=ent(s.thought)))
        yield Episode(id=f"{src.id}~{made}", agent=src.agent, task=ent(src.task),
                      steps=steps, outcome=src.outcome, source_format="recombined")
        made += 1
        total += len(steps)


def growth(episodes: list[Episode]) -> dict[str, int]:
    """How much of a corpus is new text: what ingest must embed (task, state signatures and the
    two views of each step, each distinct text once) and how many distinct states it shows."""
    from expgraph.distill.states import canonicalize
    from expgraph.memory.records import step_views

    tasks, sigs, newest, windows = set(), set(), set(), set()
    for ep in episodes:
        tasks.add(ep.task)
        for s in ep.steps:
            sigs.add(canonicalize(s.observation))
            new, win = step_views(s.observation)
            newest.add(new)
            windows.add(win)
        if ep.steps and ep.steps[-1].result is not None:
            sigs.add(canonicalize(ep.steps[-1].result))
    return {"episodes": len(episodes), "steps": sum(len(e.steps) for e in episodes),
            "tasks": len(tasks), "signatures": len(sigs), "newest_messages": len(newest),
            "windows": len(windows), "texts_to_embed": len(tasks | sigs | newest | windows)}


def main() -> None:
    """Print how the realistic corpus grows with size (and the synthetic one, for contrast)."""
    import argparse
    import json
    import time

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "corpus_growth.json")
    args = ap.parse_args()
    pool = load_real_pool(args.data)
    rows = []
    for n in args.sizes:
        t0 = time.perf_counter()
        eps = realistic_corpus(n, args.seed, pool=pool)
        rows.append({"corpus": "real", **growth(eps),
                     "generate_s": round(time.perf_counter() - t0, 1)})
        syn = generate_corpus(n // 10, 10, args.seed)
        rows.append({"corpus": "synthetic", **growth(syn)})
        print(rows[-2], rows[-1], flush=True)
    keys = ["corpus", "steps", "episodes", "tasks", "signatures", "newest_messages", "windows",
            "texts_to_embed"]
    print("  ".join(f"{k:>15}" for k in keys))
    for r in rows:
        print("  ".join(f"{r[k]:>15}" for k in keys))
    args.out.write_text(json.dumps({"seed": args.seed, "rows": rows}, indent=2))


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
