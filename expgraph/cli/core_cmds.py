"""Core commands: ingest, stats, export, schema, import-skills."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from expgraph.cli import CLIError, open_graph, print_table


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("ingest", parents=[common], help="ingest episode files (any format)")
    p.add_argument("files", nargs="+", type=Path, help="files to ingest")
    p.add_argument("--format", default="auto",
                   help="input format (default: auto-detect; see `expgraph formats`)")
    p.add_argument("--map", dest="mapping", default=None,
                   help="field mapping for generic JSON/JSONL, e.g. "
                        "task=instruction,steps=trajectory,action=act,observation=obs,success=won")
    p.add_argument("--strict", action="store_true", help="stop at the first bad record")
    p.add_argument("--no-distill", action="store_true",
                   help="only write the raw layer; run `expgraph distill` later")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("stats", parents=[common], help="counts by node label and relationship")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("export", parents=[common], help="write the graph as JSON or GraphML")
    p.add_argument("--format", choices=["json", "graphml"], default="json")
    p.add_argument("--out", "-o", type=Path, default=None,
                   help="output file (default: expgraph.<format>)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("schema", help="print the JSON Schema of the canonical episode format")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("formats", help="list the input formats `ingest` understands")
    p.set_defaults(func=cmd_formats)

    p = sub.add_parser("import-skills", parents=[common],
                       help="import an externally written skill library (Voyager skills.json)")
    p.add_argument("file", type=Path)
    p.set_defaults(func=cmd_import_skills)


def cmd_ingest(args: argparse.Namespace) -> int:
    from expgraph.cli.progress import Bar, wanted
    from ingestion.errors import FormatError
    from ingestion.pipeline import IngestReport, StrictModeError

    graph = open_graph(args, auto_distill=not args.no_distill)
    total = IngestReport()
    failed_files = 0
    try:
        for path in args.files:
            try:
                n = _count_episodes(path, args) if wanted(args) else None
                with Bar(args, str(path.name), "episode", total=n) as bar:
                    report = graph.ingest(path, format=args.format, mapping=args.mapping,
                                          strict=args.strict, progress=bar.advance)
            except FormatError as exc:
                print(f"expgraph: error: {exc}", file=sys.stderr)
                failed_files += 1
                if args.strict:
                    break
                continue
            except StrictModeError as exc:
                print(f"expgraph: error: {exc}", file=sys.stderr)
                print("stopped at the first error (--strict)", file=sys.stderr)
                return 1
            for err in report.rejected:
                print(str(err), file=sys.stderr)
            total.merge(report)
    finally:
        graph.close()
    if args.json:
        print(json.dumps({"ingested": total.ingested, "steps": total.steps,
                          "rejected": [str(e) for e in total.rejected],
                          "already_present": total.skipped, "failed_files": failed_files,
                          "seconds": round(total.total_seconds, 3)}, indent=2))
    else:
        print(total.summary())
    return 1 if (total.rejected or failed_files) else 0


def _count_episodes(path: Path, args: argparse.Namespace) -> int | None:
    """How many records `path` holds, for the bar's total: parsing is cheap next to
    embedding and writing. None when the file cannot be read (ingest then says why)."""
    from ingestion.detect import open_source
    from ingestion.errors import FormatError

    try:
        from expgraph.graph import _mapping

        return sum(1 for _ in open_source(path, format=args.format,
                                          mapping=_mapping(args.mapping)))
    except (FormatError, OSError, ValueError):
        return None


def cmd_stats(args: argparse.Namespace) -> int:
    graph = open_graph(args)
    try:
        stats = graph.stats()
    finally:
        graph.close()
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    print_table(sorted(stats["nodes"].items()), ["label", "nodes"])
    print()
    print_table(sorted(stats["relationships"].items()), ["relationship", "count"])
    statuses = list(stats["guardrails"])
    print()
    print_table([(tier, *(by.get(s, 0) for s in statuses), sum(by.values()))
                 for tier, by in stats["skills"].items()], ["skills", *statuses, "total"])
    print()
    print_table([("guardrails", *(stats["guardrails"][s] for s in statuses),
                  sum(stats["guardrails"].values()))], ["", *statuses, "total"])
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    out = args.out or Path(f"expgraph.{args.format}")
    graph = open_graph(args)
    try:
        graph.export(out, args.format)
        stats = graph.stats()
    finally:
        graph.close()
    print(f"wrote {out} ({sum(stats['nodes'].values())} nodes, "
          f"{sum(stats['relationships'].values())} relationships)")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from expgraph.models import Episode

    schema = Episode.model_json_schema()
    schema["title"] = "expgraph canonical episode (one per JSON Lines line)"
    print(json.dumps(schema, indent=2))
    return 0


def cmd_formats(args: argparse.Namespace) -> int:
    from ingestion.detect import SUPPORTED_FORMATS

    for name in SUPPORTED_FORMATS:
        print(name)
    return 0


def cmd_import_skills(args: argparse.Namespace) -> int:
    if not args.file.is_file():
        raise CLIError(f"{args.file}: no such file")
    graph = open_graph(args)
    try:
        n = graph.import_skills(args.file)
    finally:
        graph.close()
    print(f"imported {n} skills from {args.file}")
    return 0
