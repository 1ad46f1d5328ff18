"""The HTML view opened in a real headless Chromium: the page's script must draw every node
of the scene, apply filters given in the address, and leave a screenshot in test-artifacts/.

Skipped (visibly) when Debian's `chromium` is not installed; CI installs it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from test_viz import seed_graph

from expgraph.graph import ExperienceGraph
from expgraph.store.sqlite import SQLiteStore
from expgraph.viz import draw, scene

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"]

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium)")


def chromium(url: str, *args: str) -> str:
    with tempfile.TemporaryDirectory() as profile:
        r = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args, url],
                           capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def dom_counts(page: Path, fragment: str = "") -> tuple[int, int, int]:
    """(data-drawn-nodes, node groups in the DOM, data-visible-nodes) after the script ran."""
    dom = chromium(page.as_uri() + fragment, "--dump-dom")
    drawn = re.search(r'<body[^>]*data-drawn-nodes="(\d+)"', dom)
    visible = re.search(r'data-visible-nodes="(\d+)"', dom)
    assert drawn and visible, "the page script did not finish (no data-drawn-nodes)"
    groups = len(re.findall(r'<g class="n[ "]', dom))
    return int(drawn.group(1)), groups, int(visible.group(1))


def screenshot(page: Path, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    out = ARTIFACTS / f"{name}.png"
    out.unlink(missing_ok=True)
    chromium(page.as_uri(), f"--screenshot={out}", "--window-size=1400,900")
    assert out.exists() and out.stat().st_size > 20_000  # a blank page is ~5 kB
    return out


@pytest.fixture()
def graph(tmp_path: Path) -> ExperienceGraph:
    store = SQLiteStore(tmp_path / "viz.db")
    seed_graph(store)
    g = ExperienceGraph(store=store, auto_distill=False)
    yield g
    g.close()


@pytest.mark.parametrize(("view", "kw", "expected"), [
    ("hierarchy", {}, 6), ("failures", {}, 7), ("transitions", {"cluster": 0}, 4),
    ("episode", {"episode": "2"}, 10), ("overview", {}, 19)])
def test_browser_draws_every_node_of_the_view(graph, tmp_path: Path, view: str, kw: dict,
                                              expected: int) -> None:
    d = graph.draw(view=view, out=tmp_path / f"{view}.html", **kw)
    assert d.drawn_nodes == expected
    assert dom_counts(d.path) == (expected, expected, expected)
    screenshot(d.path, f"viz-{view}")


def test_filters_in_the_address_hide_nodes_like_the_python_filters(graph, tmp_path: Path) -> None:
    d = graph.draw(view="hierarchy", out=tmp_path / "h.html")
    in_c1 = scene(graph, "hierarchy", cluster=1).drawn_nodes
    atomic = scene(graph, "hierarchy", tiers=["atomic"]).drawn_nodes
    assert (in_c1, atomic) == (3, 3)
    assert dom_counts(d.path, "#cluster=1") == (6, 6, in_c1)
    assert dom_counts(d.path, "#tier=atomic") == (6, 6, atomic)
    assert dom_counts(d.path, "#label=Guardrail") == (6, 6, 0)


def test_large_graph_is_capped_in_the_browser_and_says_so(tmp_path: Path) -> None:
    stores = [SQLiteStore(tmp_path / "big.db", f"ns{i}") for i in range(12)]
    for s in stores:
        seed_graph(s)
    out = draw(stores, view="overview", out=tmp_path / "big.html", max_nodes=100)
    assert out.total_nodes == 12 * 19 and out.drawn_nodes == 100
    assert dom_counts(out.path) == (100, 100, 100)
    page = out.path.read_text(encoding="utf-8")
    assert "showing 9" in page and f"of {12 * 19} nodes" in page
    shot = screenshot(out.path, "viz-overview-capped")
    assert shot.stat().st_size > 20_000
    for s in stores:
        s.close()
