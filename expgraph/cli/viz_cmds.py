"""`expgraph viz`: draw a view of the graph to a self-contained HTML page or a figure."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from expgraph.cli import CLIError, open_graph
from expgraph.cli.progress import Bar


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from expgraph.viz import DEFAULT_MAX_NODES, VIEWS

    p = sub.add_parser(
        "viz", parents=[common],
        help="draw the graph: interactive offline HTML, or PNG/SVG/PDF figures",
        description="Views: hierarchy (plans -> functional -> atomic skills), failures "
                    "(failure -> guardrail map), transitions (states of a task cluster, success "
                    "rates on edges), episode (one episode's path over the graph), query (a "
                    "query's results and the graph paths that ranked them), overview.")
    p.add_argument("--out", "-o", type=Path, required=True,
                   help="output file: .html (interactive) or .png / .svg / .pdf")
    p.add_argument("--view", choices=VIEWS, default="hierarchy", help="default: hierarchy")
    p.add_argument("--label", action="append", default=None,
                   help="only nodes of this label (repeatable or comma-separated)")
    p.add_argument("--tier", action="append", default=None,
                   help="only skills of this tier: strategic, functional, atomic")
    p.add_argument("--cluster", type=int, default=None, help="only this task cluster")
    p.add_argument("--episode", default=None,
                   help="episode view: episode id, episode node id or ingest number")
    p.add_argument("--query", default=None, help="query view: the state text to query with")
    p.add_argument("--task", default=None, help="query view: the task the agent works on")
    p.add_argument("-k", type=int, default=10, help="query view: results to draw (default 10)")
    p.add_argument("--max-nodes", type=int, default=DEFAULT_MAX_NODES,
                   help=f"cap on drawn nodes; the rest are aggregated (default "
                        f"{DEFAULT_MAX_NODES})")
    p.add_argument("--namespaces", default=None,
                   help="draw several namespaces of the store together, e.g. team-a,team-b")
    p.add_argument("--include-inactive", action="store_true",
                   help="also draw merged / deprecated / redundant items")
    p.add_argument("--json", action="store_true", help="print what was drawn as JSON")
    p.set_defaults(func=cmd_viz)


def _split(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [v.strip() for x in values for v in x.split(",") if v.strip()]


def cmd_viz(args: argparse.Namespace) -> int:
    from expgraph.models import Label, Tier
    from expgraph.viz import draw

    if args.view == "episode" and not args.episode:
        raise CLIError("the episode view needs --episode ID (an episode id or ingest number)")
    if args.view == "query" and not args.query:
        raise CLIError("the query view needs --query TEXT (what the agent is looking at)")
    labels, tiers = _split(args.label), _split(args.tier)
    for name, given, allowed in (("label", labels, [x.value for x in Label]),
                                 ("tier", tiers, [x.value for x in Tier])):
        bad = [v for v in given or () if v not in allowed]
        if bad:
            raise CLIError(f"unknown {name} {bad[0]!r}; choose from {', '.join(allowed)}")
    if args.max_nodes < 1:
        raise CLIError("--max-nodes must be at least 1")
    if not args.out.parent.exists():
        raise CLIError(f"folder {args.out.parent} does not exist; create it first")
    db = args.db
    if db and "://" not in db and not Path(db).exists():
        raise CLIError(f"no store at {db}; ingest something first or check --db")
    namespaces = _split([args.namespaces]) if args.namespaces else None
    graphs = [open_graph(args)] if not namespaces else [
        open_graph(argparse.Namespace(**{**vars(args), "namespace": ns})) for ns in namespaces]
    try:
        with Bar(args, f"viz {args.view}", "step") as bar:
            d = draw(graphs if len(graphs) > 1 else graphs[0], view=args.view, out=args.out,
                     labels=labels, tiers=tiers, cluster=args.cluster, episode=args.episode,
                     query=args.query, task=args.task, k=args.k, max_nodes=args.max_nodes,
                     include_inactive=args.include_inactive, progress=bar)
    finally:
        for g in graphs:
            g.close()
    report = {"view": args.view, "out": str(d.path), "drawn_nodes": d.drawn_nodes,
              "total_nodes": d.total_nodes, "edges": len(d.scene.edges), "note": d.note}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"wrote {d.path}: {d.drawn_nodes} nodes drawn"
              + (f" of {d.total_nodes}" if d.total_nodes != d.drawn_nodes else "")
              + f", {report['edges']} edges" + (f" ({d.note})" if d.note else ""))
    return 0
