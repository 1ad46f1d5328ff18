"""The notebooks, executed top to bottom with nbclient on the embedded store, in the kernel a
user gets: the "expgraph" kernelspec `make install` puts in the venv, named in each notebook's
metadata. What they print is checked against the store they wrote. Committed notebooks must
carry no outputs (scripts/strip_notebooks.py strips them)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
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


KERNEL = "expgraph"


@pytest.fixture(scope="module")
def kernel_env():
    """The project's kernelspec must be installed (`make install`); the notebooks run in it,
    importing this checkout (PYTHONPATH) whichever checkout the venv was installed from."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(KERNEL)
    except NoSuchKernel:
        pytest.fail(f"no {KERNEL!r} kernelspec: run `make install` (it runs `python -m "
                    f"ipykernel install --sys-prefix --name {KERNEL}`)")
    mp = pytest.MonkeyPatch()
    mp.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    for var in ("EXPGRAPH_DB", "EXPGRAPH_DEMO_DB", "EXPGRAPH_NAMESPACE"):
        mp.delenv(var, raising=False)
    yield mp
    mp.undo()


def run_notebook(path: Path, env: dict[str, str], mp: pytest.MonkeyPatch) -> nbformat.NotebookNode:
    for k, v in env.items():
        mp.setenv(k, v)
    try:
        nb = nbformat.read(path, as_version=4)
        NotebookClient(nb, resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    finally:
        for k in env:
            mp.delenv(k, raising=False)
    return nb


def printed(nb: nbformat.NotebookNode) -> list[str]:
    lines = []
    for cell in nb.cells:  # a line may arrive in several stream outputs (a busy kernel)
        lines += "".join(out["text"] for out in cell.get("outputs", [])
                         if out.get("output_type") == "stream"
                         and out.get("name") == "stdout").splitlines()
    return lines


def tagged(lines: list[str], tag: str) -> list[dict]:
    return [json.loads(x[len(tag) + 1:]) for x in lines if x.startswith(tag + " ")]


@pytest.fixture(scope="module")
def quickstart(kernel_env, tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("quickstart")
    db, out = tmp / "qs.db", tmp / "figures"
    nb = run_notebook(ROOT / "notebooks" / "quickstart.ipynb",
                      {"EXPGRAPH_DEMO_DB": str(db), "EXPGRAPH_OUT": str(out)}, kernel_env)
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


def test_explore_builds_the_demo_store_when_missing_and_prints_cypher(kernel_env,
                                                                       tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    nb = run_notebook(ROOT / "notebooks" / "explore.ipynb",
                      {"EXPGRAPH_DEMO_DB": str(db), "EXPGRAPH_OUT": str(tmp_path),
                       "EXPGRAPH_SHOW_CYPHER": "1"}, kernel_env)
    lines = printed(nb)
    assert f"no store at {db}: building the demo store with examples/demo.py" in lines
    store = SQLiteStore(db)
    try:
        counts = store.count_by_label()
        assert tagged(lines, "NODE_COUNTS") == [counts]
    finally:
        store.close()
    assert counts["Episode"] == 36 and counts["Skill"] > 0
    drawn = {d["view"]: d for d in tagged(lines, "DRAWN")}
    assert set(drawn) == {"hierarchy", "failures", "transitions", "episode", "query", "overview"}
    assert all((tmp_path / f"{v}.png").exists() and (tmp_path / f"{v}.html").exists()
               for v in drawn)
    assert sum(x.startswith("CYPHER ") for x in lines) == 6
    assert any("MATCH (s:Skill {namespace: $ns})" in x for x in lines)


def _parameters(name: str, tmp_path: Path, mp: pytest.MonkeyPatch) -> dict:
    """The parameter cell of a notebook, run as a user runs it (from notebooks/, no variables
    set but the figure folder)."""
    mp.chdir(ROOT / "notebooks")
    mp.setenv("EXPGRAPH_OUT", str(tmp_path / name))
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code")
    scope: dict = {}
    exec(compile(cell.source, name, "exec"), scope)  # noqa: S102 - our own notebook
    return scope


def test_make_demo_quickstart_and_explore_default_to_one_store(kernel_env, tmp_path: Path,
                                                                capsys) -> None:
    quick = _parameters("quickstart.ipynb", tmp_path, kernel_env)
    explore = _parameters("explore.ipynb", tmp_path, kernel_env)
    capsys.readouterr()
    assert Path(quick["DB"]) == Path(explore["DB"]) == Path(explore["DEMO_DB"]) == ROOT / "demo.db"
    makefile = (ROOT / "Makefile").read_text()
    assert "examples/demo.py --db demo.db" in makefile  # `make demo` runs from the root


def test_notebooks_run_in_the_project_kernel_of_this_venv(kernel_env) -> None:
    from jupyter_client.kernelspec import KernelSpecManager

    for path in NOTEBOOKS:
        spec = nbformat.read(path, as_version=4).metadata["kernelspec"]
        assert (spec["name"], spec["display_name"]) == (KERNEL, "Python (expgraph)"), path.name
    argv = KernelSpecManager().get_kernel_spec(KERNEL).argv
    assert Path(argv[0]).parent.parent == Path(sys.prefix)  # this venv's interpreter
    assert "ipykernel_launcher" in argv


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git checkout")
def test_what_the_notebooks_write_is_gitignored() -> None:
    written = ["demo.db", "demo.db-wal", "notebooks/quickstart-figures/hierarchy.png",
               "notebooks/explore-figures/query.html", "notebooks/other.db"]
    proc = subprocess.run(["git", "check-ignore", "--no-index", *written], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.stdout.split() == written
