"""`expgraph query` and `expgraph suggest`: JSON that validates against the shared models,
a readable table by default, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from test_retrieval_query import RESULTS_OBS, TASK, build_shop_graph

from expgraph.cli import main
from expgraph.store import SQLiteStore
from queries.schema import QueryResult, SuggestResult


@pytest.fixture(scope="module")
def shop_db(tmp_path_factory, embedder):
    path = tmp_path_factory.mktemp("cli") / "shop.db"
    store = SQLiteStore(path)
    ids = build_shop_graph(store, embedder)
    store.close()
    return path, ids


def test_query_json_validates_against_the_model(shop_db, capsys):
    path, ids = shop_db
    assert main(["query", RESULTS_OBS, "--task", TASK, "--db", str(path), "--json",
                 "--explain", "--k", "3"]) == 0
    res = QueryResult.model_validate(json.loads(capsys.readouterr().out))
    assert len(res.results) == 3
    assert res.query.k == 3 and res.query.explain and res.query.task == TASK
    assert all(r.signals is not None for r in res.results)


def test_query_filters_by_kind_and_tier(shop_db, capsys):
    path, ids = shop_db
    assert main(["query", RESULTS_OBS, "--db", str(path), "--json", "--kind", "skill",
                 "--tier", "functional"]) == 0
    res = QueryResult.model_validate(json.loads(capsys.readouterr().out))
    assert [r.id for r in res.results] == [ids["k_buy"]]


def test_query_prints_a_table_by_default(shop_db, capsys):
    path, ids = shop_db
    assert main(["query", RESULTS_OBS, "--db", str(path), "--preset", "graph", "--k", "4"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["#", "score", "kind", "name", "actions", "/", "avoid", "evidence"]
    assert len(out) == 2 + 4
    assert any("Never click add to cart" in line for line in out)


def test_suggest_json_and_table(shop_db, capsys):
    path, ids = shop_db
    assert main(["suggest", RESULTS_OBS, "--db", str(path), "--json", "--history",
                 "search[red mug]", "--history", "think[ok]"]) == 0
    res = SuggestResult.model_validate(json.loads(capsys.readouterr().out))
    assert res.next[0].action == "click[<item>]"
    assert res.query.history == ["search[red mug]", "think[ok]"]
    assert main(["suggest", RESULTS_OBS, "--db", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("next:") and "avoid:" in out and "click[add to cart]" in out


def test_unknown_preset_is_a_one_line_error(shop_db, capsys):
    path, _ = shop_db
    assert main(["query", "x", "--db", str(path), "--preset", "fancy"]) == 2
    err = capsys.readouterr().err
    assert "unknown preset 'fancy'" in err and "hybrid" in err
    assert main(["suggest", "x", "--db", str(path), "--k", "0"]) == 2


def test_query_json_through_the_installed_entry_point(shop_db):
    path, ids = shop_db
    proc = subprocess.run([sys.executable, "-m", "expgraph", "query", RESULTS_OBS, "--db",
                           str(path), "--json", "--preset", "sparse", "--k", "2"],
                          capture_output=True, text=True, check=True)
    res = QueryResult.model_validate_json(proc.stdout)
    assert res.query.preset == "sparse" and len(res.results) == 2
