"""The `expgraph` command line. Each area registers its subcommands from its own module."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from expgraph.errors import UsageError
from expgraph.store.base import StoreError

# Modules that add subcommands; each defines `register(subparsers)`.
COMMAND_MODULES = (
    "expgraph.cli.core_cmds",
    "expgraph.cli.distill_cmds",
    "expgraph.cli.store_cmds",
    "expgraph.cli.refine_cmds",
    "expgraph.cli.query_cmds",
    "expgraph.cli.viz_cmds",
)


class CLIError(UsageError):
    """A problem the user can fix; printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="expgraph",
        description="Experience knowledge base for LLM agents: ingest episodes, distil skills "
                    "and guardrails, ask what applies in a state.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default=None,
                        help="store: a SQLite file path or a bolt:// / neo4j:// URI "
                             "(default: $EXPGRAPH_DB, $NEO4J_URI, ./expgraph.db)")
    common.add_argument("--namespace", default=os.environ.get("EXPGRAPH_NAMESPACE", "default"),
                        help="namespace inside the store (default: default)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    parser.set_defaults(_common=common)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("expgraph: interrupted", file=sys.stderr)
        return 130
    except (UsageError, StoreError, FileNotFoundError, PermissionError) as exc:
        # A store or input problem: one line, no traceback. Any other exception is a bug.
        if not os.environ.get("EXPGRAPH_DEBUG"):
            print(f"expgraph: error: {exc}", file=sys.stderr)
            return 2
        raise


def open_graph(args: argparse.Namespace, **kw: object):  # noqa: ANN201
    """The facade for a parsed command line (`--db`, `--namespace`)."""
    from expgraph.graph import ExperienceGraph

    return ExperienceGraph(args.db, namespace=args.namespace, **kw)  # type: ignore[arg-type]


def print_table(rows: Sequence[Sequence[object]], headers: Sequence[str]) -> None:
    """A plain aligned table: readable in a terminal, stable for tests."""
    cells = [[str(h) for h in headers]] + [[_cell(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for j, r in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        if j == 0:
            print("  ".join("-" * w for w in widths))


def _cell(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)
