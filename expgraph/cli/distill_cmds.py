"""Distillation commands: `distill` (offline rebuild), `skills` and `guardrails` listings."""

from __future__ import annotations

import argparse
import json

from expgraph.cli import CLIError, open_graph, print_table
from expgraph.cli.progress import Bar
from expgraph.models import Label
from expgraph.views import TIERS, skill_rows


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("distill", parents=[common],
                       help="rebuild states, skills, failures and guardrails from all episodes")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_distill)

    p = sub.add_parser("skills", parents=[common], help="list distilled and imported skills")
    p.add_argument("--tier", choices=TIERS, default=None, help="only this tier")
    p.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    p.add_argument("--all", action="store_true", help="include merged/deprecated skills")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_skills)

    p = sub.add_parser("guardrails", parents=[common], help="list guardrails, most severe first")
    p.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_guardrails)


def cmd_distill(args: argparse.Namespace) -> int:
    with open_graph(args) as graph:
        if not graph.store.count_by_label().get(Label.EPISODE.value):
            raise CLIError(f"no episodes in {graph.store!r}; run `expgraph ingest FILE` first")
        with Bar(args, "distill", "stage") as bar:
            report = graph.distill(rebuild=True, progress=bar)
    if args.json:
        print(json.dumps(report.model_dump(), indent=2))
    else:
        print_table(report.table_rows(), ["node", "kind", "count"])
    return 0


def _check_limit(limit: int) -> None:
    if limit < 1:
        raise CLIError(f"--limit must be at least 1 (got {limit})")


def cmd_skills(args: argparse.Namespace) -> int:
    _check_limit(args.limit)
    with open_graph(args) as graph:
        where = {"tier": args.tier} if args.tier else None
        recs = graph.store.find_nodes(Label.SKILL, where=where)
    if not args.all:
        recs = [r for r in recs if r.props.get("status", "active") == "active"]
    rows = skill_rows(recs, args.limit)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print_table([(r["tier"], _clip(r["name"], 60), _clip(" -> ".join(r["actions"] or []), 70),
                  r["support"], f"{r['successes']}/{r['failures']}", r["utility"])
                 for r in rows], ["tier", "name", "actions", "support", "succ/fail", "utility"])
    return 0


def cmd_guardrails(args: argparse.Namespace) -> int:
    _check_limit(args.limit)
    with open_graph(args) as graph:
        recs = graph.store.find_nodes(Label.GUARDRAIL)
    recs = sorted(recs, key=lambda r: (-r.props.get("severity", 0.0), r.id))[:args.limit]
    keys = ("rule", "trigger", "forbidden", "alternative", "root_cause", "scope", "severity",
            "support", "failures", "total", "utility", "status")
    rows = [{"id": r.id, **{k: r.props.get(k) for k in keys}} for r in recs]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print_table([(r["severity"], r["scope"], ", ".join(r["forbidden"]), r["alternative"] or "-",
                  f"{r['failures']}/{r['total']}", _clip(r["trigger"], 60)) for r in rows],
                ["severity", "scope", "avoid", "instead", "failed", "when"])
    return 0


def _clip(text: str | None, n: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[: n - 3] + "..."
