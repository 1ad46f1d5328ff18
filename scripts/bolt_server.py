"""Start or stop a local Bolt-compatible server (ArcadeDB) for CI and benchmarks.

    python scripts/bolt_server.py start --port 7687 --pidfile /tmp/bolt.pid [--env-file F]
    python scripts/bolt_server.py stop --pidfile /tmp/bolt.pid

`start` runs the server in the background, writes its PID, and prints (and optionally writes
to --env-file) the BOLT_COMPAT_URI / _USER / _PASSWORD and ARCADEDB_HTTP_URL to export.
`stop` ends that PID only. The server binds to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import bolt_server  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("start")
    p.add_argument("--port", type=int, default=7687)
    p.add_argument("--pidfile", required=True)
    p.add_argument("--dir", default=None, help="data folder (default: a new temp folder)")
    p.add_argument("--password", default=bolt_server.DEFAULT_PASSWORD)
    p.add_argument("--env-file", default=None, help="also write KEY=VALUE lines here")
    p = sub.add_parser("stop")
    p.add_argument("--pidfile", required=True)
    args = parser.parse_args(argv)

    if args.cmd == "start":
        if not bolt_server.arcadedb_available():
            print("arcadedb-embedded is not installed: pip install arcadedb-embedded",
                  file=sys.stderr)
            return 2
        srv = bolt_server.start(port=args.port, workdir=args.dir, password=args.password,
                                detach=True)
        Path(args.pidfile).write_text(f"{srv.pid}\n")
        lines = [f"{k}={v}" for k, v in srv.env().items()]
        if args.env_file:
            Path(args.env_file).write_text("\n".join(lines) + "\n")
        print("\n".join(lines))
        print(f"# Bolt-compatible (ArcadeDB) pid {srv.pid} ready in {srv.startup_seconds:.1f}s, "
              f"data in {srv.workdir}", file=sys.stderr)
        return 0
    pidfile = Path(args.pidfile)
    if not pidfile.exists():
        print(f"no pidfile at {pidfile}: nothing to stop", file=sys.stderr)
        return 0
    pid = int(pidfile.read_text().strip())
    bolt_server.stop_pid(pid)
    pidfile.unlink()
    print(f"stopped Bolt server pid {pid}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
