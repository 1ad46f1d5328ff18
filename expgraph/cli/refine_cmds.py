"""Refinement commands: refine, feedback, show."""

from __future__ import annotations

import argparse
import json

from expgraph.cli import open_graph, print_table


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from expgraph.refine import PASSES

    p = sub.add_parser("refine", parents=[common],
                       help="merge near-duplicates, rescore, retire, promote, prune, "
                            "consolidate guardrails, re-cluster")
    p.add_argument("--pass", dest="passes", action="append", choices=list(PASSES),
                   metavar="NAME", help=f"run only this pass (repeatable): {', '.join(PASSES)}")
    p.add_argument("--dry-run", action="store_true", help="report what would change; write "
                                                          "nothing")
    p.add_argument("--details", action="store_true", help="also list every change")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_refine)

    p = sub.add_parser("feedback", parents=[common],
                       help="record that a served skill/guardrail helped or not")
    p.add_argument("id", help="skill or guardrail id")
    outcome = p.add_mutually_exclusive_group(required=True)
    outcome.add_argument("--success", dest="success", action="store_true")
    outcome.add_argument("--failure", dest="success", action="store_false")
    p.add_argument("--episode", default=None,
                   help="the episode it was served for (counted once per episode)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_feedback)

    p = sub.add_parser("show", parents=[common],
                       help="a node with its evidence, status and history")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_show)


def cmd_refine(args: argparse.Namespace) -> int:
    with open_graph(args) as graph:
        report = graph.refine(passes=args.passes, dry_run=args.dry_run)
    if args.json:
        print(report.model_dump_json(indent=2))
        return 0
    print_table(report.table_rows(), ["pass", "changed", "counts"])
    if args.details and report.total_changes:
        print()
        print_table(report.change_rows(), ["pass", "kind", "label", "name", "before", "after"])
    verb = "would change" if args.dry_run else "changed"
    print(f"\n{verb} {report.total_changes} item(s)")
    return 0


def cmd_feedback(args: argparse.Namespace) -> int:
    with open_graph(args) as graph:
        res = graph.feedback(args.id, args.success, episode_id=args.episode)
    if args.json:
        print(json.dumps(res, indent=2, default=str))
        return 0
    what = "success" if res["success"] else "failure"
    if not res["counted"]:
        print(f"{what} for {res['item']} already recorded for episode {res['episode']}")
        return 0
    target = "" if res["credited"] == res["item"] else f" (credited to {res['credited']})"
    print(f"recorded {what} for {res['item']}{target}: utility "
          f"{res['utility_before']:.3f} -> {res['utility_after']:.3f}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with open_graph(args) as graph:
        info = graph.show(args.id)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    print(f"{info['label']} {info['id']}")
    print(f"  name:   {info['name']}")
    if info.get("status"):
        print(f"  status: {info['status']}")
    ev = {k: v for k, v in info["evidence"].items() if not isinstance(v, list)}
    if ev:
        print_table([(k, v) for k, v in ev.items()], ["evidence", "value"])
    lin = info.get("lineage") or {}
    for key in ("merged_into", "supersedes", "superseded_by"):
        if lin.get(key):
            print(f"  {key}: {', '.join(lin[key])}")
    if info.get("feedback"):
        print_table([(f["episode"], "helped" if f["helped"] else "did not help", f["at"])
                     for f in info["feedback"]], ["feedback episode", "outcome", "at"])
    if info["history"]:
        print_table([(h.get("at"), h.get("event"), json.dumps(h.get("detail"), default=str)[:70])
                     for h in info["history"]], ["at", "event", "detail"])
    return 0
