"""The notebooks, executed top to bottom with nbclient on the embedded store, in a kernel that
runs this interpreter; what they print is checked against the store they wrote. Committed
notebooks must carry no outputs (scripts/strip_notebooks.py strips them)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from expgraph.graph import ExperienceGraph
from expgraph.store.sqlite import SQLiteStore
from expgraph.viz import scene

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _strip_module():
    spec = importlib.util.spec_from_file_location("strip_notebooks",
                                                  ROOT / "scripts" / "strip_notebooks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory: pytest.TempPathFactory):
    """A `python3` kernelspec that runs this interpreter (the venv's), found first on
    JUPYTER_PATH, so the notebooks import the same expgraph as the tests."""
    kdir = tmp_path_factory.mktemp("jupyter") / "kernels" / "python3"
    kdir.mkdir(parents=True)
    (kdir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (expgraph tests)", "language": "python"}))
    mp = pytest.MonkeyPatch()
    mp.setenv("JUPYTER_PATH", str(kdir.parent.parent))
    yield mp
    mp.undo()


def run_notebook(path: Path, env: dict[str, str], mp: pytest.MonkeyPatch) -> nbformat.NotebookNode:
    for k, v in env.items():
        mp.setenv(k, v)
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    return nb


def printed(nb: nbformat.NotebookNode) -> list[str]:
    lines = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stdout":
                lines += out["text"].splitlines()
    return lines


def tagged(lines: list[str], tag: str) -> list[dict]:
    return [json.loads(x[len(tag) + 1:]) for x in lines if x.startswith(tag + " ")]


@pytest.fixture(scope="module")
def quickstart(kernel_env, tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("quickstart")
    db, out = tmp / "qs.db", tmp / "figures"
    nb = run_notebook(ROOT / "notebooks" / "quickstart.ipynb",
                      {"EXPGRAPH_QUICKSTART_DB": str(db), "EXPGRAPH_OUT": str(out)}, kernel_env)
    return nb, db, out


def test_committed_notebooks_have_no_outputs() -> None:
    strip = _strip_module()
    assert {p.name for p in NOTEBOOKS} >= {"quickstart.ipynb", "explore.ipynb"}
    dirty = [p.name for p in NOTEBOOKS if strip.has_outputs(nbformat.read(p, as_version=4))]
    assert dirty == [], f"run scripts/strip_notebooks.py on {dirty}"


def test_strip_script_removes_outputs_and_counts(quickstart, tmp_path: Path) -> None:
    nb, _, _ = quickstart
    strip = _strip_module()
    path = tmp_path / "ran.ipynb"
    nbformat.write(nb, path)
    assert strip.has_outputs(nbformat.read(path, as_version=4))
    assert strip.main(["--check", str(path)]) == 1
    assert strip.main([str(path)]) == 0
    clean = nbformat.read(path, as_version=4)
    assert not strip.has_outputs(clean)
    assert [c.source for c in clean.cells] == [c.source for c in nb.cells]


def test_quickstart_prints_the_counts_of_the_store_it_built(quickstart) -> None:
    nb, db, _ = quickstart
    lines = printed(nb)
    store = SQLiteStore(db)
    try:
        counts = store.count_by_label()
        assert tagged(lines, "NODE_COUNTS") == [counts]
        assert tagged(lines, "EDGE_COUNTS") == [store.count_by_type()]
    finally:
        store.close()
    assert counts["Episode"] == 36 and counts["Skill"] > 0 and counts["Guardrail"] > 0
    assert any(x.startswith("1. [") and "score=" in x for x in lines)  # the query ran
    assert any(x.startswith("Next actions experience supports") for x in lines)


def test_quickstart_draws_every_view_as_page_and_figure(quickstart) -> None:
    nb, db, out = quickstart
    drawn = {d["view"]: d for d in tagged(printed(nb), "DRAWN")}
    assert set(drawn) == {"hierarchy", "failures", "transitions", "episode", "query"}
    for d in drawn.values():
        assert Path(d["html"]).stat().st_size > 5000
        assert Path(d["png"]).read_bytes()[:4] == b"\x89PNG"
        assert d["nodes"] > 0
    g = ExperienceGraph(db, auto_distill=False)
    try:
        assert drawn["hierarchy"]["nodes"] == scene(g, "hierarchy").drawn_nodes
        assert drawn["failures"]["nodes"] == scene(g, "failures").drawn_nodes
        assert drawn["episode"]["nodes"] == scene(g, "episode", episode="1").drawn_nodes
    finally:
        g.close()
    kinds = {k for c in nb.cells for o in c.get("outputs", []) for k in o.get("data", {})}
    assert {"image/png", "text/html"} <= kinds  # the inline figure and the inline page


def test_explore_opens_a_store_from_the_environment_and_prints_cypher(quickstart, kernel_env,
                                                                      tmp_path: Path) -> None:
    _, db, _ = quickstart
    nb = run_notebook(ROOT / "notebooks" / "explore.ipynb",
                      {"EXPGRAPH_DB": str(db), "EXPGRAPH_OUT": str(tmp_path),
                       "EXPGRAPH_SHOW_CYPHER": "1"}, kernel_env)
    lines = printed(nb)
    store = SQLiteStore(db)
    try:
        assert tagged(lines, "NODE_COUNTS") == [store.count_by_label()]
    finally:
        store.close()
    drawn = {d["view"]: d for d in tagged(lines, "DRAWN")}
    assert set(drawn) == {"hierarchy", "failures", "transitions", "episode", "query", "overview"}
    assert all((tmp_path / f"{v}.png").exists() and (tmp_path / f"{v}.html").exists()
               for v in drawn)
    assert sum(x.startswith("CYPHER ") for x in lines) == 6
    assert any("MATCH (s:Skill {namespace: $ns})" in x for x in lines)
