"""Start and stop a local Bolt-compatible server (ArcadeDB) for tests and benchmarks.

The server runs in a child Python process (its own JVM), so a JVM crash cannot take the
test session down, and it is stopped by PID. It binds to 127.0.0.1 on a free port and
keeps its databases in a temporary folder. Labelled "Bolt-compatible (ArcadeDB)", never Neo4j.

Serve in the foreground:
`python tests/bolt_server.py --serve PORT DIR PASSWORD HTTP_PORT watch|detach`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DEFAULT_USER = "root"
DEFAULT_PASSWORD = "expgraph-test-pw"
DATABASE = "neo4j"


@dataclass(frozen=True)
class BoltServer:
    uri: str
    user: str
    password: str
    pid: int
    workdir: str
    startup_seconds: float
    http_url: str = ""

    def env(self) -> dict[str, str]:
        """Environment for code that connects through `open_store` / the CLI."""
        return {"BOLT_COMPAT_URI": self.uri, "BOLT_COMPAT_USER": self.user,
                "BOLT_COMPAT_PASSWORD": self.password, "ARCADEDB_HTTP_URL": self.http_url}


def arcadedb_available() -> bool:
    try:
        import arcadedb_embedded  # noqa: F401
    except Exception:  # noqa: BLE001 - any import problem means "not available"
        return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _ready(log_path: str) -> bool:
    with contextlib.suppress(OSError), open(log_path, "rb") as f:
        return b"\nready bolt://" in f.read()
    return False


def serve(port: int, workdir: str, password: str, http_port: int,
          watch_parent: bool = True) -> None:
    """Run ArcadeDB with the Bolt plugin in this process until SIGTERM/SIGINT.

    With `watch_parent` it also stops when the process that started it dies (a killed test
    run leaves no JVM behind).
    """
    parent = os.getppid()
    os.chdir(workdir)  # ArcadeDB writes ./log relative to the working directory
    import arcadedb_embedded as arcadedb
    from arcadedb_embedded.server import ArcadeDBServer

    config = {
        "host": "127.0.0.1",
        "http_port": http_port,
        "server_plugins": "Bolt:com.arcadedb.bolt.BoltProtocolPlugin",
        "bolt_port": port,
        "bolt_host": "127.0.0.1",
        "server_defaultDatabases": f"{DATABASE}[{DEFAULT_USER}:{password}:admin]",
    }
    server = ArcadeDBServer(os.path.join(workdir, "databases"), password, config,
                            jvm_kwargs={"heap_size": "1g"})
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    server.start()
    print(f"\nready bolt://127.0.0.1:{port} arcadedb {arcadedb.__version__}", flush=True)
    try:
        while not stop and not (watch_parent and os.getppid() != parent):
            time.sleep(0.2)
    finally:
        server.stop()


def start(port: int | None = None, workdir: str | None = None,
          password: str = DEFAULT_PASSWORD, timeout: float = 120.0,
          log_path: str | None = None, detach: bool = False) -> BoltServer:
    """Start the server in a child process and wait until its Bolt port answers.

    `detach=True` keeps it running after this process exits (for scripts/bolt_server.py).
    """
    port = port or free_port()
    http_port = free_port()
    workdir = workdir or tempfile.mkdtemp(prefix="expgraph-bolt-")
    Path(workdir).mkdir(parents=True, exist_ok=True)
    log_path = log_path or os.path.join(workdir, "server.log")
    log = open(log_path, "ab")  # noqa: SIM115
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--serve", str(port), workdir, password,
         str(http_port), "detach" if detach else "watch"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True)
    log.close()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"Bolt server exited with code {proc.returncode}; "
                               f"see {workdir}/server.log")
        if _ready(log_path) and _port_open(port):  # the default database exists by then
            return BoltServer(f"bolt://127.0.0.1:{port}", DEFAULT_USER, password, proc.pid,
                              workdir, time.monotonic() - t0, f"http://127.0.0.1:{http_port}")
        time.sleep(0.2)
    stop_pid(proc.pid)
    raise RuntimeError(f"Bolt server did not open port {port} in {timeout:.0f}s; "
                       f"see {workdir}/server.log")


def stop_pid(pid: int, timeout: float = 30.0) -> None:
    """SIGTERM the server process (it stops ArcadeDB cleanly), SIGKILL if it lingers."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # not our child: poll for existence instead
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            done = 0
        if done == pid:
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


@contextlib.contextmanager
def running_server(**kw: object) -> Iterator[BoltServer]:
    """A Bolt server for the duration of the block; always stopped afterwards."""
    server = start(**kw)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        stop_pid(server.pid)
        if "workdir" not in kw:  # ours: a temp folder
            shutil.rmtree(server.workdir, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]),
              watch_parent=sys.argv[6] == "watch")
    else:
        print(__doc__)
        sys.exit(2)
