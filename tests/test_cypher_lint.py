"""Every Cypher statement the Neo4j store can send, checked by Neo4j's own Cypher tooling.

The statements come from `expgraph.store.neo4j_registry` (built by the same functions the
store runs); `tests/cypher_lint/lint.mjs` lints them with `@neo4j-cypher/language-support`
(pinned in tests/cypher_lint/package.json; `make test` installs it with npm) under Node.js.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from expgraph.store.dialect import ArcadeDialect, Dialect
from expgraph.store.neo4j_registry import (
    ARCADEDB,
    FUNCTIONS,
    NEO4J,
    PROCEDURES,
    RECIPES,
    Statement,
    db_schema,
    statements,
)
from expgraph.viz.cypher import CYPHER

REPO = Path(__file__).resolve().parents[1]
LINT_DIR = REPO / "tests" / "cypher_lint"
BROKEN = REPO / "tests" / "fixtures" / "cypher" / "broken.cypher"


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is not installed: the Cypher lint needs `node` (apt-get install nodejs)")
    if not (LINT_DIR / "node_modules" / "@neo4j-cypher" / "language-support").is_dir():
        pytest.fail(f"@neo4j-cypher/language-support is not installed in {LINT_DIR}: run "
                    f"`make test` or `npm ci --prefix {LINT_DIR.relative_to(REPO)}`")
    return node


def lint(stmts: list[Statement], versions: tuple[str, ...] = ("CYPHER 5",),
         schema: dict | None = None) -> dict[tuple[str, str], list[dict]]:
    """(statement name, Cypher version) -> the linter's diagnostics."""
    payload = {"schema": schema or db_schema(), "versions": list(versions),
               "statements": [{"name": s.name, "cypher": s.text,
                               "parameters": {p: None for p in s.params}} for s in stmts]}
    proc = subprocess.run([_node(), str(LINT_DIR / "lint.mjs")], input=json.dumps(payload),
                          capture_output=True, text=True, cwd=LINT_DIR, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {(r["name"], r["version"]): r["diagnostics"] for r in json.loads(proc.stdout)}


def _report(found: dict[tuple[str, str], list[dict]], by_name: dict[str, Statement]) -> str:
    lines = []
    for (name, version), diags in found.items():
        for d in diags:
            lines.append(f"{name} [{version}] line {d['line']} col {d['column']} {d['severity']}: "
                         f"{d['message'][:160]} (at {d['text'][:40]!r})")
            lines.append("    " + by_name[name].text.replace("\n", "\n    ")[:400])
    return "\n".join(lines)


@pytest.fixture(scope="module")
def registry() -> list[Statement]:
    return statements()


def test_every_neo4j_statement_has_zero_diagnostics(registry):
    neo4j = [s for s in registry if s.target == NEO4J]
    assert all(s.language == "cypher" for s in neo4j)
    # Cypher 5 (what Neo4j 5.x runs, and 2025.x by default) for all; Cypher 25 (2025.06+,
    # opt-in) for the first statement of each family, to keep the run short.
    family: dict[str, Statement] = {}
    for s in neo4j:
        family.setdefault(s.name.split("[")[0], s)
    found = lint(neo4j, ("CYPHER 5",))
    found.update(lint(list(family.values()), ("CYPHER 25",)))
    assert len(found) == len(neo4j) + len(family)
    bad = {k: v for k, v in found.items() if v}
    assert not bad, "Neo4j's linter reports:\n" + _report(bad, {s.name: s for s in neo4j})


def test_registry_covers_store_schema_views_and_readme(registry):
    sources = defaultdict(int)
    for s in registry:
        sources[s.source] += 1
    assert set(sources) == {"store", "schema", "viz", "readme"}
    texts = {s.text for s in registry}
    assert set(CYPHER.values()) <= texts  # every view behind `cypher_for`
    assert set(RECIPES.values()) <= texts
    ddl = [t for _, t in Dialect().search_index_ddl(384)]
    assert any(t.startswith("CREATE VECTOR INDEX") for t in ddl)
    assert set(ddl) <= {s.text for s in registry if s.target == NEO4J}


def test_arcadedb_only_statements_are_listed_apart(registry):
    arcade = [s for s in registry if s.target == ARCADEDB]
    neo4j_texts = {s.text for s in registry if s.target == NEO4J}
    assert arcade and not any(s.text in neo4j_texts for s in arcade)
    sql = {s.text for s in arcade if s.language == "sql"}
    assert sql == set(ArcadeDialect().search_index_sql(384))
    # ArcadeDB's cosine is the raw one; Neo4j's exact scan rescales vector.similarity.cosine.
    raw = ArcadeDialect().cosine("n.embedding", "$vec")
    assert all(raw in s.text for s in arcade if s.language == "cypher")
    assert not any(f"WITH n, {raw} AS sim" in t for t in neo4j_texts)


def test_readme_cypher_blocks_are_the_registered_recipes():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Cypher recipes"):]
    section = section[:section.index("\n### ", 1)]
    blocks = [b.strip() for b in re.findall(r"```cypher\n(.*?)```", section, re.S)]
    assert blocks == [r.strip() for r in RECIPES.values()]


def test_declared_signatures_are_neo4js_own():
    """Our procedure and function signatures equal the ones Neo4j's tooling ships (dumped
    from a Neo4j server), for Cypher 5 and Cypher 25."""
    names = [*PROCEDURES, *FUNCTIONS]
    proc = subprocess.run([_node(), str(LINT_DIR / "lint.mjs"), "--reference", *names],
                          capture_output=True, text=True, cwd=LINT_DIR, check=True)
    ref = json.loads(proc.stdout)
    for version in ("CYPHER 5", "CYPHER 25"):
        for name, (_, sig) in PROCEDURES.items():
            assert ref[version][name] == {"kind": "procedure", "signature": sig}, (version, name)
        for name, (_, sig) in FUNCTIONS.items():
            assert ref[version][name] == {"kind": "function", "signature": sig}, (version, name)


def _broken_fixture() -> list[tuple[str, str, str]]:
    """(name, expected message fragment, Cypher) from tests/fixtures/cypher/broken.cypher."""
    out = []
    for chunk in BROKEN.read_text(encoding="utf-8").split("\n// ---")[1:]:
        header, _, body = chunk.partition("\n")
        name, _, expect = header.strip().partition(" expect: ")
        out.append((name.strip(), expect.strip(), body.strip()))
    return out


def test_deliberately_broken_statements_are_caught():
    cases = _broken_fixture()
    assert len(cases) >= 5
    stmts = [Statement(name, text, ("ns",)) for name, _, text in cases]
    found = lint(stmts, ("CYPHER 5",))
    for name, expect, _ in cases:
        messages = [d["message"] for d in found[(name, "CYPHER 5")]]
        assert any(expect in m for m in messages), (name, expect, messages)


def test_a_schema_missing_a_procedure_fails_the_store_statements(registry):
    """The dbSchema is what makes unknown names errors: drop the vector procedure from it and
    every statement that calls it is reported."""
    schema = db_schema()
    for version in schema["procedures"]:
        schema["procedures"][version] = {k: v for k, v in schema["procedures"][version].items()
                                         if k != "db.index.vector.queryNodes"}
    calls = [s for s in registry if s.target == NEO4J and "db.index.vector.queryNodes" in s.text]
    assert calls
    found = lint(calls, ("CYPHER 5",), schema)
    for s in calls:
        assert any("db.index.vector.queryNodes is not present" in d["message"]
                   for d in found[(s.name, "CYPHER 5")]), s.name


def test_readme_index_ddl_is_what_connect_runs():
    from expgraph.store.neo4j_registry import ddl_script

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Index DDL"):]
    (block,) = re.findall(r"```cypher\n(.*?)```", section[:section.index("\n### ", 1)], re.S)
    assert block.strip() == ddl_script(384)
