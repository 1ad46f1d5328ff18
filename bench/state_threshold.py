"""Measure the state-merge threshold on the WebShop corpus.

Every observation the ingest pipeline turns into a state (each step's observation plus the last
result) is given a ground-truth *page kind* from WebShop's own markers (search page, results
page, item page, option clicked, score, invalid action, ...). Distinct canonical signatures are
embedded like ingest does; for each signature we take the cosine to its nearest neighbour of the
SAME kind and of a DIFFERENT kind, then sweep the threshold through a fresh `StateIndex` and
report states, purity (members whose kind is their state's majority kind) and wrong merges.

    .venv/bin/python bench/state_threshold.py [--episodes PATH]

Prints a table and writes bench/results/state_threshold.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.distill import DEFAULT_CORPUS, load_episodes  # noqa: E402
from expgraph.distill.states import STATE_MERGE_THRESHOLD, StateIndex, canonicalize  # noqa: E402
from expgraph.embedder import CachedEmbedder, default_embedder  # noqa: E402

THRESHOLDS = (0.80, 0.85, 0.88, 0.90, 0.92, 0.94, 0.96, 0.98, 1.01)


def page_kind(text: str) -> str:
    """WebShop's page kind, from markers the canonicaliser never looks at as such."""
    t = (text or "").strip()
    low = t.lower()
    if not t:
        return "empty"
    if low.startswith("webshop") or "instruction:" in low:
        return "search_page"
    if "total results" in low:
        return "results_page"
    if "[buy now]" in low or ("[< prev]" in low and "price:" in low):
        return "item_page"
    if low.startswith("you have clicked"):
        return "option_clicked"
    if low.startswith("your score"):
        return "score"
    if low.startswith("invalid action"):
        return "invalid_action"
    if low == "ok.":
        return "ok"
    if "[< prev]" in low:
        return "item_detail"  # description / features / reviews tab
    return "other"


def observations(path: Path) -> list[str]:
    out: list[str] = []
    for ep in load_episodes(path):
        out += [s.observation for s in ep.steps]
        if ep.steps and ep.steps[-1].result is not None:
            out.append(ep.steps[-1].result)
    return out


def nearest(vecs: np.ndarray, kinds: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per signature: best cosine to another signature of the same kind / of another kind."""
    sims = vecs @ vecs.T
    np.fill_diagonal(sims, -1.0)
    k = np.array(kinds)
    same = sims.copy()
    same[k[:, None] != k[None, :]] = -1.0
    other = sims.copy()
    other[k[:, None] == k[None, :]] = -1.0
    return same.max(axis=1), other.max(axis=1)


def sweep(texts: list[str], sig_vec: dict[str, np.ndarray], dim: int) -> list[dict]:
    rows = []
    for t in THRESHOLDS:
        idx = StateIndex(threshold=t, dim=dim)
        members: dict[str, Counter] = defaultdict(Counter)
        for text in texts:
            sig = canonicalize(text)
            sid, _ = idx.resolve(sig, sig_vec[sig])
            members[sid][page_kind(text)] += 1
        total = sum(sum(c.values()) for c in members.values())
        pure = sum(c.most_common(1)[0][1] for c in members.values())
        mixed = sum(1 for c in members.values() if len(c) > 1)
        kinds_split = Counter(k for c in members.values() for k in c)
        rows.append({"threshold": t, "states": len(members), "purity": pure / total,
                     "mixed_states": mixed,
                     "states_per_kind": round(len(members) / max(len(kinds_split), 1), 2)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--episodes", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "state_threshold.json")
    args = ap.parse_args()
    texts = observations(args.episodes)
    by_sig: dict[str, Counter] = defaultdict(Counter)
    for text in texts:
        by_sig[canonicalize(text)][page_kind(text)] += 1
    sigs = sorted(by_sig)
    kinds = [by_sig[s].most_common(1)[0][0] for s in sigs]
    ambiguous = sum(sum(c.values()) - c.most_common(1)[0][1] for c in by_sig.values())
    embedder = CachedEmbedder(default_embedder())
    vecs = embedder.embed(sigs)
    same, other = nearest(vecs, kinds)
    has_same = same > -1.0
    print(f"{len(texts)} observations, {len(sigs)} distinct signatures, "
          f"{len(set(kinds))} page kinds; {ambiguous} observations whose signature is shared "
          f"with another kind (the canonicaliser, not the threshold, conflates those)\n")
    qs = (0.05, 0.25, 0.5, 0.75, 0.95)
    print("nearest-neighbour cosine between distinct signatures")
    print(f"{'':24}" + "".join(f"p{int(q * 100):<7}" for q in qs))
    same_q = np.quantile(same[has_same], qs).round(3).tolist() if has_same.any() else []
    other_q = np.quantile(other, qs).round(3).tolist()
    print(f"{'same kind':24}" + "".join(f"{v:<8}" for v in same_q))
    print(f"{'different kind':24}" + "".join(f"{v:<8}" for v in other_q))
    per_kind = {}
    for kind in sorted(set(kinds)):
        m = np.array([k == kind for k in kinds])
        per_kind[kind] = {"signatures": int(m.sum()),
                          "max_cross_kind": round(float(other[m].max()), 3),
                          "median_same_kind": round(float(np.median(same[m & has_same])), 3)
                          if (m & has_same).any() else None}
    print("\nper kind: signatures, median same-kind NN cosine, max cosine to another kind")
    for kind, row in per_kind.items():
        print(f"  {kind:16} {row['signatures']:5}  {row['median_same_kind']}  "
              f"{row['max_cross_kind']}")
    sig_vec = dict(zip(sigs, vecs, strict=True))
    rows = sweep(texts, sig_vec, embedder.dim)
    print("\nthreshold sweep (StateIndex over all observations in corpus order)")
    print(f"{'threshold':>10} {'states':>7} {'purity':>8} {'mixed states':>13}")
    for r in rows:
        mark = "  <- STATE_MERGE_THRESHOLD" if abs(r["threshold"] - STATE_MERGE_THRESHOLD) < 1e-9 \
            else ""
        print(f"{r['threshold']:>10.2f} {r['states']:>7} {r['purity']:>8.4f} "
              f"{r['mixed_states']:>13}{mark}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "corpus": str(args.episodes), "observations": len(texts), "signatures": len(sigs),
        "ambiguous_observations": ambiguous, "current_threshold": STATE_MERGE_THRESHOLD,
        "same_kind_nn_quantiles": dict(zip(map(str, qs), same_q, strict=False)),
        "cross_kind_nn_quantiles": dict(zip(map(str, qs), other_q, strict=True)),
        "per_kind": per_kind, "sweep": rows}, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
