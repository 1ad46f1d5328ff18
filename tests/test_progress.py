"""Progress bars of the long commands, seen as a user sees them: each command runs with its
stderr on a real pseudo-terminal (`pty`), and the bytes the terminal received are checked. A
bar shows on a terminal; nothing with `--quiet`, with `--json` (whose stdout stays pure
JSON), or when stderr is a pipe."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "episodes.jsonl"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
       "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
BAR = "%|"  # tqdm draws "NN%|████    |" when the total is known


def run_on_terminal(*args: str, tmp: Path) -> tuple[int, str, str]:
    """(exit code, stdout, what the terminal showed) of `expgraph ARGS` with stderr on a pty."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
    out = tmp / "stdout.txt"
    with out.open("wb") as stdout:
        proc = subprocess.Popen([sys.executable, "-m", "expgraph", *args], cwd=REPO, env=ENV,
                                stdin=subprocess.DEVNULL, stdout=stdout, stderr=slave)
    os.close(slave)
    seen = bytearray()
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError as exc:  # EIO: the child closed the terminal
            if exc.errno != errno.EIO:
                raise
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    code = proc.wait()
    return code, out.read_text(), seen.decode("utf-8", "replace")


def run_piped(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "expgraph", *args], cwd=REPO, env=ENV,
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("progress") / "p.db"


@pytest.fixture(scope="module")
def ingested(db: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    code, stdout, terminal = run_on_terminal("ingest", str(EXAMPLES), "--db", str(db),
                                             tmp=tmp_path_factory.mktemp("ingest"))
    assert code == 0, terminal
    assert "ingested 36 episodes" in stdout
    return terminal


def test_ingest_shows_a_bar_counting_the_file_s_episodes(ingested: str) -> None:
    assert "episodes.jsonl" in ingested and BAR in ingested and "/36" in ingested
    assert "episode/s" in ingested or "s/episode" in ingested  # tqdm's rate, in our unit


def test_distill_refine_viz_and_copy_show_a_bar(db: Path, ingested: str, tmp_path: Path) -> None:
    runs = {
        "distill": ("distill", "--db", str(db)),
        "refine": ("refine", "--db", str(db)),
        "viz": ("viz", "--db", str(db), "--out", str(tmp_path / "h.html")),
        "copy": ("copy", "--from", str(db), "--to", str(tmp_path / "copy.db")),
    }
    for name, args in runs.items():
        code, _, terminal = run_on_terminal(*args, tmp=tmp_path)
        assert code == 0, terminal
        assert name in terminal and BAR in terminal, (name, terminal)


def test_quiet_shows_nothing_on_a_terminal(db: Path, ingested: str, tmp_path: Path) -> None:
    code, stdout, terminal = run_on_terminal("refine", "--db", str(db), "--quiet", tmp=tmp_path)
    assert code == 0 and "changed" in stdout
    assert terminal == ""
    code, _, terminal = run_on_terminal("copy", "--from", str(db), "--to",
                                        str(tmp_path / "q.db"), "-q", tmp=tmp_path)
    assert code == 0 and terminal == ""


def test_json_output_is_never_mixed_with_progress(db: Path, ingested: str,
                                                  tmp_path: Path) -> None:
    code, stdout, terminal = run_on_terminal("distill", "--db", str(db), "--json", tmp=tmp_path)
    assert code == 0 and terminal == ""
    assert json.loads(stdout)["episodes"] == 36
    code, stdout, terminal = run_on_terminal("ingest", str(EXAMPLES), "--db", str(db), "--json",
                                             tmp=tmp_path)
    assert code == 0 and terminal == ""
    assert json.loads(stdout)["already_present"] == 36


def test_no_bar_when_stderr_is_not_a_terminal(db: Path, ingested: str, tmp_path: Path) -> None:
    proc = run_piped("copy", "--from", str(db), "--to", str(tmp_path / "piped.db"))
    assert proc.returncode == 0 and "counts match" in proc.stdout
    assert proc.stderr == ""
