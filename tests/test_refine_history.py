"""`show`, the CLI commands, the optional LLM rename pass and the recluster trigger."""

from __future__ import annotations

import json

from langchain_core.language_models.fake_chat_models import FakeListChatModel

from expgraph.cli import main
from expgraph.distill.evidence import restore, snapshot
from expgraph.models import Rel, SkillNode, Tier
from expgraph.refine import refine
from expgraph.refine.feedback import feedback
from expgraph.refine.history import describe
from expgraph.refine.recluster import META_KEY, due
from expgraph.store import SQLiteStore


def put(store, embedder, **kw) -> str:
    rec = SkillNode(**kw).to_record(store.namespace)
    rec.embedding = embedder.embed([rec.text])[0].tolist()
    store.upsert_nodes([rec])
    return rec.id


def twins(store, embedder) -> tuple[str, str]:
    a = put(store, embedder, tier=Tier.FUNCTIONAL, name="Select an option and buy",
            description="Pick the product option, then buy it.",
            actions=["click[<option>]", "click[buy now]"], support=12, successes=12, failures=2)
    b = put(store, embedder, tier=Tier.FUNCTIONAL, name="Select option then buy",
            description="Pick a product option and then buy it.",
            actions=["click[<opt>]", "click[buy now]"], support=5, successes=4, failures=2)
    return a, b


def test_show_gives_lineage_both_ways_feedback_and_history(store, embedder):
    a, b = twins(store, embedder)
    refine(store, embedder)
    feedback(store, a, True, episode_id="run-1")
    win, lose = describe(store, a), describe(store, b)
    assert lose["status"] == "merged" and lose["lineage"]["merged_into"] == [a]
    assert lose["lineage"]["current"] == a
    assert win["lineage"]["supersedes"] == [b]
    assert win["lineage"]["absorbed"] == [{"id": b, "absorbed": []}]
    assert win["evidence"]["successes"] == 16 and win["evidence"]["outcomes"] == 21
    assert [f["helped"] for f in win["feedback"]] == [True]
    assert [h["event"] for h in win["history"]] == ["absorbed"]
    assert [h["event"] for h in lose["history"]] == ["merged"]


def test_cli_refine_feedback_show_round_trip(tmp_path, embedder, capsys):
    db = tmp_path / "cli.db"
    store = SQLiteStore(db)
    a, b = twins(store, embedder)
    store.close()
    assert main(["refine", "--db", str(db), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    merge = next(p for p in out["passes"] if p["name"] == "merge")
    assert merge["counts"]["merged"] == 1
    assert main(["refine", "--db", str(db)]) == 0
    assert "changed 0 item(s)" in capsys.readouterr().out
    assert main(["feedback", b, "--failure", "--episode", "ep-9", "--db", str(db)]) == 0
    assert f"credited to {a}" in capsys.readouterr().out
    assert main(["show", a, "--db", str(db), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["evidence"]["feedback_failures"] == 1
    assert main(["show", "missing", "--db", str(db)]) == 2
    assert "no node with id" in capsys.readouterr().err


def test_llm_renames_merged_skill_and_falls_back_on_garbage(store, embedder):
    a, _ = twins(store, embedder)
    llm = FakeListChatModel(responses=['{"name": "Choose option and buy", '
                                       '"description": "Select a variant, then purchase."}'])
    report = refine(store, embedder, llm=llm)
    assert [c.kind for c in report.get("rename").changes] == ["renamed"]
    node = store.get_node(a)
    assert node.props["name"] == "Choose option and buy"
    assert node.text.startswith("Choose option and buy. Select a variant")
    assert refine(store, embedder, llm=llm).total_changes == 0


def test_unusable_llm_answer_keeps_deterministic_name(store, embedder):
    a, _ = twins(store, embedder)
    report = refine(store, embedder, llm=FakeListChatModel(responses=["sure! here you go"]))
    assert [c.kind for c in report.get("rename").changes] == ["fallback"]
    assert store.get_node(a).props["name"] == "Select an option and buy"


def test_recluster_waits_for_twenty_percent_more_episodes(store, embedder):
    assert due(120, 100) and not due(119, 100) and not due(5, None) and due(2, 1)
    first = refine(store, embedder, passes=["recluster"])
    assert "baseline" in first.get("recluster").note and store.get_meta(META_KEY) == 0
    assert refine(store, embedder, passes=["recluster"]).total_changes == 0


def test_feedback_survives_a_rebuild_through_snapshot_and_restore(store, embedder):
    a, _ = twins(store, embedder)
    feedback(store, a, True, episode_id="run-1")
    feedback(store, a, False)
    snap = snapshot(store)
    store.delete_nodes([a])  # what a rebuild does ...
    twins(store, embedder)  # ... and mining the same skill again (same deterministic id)
    assert restore(store, snap, "now") == 1
    p = store.get_node(a).props
    assert (p["feedback_successes"], p["feedback_failures"]) == (1, 1)
    assert [h["event"] for h in p["history"]] == ["feedback", "rebuilt"]
    assert [e.dst for e in store.edges(Rel.RETRIEVED_FOR, src=a)] != []
