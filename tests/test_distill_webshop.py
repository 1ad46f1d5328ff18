"""Distillation of the real WebShop ReAct corpus (500 episodes) and the distill CLI commands."""

from __future__ import annotations

import argparse
import json

import pytest

from expgraph.distill import distill
from expgraph.embedder import CachedEmbedder
from expgraph.models import Label, Rel
from ingestion.detect import open_source
from ingestion.pipeline import Ingestor


def _webshop(path):
    return list(open_source(path, format="auto"))


@pytest.fixture(scope="module")
def webshop_store(tmp_path_factory, shared_data, model):
    from expgraph.store import SQLiteStore

    path = tmp_path_factory.mktemp("webshop") / "webshop.db"
    store = SQLiteStore(path)
    emb = CachedEmbedder(model, store)
    report = Ingestor(store, emb).ingest(_webshop(shared_data / "react_webshop" / "episodes.txt"))
    assert report.ingested == 500
    distill(store, emb, episode_ids=report.episode_ids)
    yield store, path
    store.close()


def _skills(store, tier):
    return [r.props for r in store.find_nodes(Label.SKILL, where={"tier": tier})]


@pytest.mark.slow
def test_webshop_has_atomic_search_and_click_skills(webshop_store):
    store, _ = webshop_store
    atomic = {p["actions"][0]: p for p in _skills(store, "atomic")}
    assert {"search[<query>]", "click[<item>]", "click[buy now]"} <= set(atomic)
    assert atomic["search[<query>]"]["support"] == 500
    assert atomic["click[buy now]"]["successes"] == 179  # every success ends in a purchase
    assert "think[<thought>]" not in atomic


@pytest.mark.slow
def test_webshop_has_search_click_item_click_option_buy_procedure(webshop_store):
    store, _ = webshop_store
    seqs = {tuple(p["actions"]): p for p in _skills(store, "functional")}
    buy = seqs[("search[<query>]", "click[<item>]", "click[<item>]", "click[buy now]")]
    assert buy["support"] >= 20 and buy["failures"] > 0
    assert buy["parameters"] == ["query", "item", "item_2"]
    assert all(len(s) >= 2 for s in seqs)


@pytest.mark.slow
def test_webshop_plans_cover_task_clusters(webshop_store):
    store, _ = webshop_store
    plans = _skills(store, "strategic")
    tasks = store.find_nodes(Label.TASK)
    clusters = {t.props["cluster"] for t in tasks}
    assert 20 <= len(plans) < len(clusters)
    assert len({p["scope"] for p in plans}) == len(plans)
    assert all(p["actions"][0] == "search[<query>]" for p in plans)
    assert len(store.edges(Rel.PLANS_FOR)) >= len(plans)


@pytest.mark.slow
def test_webshop_failed_episodes_yield_guardrails(webshop_store):
    store, _ = webshop_store
    rails = [r.props for r in store.find_nodes(Label.GUARDRAIL)]
    assert len(rails) >= 3
    assert all(g["support"] >= 2 and g["failures"] * 2 >= g["total"] for g in rails)
    assert any(g["forbidden"] == ["search[<query>]"] for g in rails)
    classes = {r.props["error_class"] for r in store.find_nodes(Label.FAILURE)}
    assert classes == {"error", "terminal", "loop", "stagnation"}


@pytest.mark.slow
def test_distill_cli_rebuilds_and_lists(webshop_store, capsys, model, monkeypatch):
    from expgraph.cli import distill_cmds

    _, path = webshop_store
    parser = argparse.ArgumentParser()
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db")
    common.add_argument("--namespace", default="default")
    distill_cmds.register(parser.add_subparsers(), common)
    monkeypatch.setattr("expgraph.embedder.default_embedder", lambda: model)

    def run(*argv):
        args = parser.parse_args(list(argv))
        assert args.func(args) == 0
        return capsys.readouterr().out

    report = json.loads(run("distill", "--db", str(path), "--json"))
    assert report["mode"] == "rebuild" and report["episodes"] == 500
    assert report["skills"]["atomic"] >= 3 and report["guardrails"] >= 3
    table = run("distill", "--db", str(path))
    rows = {tuple(line.split()[:2]): line.split()[-1] for line in table.splitlines()
            if line.startswith("Skill")}
    assert rows[("Skill", "functional")] == str(report["skills"]["functional"])
    listed = json.loads(run("skills", "--db", str(path), "--tier", "atomic", "--json"))
    assert {r["tier"] for r in listed} == {"atomic"}
    assert "search[<query>]" in run("skills", "--db", str(path))
    rails = json.loads(run("guardrails", "--db", str(path), "--json"))
    assert rails == sorted(rails, key=lambda r: -r["severity"])
    assert "avoid" in run("guardrails", "--db", str(path))
