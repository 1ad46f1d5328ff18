"""Store commands: `expgraph copy` moves a graph between the embedded store and Neo4j/Bolt."""

from __future__ import annotations

import argparse
import json
import os

from expgraph.cli import CLIError, print_table
from expgraph.cli.progress import Bar


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "copy", help="copy a whole graph between stores (SQLite file <-> bolt:// / neo4j://)",
        description="Copy nodes (with embeddings), edges, metadata and the embedding cache, "
                    "then compare counts per label and type on both sides (exit 1 if they "
                    "differ).")
    p.add_argument("--from", dest="source", required=True, help="source: file path or URI")
    p.add_argument("--to", dest="target", required=True, help="target: file path or URI")
    p.add_argument("--namespace", default=os.environ.get("EXPGRAPH_NAMESPACE", "default"),
                   help="namespace to copy (same name on both sides; default: default)")
    p.add_argument("--batch", type=int, default=500, help="records per write batch (500)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_copy)


def cmd_copy(args: argparse.Namespace) -> int:
    from expgraph.store import open_store
    from expgraph.store.copy import copy_graph

    if args.source == args.target:
        raise CLIError("--from and --to are the same store")
    if args.batch < 1:
        raise CLIError("--batch must be at least 1")
    src = open_store(args.source, namespace=args.namespace)
    try:
        dst = open_store(args.target, namespace=args.namespace)
        try:
            with Bar(args, "copy", "record") as bar:
                report = copy_graph(src, dst, batch_size=args.batch, progress=bar)
        finally:
            dst.close()
    finally:
        src.close()
    if args.json:
        print(json.dumps({"from": args.source, "to": args.target,
                          "namespace": args.namespace, **report.as_dict()}, indent=2))
    else:
        print_table(report.rows(), ["kind", "name", "source", "target", "check"])
        verdict = "counts match" if report.ok else "COUNTS DIFFER"
        print(f"\ncopied {args.source} -> {args.target} (namespace {args.namespace}) "
              f"in {report.seconds:.1f}s: {verdict}")
    return 0 if report.ok else 1
