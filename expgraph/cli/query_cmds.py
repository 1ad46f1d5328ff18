"""Retrieval commands: query, suggest, serve."""

from __future__ import annotations

import argparse
import json

from expgraph.cli import CLIError, open_graph, print_table


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("query", parents=[common],
                       help="skills and guardrails that apply in a state")
    p.add_argument("state", help="what the agent sees now (its latest observation)")
    p.add_argument("--task", default=None, help="the task the agent is working on")
    p.add_argument("--k", type=int, default=10, help="how many results (default 10)")
    p.add_argument("--preset", default="hybrid",
                   help="search preset: hybrid (default), dense, sparse, graph")
    p.add_argument("--tier", action="append", dest="tiers", default=None,
                   choices=["strategic", "functional", "atomic"],
                   help="only skills of this tier (repeatable)")
    p.add_argument("--kind", action="append", dest="kinds", default=None,
                   choices=["skill", "guardrail"], help="only this kind (repeatable)")
    p.add_argument("--include-deprecated", action="store_true",
                   help="also serve merged, deprecated and redundant items")
    p.add_argument("--explain", action="store_true", help="show each signal's value")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_query)

    p = sub.add_parser("suggest", parents=[common],
                       help="next actions experience supports from a state, and what to avoid")
    p.add_argument("state")
    p.add_argument("--task", default=None)
    p.add_argument("--history", action="append", default=None,
                   help="an action that led here, oldest first (repeatable)")
    p.add_argument("--k", type=int, default=5, help="how many actions (default 5)")
    p.add_argument("--candidate", action="append", default=None, dest="candidates",
                   help="a concrete action available now (repeatable): rank exactly these")
    p.add_argument("--explain", action="store_true", help="show each feature's contribution")
    p.add_argument("--max-false-avoid", type=float, default=None,
                   help="share of a new run's successful actions avoid may flag, with 95 %% "
                        "confidence (default 0.05)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_suggest)

    p = sub.add_parser("serve", parents=[common], help="serve the HTTP API (uvicorn)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--token", default=None,
                   help="require `Authorization: Bearer TOKEN` on every endpoint but the docs "
                        "(visible in `ps`: prefer EXPGRAPH_TOKEN or --token-file)")
    p.add_argument("--token-file", default=None,
                   help="read the token from this file (also: EXPGRAPH_TOKEN_FILE)")
    p.add_argument("--insecure", action="store_true",
                   help="allow serving without a token on a non-loopback address")
    p.add_argument("--max-body-mb", type=float, default=4.0,
                   help="largest request body accepted, in MiB (default 4); larger gets 413")
    p.set_defaults(func=cmd_serve)


def _positive(k: int) -> int:
    if k < 1:
        raise CLIError(f"--k must be at least 1 (got {k})")
    return k


def _check_preset(name: str) -> None:
    from queries.config import PRESETS

    if name not in PRESETS:
        raise CLIError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")


def cmd_query(args: argparse.Namespace) -> int:
    _check_preset(args.preset)
    with open_graph(args) as graph:
        res = graph.query(args.state, task=args.task, k=_positive(args.k),
                          kinds=args.kinds or ("skill", "guardrail"), tiers=args.tiers,
                          explain=args.explain, preset=args.preset,
                          include_deprecated=args.include_deprecated)
    if args.json:
        print(json.dumps(res.model_dump(mode="json"), indent=2))
        return 0
    if not res.results:
        print("nothing in the store applies here (ingest episodes first: `expgraph ingest`)")
        return 0
    headers = ["#", "score", "kind", "name", "actions / avoid", "evidence"]
    if args.explain:
        headers += ["dense", "sparse", "graph", "utility"]
    rows = []
    for i, r in enumerate(res.results, 1):
        what = " -> ".join(r.actions) if r.kind == "skill" else "avoid " + ", ".join(r.avoid)
        kind = f"{r.kind}/{r.tier}" if r.tier else r.kind
        ev = f"{r.evidence.successes}/{r.evidence.successes + r.evidence.failures}"
        row: list[object] = [i, r.score, kind, _short(r.name, 50), _short(what, 60), ev]
        if r.signals is not None:
            row += [r.signals.dense, r.signals.sparse, r.signals.graph, r.signals.utility]
        rows.append(row)
    print_table(rows, headers)
    return 0


def cmd_suggest(args: argparse.Namespace) -> int:
    with open_graph(args) as graph:
        res = graph.suggest(args.state, task=args.task, history=args.history,
                            k=_positive(args.k), candidates=args.candidates,
                            explain=args.explain, max_false_avoid=args.max_false_avoid)
    if args.json:
        print(json.dumps(res.model_dump(mode="json"), indent=2))
        return 0
    if not res.next and not res.avoid:
        print("no experience from states like this one yet")
        return 0
    print("next:")
    print_table([[i, n.action, n.score, n.support, _short(" | ".join(n.grounded), 60)]
                 for i, n in enumerate(res.next, 1)],
                ["#", "action", "score", "support", "seen as"])
    if args.explain:
        for n in res.next:
            print(f"  {n.action}: " + ", ".join(f"{k} {v:+.3f}"
                                                 for k, v in (n.explain or {}).items()))
    if res.avoid:
        print("\navoid:")
        print_table([[i, a.action, a.score, len(a.guardrails)] for i, a in enumerate(res.avoid, 1)],
                    ["#", "action", "score", "guardrails"])
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from queries.auth import server_auth, startup_line
    from queries.http import create_app

    auth = server_auth(args.token, args.token_file, args.host, args.insecure)  # a UsageError
    if args.max_body_mb <= 0:
        raise CLIError("--max-body-mb must be positive")
    graph = open_graph(args)
    # A second connection for writes, so an ingest never makes reads wait (one model shared).
    writer = open_graph(args, embedder=graph.embedder.inner) if args.db != ":memory:" else None
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(startup_line(f"http://{host}:{args.port}", auth), flush=True)
    try:
        uvicorn.run(create_app(graph, token=auth, writer=writer,
                               max_body=int(args.max_body_mb * 1024 * 1024)),
                    host=args.host, port=args.port)
    finally:
        if writer is not None:
            writer.close()
        graph.close()
    return 0


def _short(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n - 1] + "…"
