"""`expgraph mcp`: serve the store to MCP clients (stdio for desktop apps, HTTP for remote
agents)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from expgraph.cli import CLIError, open_graph


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "mcp", parents=[common], help="serve the store as an MCP server (stdio or HTTP)",
        description="Tools: suggest, query_skills, record_episode, feedback, show. Resources: "
                    "expgraph://stats, expgraph://skills/{strategic,functional,atomic}.")
    p.add_argument("--transport", choices=["stdio", "http"], default="stdio",
                   help="stdio (default: a desktop client starts this command) or http "
                        "(streamable HTTP at http://HOST:PORT/mcp)")
    p.add_argument("--host", default="127.0.0.1", help="http: address to listen on")
    p.add_argument("--port", type=int, default=8765, help="http: port (default 8765)")
    p.add_argument("--token", default=None,
                   help="http: require `Authorization: Bearer TOKEN` (default: "
                        "$EXPGRAPH_TOKEN); prefer --token-file, a command line is visible "
                        "to other users")
    p.add_argument("--token-file", type=Path, default=None,
                   help="http: read the token from this file")
    p.add_argument("--insecure", action="store_true",
                   help="http: allow listening beyond loopback without a token")
    p.set_defaults(func=cmd_mcp)


def cmd_mcp(args: argparse.Namespace) -> int:
    from queries.auth import server_auth, startup_line
    from queries.mcp import run_http, run_stdio

    if args.transport == "stdio":
        if args.token is not None or args.token_file is not None:
            raise CLIError("--token and --token-file apply to --transport http; a stdio "
                           "server is only reachable by the process that started it")
        with open_graph(args) as graph:
            run_stdio(graph)
        return 0
    if not 0 < args.port < 65536:
        raise CLIError(f"--port must be between 1 and 65535 (got {args.port})")
    auth = server_auth(args.token, args.token_file, args.host, args.insecure)  # serve's rule
    host = f"[{args.host}]" if ":" in args.host else args.host
    with open_graph(args) as graph:
        print(startup_line(f"http://{host}:{args.port}/mcp", auth), file=sys.stderr, flush=True)
        run_http(graph, args.host, args.port, auth)
    return 0
