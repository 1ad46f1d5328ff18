"""Reliability harness shared by `bench/reliability.py` and the reliability tests: corpus files,
a child process that ingests and kills itself at a chosen point, processes opening one new
store at once, and graph comparison.

    python -m bench.harness ingest DB FILE [--kill-after N | --kill-in-distill] [--batch B]
        [--ready PATH --start-after PATH]

The child kills itself with SIGKILL, so a trial is deterministic: `--kill-after N` right after
the N-th episode has committed (inside the next episode's write transaction),
`--kill-in-distill N` as the N-th write of a distilled layer starts (mined and embedded,
nothing written).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import generate_corpus  # noqa: E402
from expgraph.models import Episode, Label, Rel  # noqa: E402
from expgraph.store.base import GraphStore  # noqa: E402

VOLATILE = ("created_at", "updated_at")


def _open_at(path: str, start: float, out: Any) -> None:
    from expgraph.store.sqlite import SQLiteStore

    while time.time() < start:
        pass
    try:
        store = SQLiteStore(path)
        store.set_meta(f"opened-{os.getpid()}", 1)
        store.close()
        out.put((os.getpid(), "ok"))
    except Exception as exc:  # noqa: BLE001 - the parent reports what each child met
        out.put((os.getpid(), repr(exc)))


def open_together(path: Path, processes: int) -> dict[int, str]:
    """`processes` forked processes open the SQLite store `path` (a new file) at one instant,
    each writing a meta key `opened-<pid>`: what each met, "ok" or its error, by pid."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    out, start = ctx.Queue(), time.time() + 0.1
    procs = [ctx.Process(target=_open_at, args=(str(path), start, out))
             for _ in range(processes)]
    for p in procs:
        p.start()
    met = dict(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join()
    return met


def write_corpus(path: Path, n: int, seed: int, steps: int = 6) -> list[Episode]:
    """`n` generated episodes (ids unique per seed) as canonical JSONL."""
    eps = generate_corpus(n, steps_per_episode=steps, seed=seed)
    for i, ep in enumerate(eps):
        ep.id = f"s{seed}-{i}"
    path.write_text("".join(ep.model_dump_json(exclude_none=True) + "\n" for ep in eps))
    return eps


def snapshot(store: GraphStore) -> tuple[dict[str, Any], dict[tuple, Any]]:
    """Every node (label, text, props less timestamps) and edge (props) of the store: two
    stores are the same graph when their snapshots are equal (embeddings left out: a text's
    vector is the model's, not the store's)."""
    nodes = {}
    for label in Label:
        for r in store.find_nodes(label):
            props = {k: v for k, v in r.props.items() if k not in VOLATILE}
            nodes[r.id] = (r.label.value, r.text, json.dumps(props, sort_keys=True))
    edges = {(e.src, e.type.value, e.dst, e.key): json.dumps(e.props, sort_keys=True)
             for rel in Rel for e in store.edges(rel)}
    return nodes, edges


def divergence(a: GraphStore, b: GraphStore) -> dict[str, int]:
    """How many nodes and edges differ (missing from one side, or with other props)."""
    (na, ea), (nb, eb) = snapshot(a), snapshot(b)
    return {"nodes": sum(na.get(k) != nb.get(k) for k in na.keys() | nb.keys()),
            "edges": sum(ea.get(k) != eb.get(k) for k in ea.keys() | eb.keys())}


def derived_counts(store: GraphStore) -> dict[str, int]:
    counts = store.count_by_label()
    return {k: counts.get(k, 0) for k in ("Episode", "State", "Skill", "Failure", "Guardrail")}


def episodes_in_commit_order(store: GraphStore) -> list[str]:
    recs = store.find_nodes(Label.EPISODE)
    return [r.props["episode_id"] for r in sorted(recs, key=lambda r: r.props.get("seq", 0))]


def run_child(db: Path, file: Path, *opts: str) -> tuple[int, str]:
    """Run the child (see the module doc); (return code, its stdout + stderr)."""
    import subprocess

    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([sys.executable, "-m", "bench.harness", "ingest", str(db), str(file),
                           *opts], cwd=repo, env=env, capture_output=True, text=True)
    return proc.returncode, proc.stdout + proc.stderr


def reference(db: Path, files: list[Path], order: list[str], embedder: Any) -> Any:
    """The one-process graph: the episodes of `files` ingested by one process, in `order`
    (episode ids, e.g. the commit order of a concurrent run), then distilled once."""
    from expgraph.graph import ExperienceGraph
    from ingestion import open_source

    eps = {e.id: e for f in files for e in open_source(f) if isinstance(e, Episode)}
    g = ExperienceGraph(db, embedder=embedder)
    g.ingest([eps[i] for i in order])
    return g


def _child(args: argparse.Namespace) -> int:
    from expgraph.graph import ExperienceGraph
    from ingestion.pipeline import Ingestor

    if args.kill_after is not None:
        claim = Ingestor._claim_seq
        claimed = 0

        def claim_then_die(self: Ingestor, last: int) -> int:
            nonlocal claimed
            if claimed >= args.kill_after:
                os.kill(os.getpid(), signal.SIGKILL)
            claimed += 1
            return claim(self, last)

        Ingestor._claim_seq = claim_then_die  # type: ignore[method-assign]
    if args.kill_in_distill:
        import expgraph.distill as distill_mod

        write = distill_mod.write_layer
        calls = 0

        def die_in_write(*a: Any, **kw: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls >= args.kill_in_distill:  # mined and embedded, nothing of it written
                os.kill(os.getpid(), signal.SIGKILL)
            return write(*a, **kw)

        distill_mod.write_layer = die_in_write  # type: ignore[assignment]
    g = ExperienceGraph(args.db)
    g.ingestor.batch_size = args.batch
    g.embedder  # noqa: B018 - load the model before the start line
    if args.ready:
        Path(args.ready).touch()
    if args.start_after:
        while not Path(args.start_after).exists():
            time.sleep(0.01)
    report = g.ingest(args.file)
    print(json.dumps({"ingested": report.ingested, "skipped": report.skipped,
                      "rejected": len(report.rejected)}))
    g.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("ingest")
    p.add_argument("db")
    p.add_argument("file")
    p.add_argument("--kill-after", type=int, default=None)
    p.add_argument("--kill-in-distill", type=int, default=0, metavar="N",
                   help="die as the N-th write of a distilled layer starts")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--start-after", default=None, help="wait for this file to exist")
    p.add_argument("--ready", default=None, help="touch this file once the model is loaded")
    args = ap.parse_args(argv)
    return _child(args)


if __name__ == "__main__":
    raise SystemExit(main())
