"""The ingest pipeline: idempotent re-ingest, one transaction per episode, crash safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from expgraph.embedder import CachedEmbedder
from expgraph.models import Episode, Label, Rel
from expgraph.store import SQLiteStore
from ingestion.errors import ParseError
from ingestion.pipeline import Ingestor

REPO = Path(__file__).resolve().parents[1]


def _ep(i: int, success: bool = True) -> Episode:
    return Episode(id=f"ep{i}", task=f"buy a {['red', 'blue'][i % 2]} mug", steps=[
        {"observation": "WebShop Instruction: buy a mug [Search]",
         "action": {"name": "search", "arguments": {"query": f"mug {i}"}},
         "result": f"[Back to Search] Page 1 (Total results: {40 + i}) [Next >] [B0{i}ABCDEFG] Mug"},
        {"observation": f"[Back to Search] Page 1 (Total results: {40 + i}) [Next >] [B0{i}ABCDEFG] Mug",
         "action": {"name": "click", "arguments": {"item": "Buy Now"}},
         "result": "Thank you"}], outcome={"success": success})


def test_ingest_writes_episode_task_state_action_nodes_and_edges(store, model):
    report = Ingestor(store, CachedEmbedder(model, store)).ingest([_ep(1), _ep(2, False)])
    assert (report.ingested, report.steps, report.rejected) == (2, 4, [])
    counts = store.count_by_label()
    assert counts["Episode"] == 2 and counts["Task"] == 2 and counts["Action"] == 2
    # Masked observations of both episodes share their states: home, results page, end.
    assert counts["State"] == 3
    rels = store.count_by_type()
    assert rels["VISITS"] == 6 and rels["ATTEMPTS"] == 2 and rels["PERFORMS"] == 4
    # The step memory: one Step per step, linked to its episode, its state and its action.
    assert counts["Step"] == 4
    assert rels["STEP_OF"] == 4 and rels["IN_STATE"] == 4 and rels["TAKES"] == 4
    failed = [r.props for r in store.find_nodes(Label.STEP) if r.props["success"] is False]
    assert sorted((p["index"], p["key"], p["prev"]) for p in failed) == [
        (0, "search[mug 2]", []), (1, "click[buy now]", ["search[mug 2]"])]
    trans = {e.key: e.props for e in store.edges(Rel.TRANSITION)}
    assert trans["click[buy now]"]["count"] == 2 and trans["click[buy now]"]["successes"] == 1


def test_reingesting_the_same_episodes_changes_nothing(store, model):
    ing = Ingestor(store, CachedEmbedder(model, store))
    ing.ingest([_ep(1), _ep(2)])
    before = (store.count_by_label(), store.count_by_type(),
              [e.props for e in store.edges(Rel.TRANSITION)])
    again = Ingestor(store, CachedEmbedder(model, store)).ingest([_ep(1), _ep(2), _ep(1)])
    assert again.ingested == 0 and again.skipped == 3
    after = (store.count_by_label(), store.count_by_type(),
             [e.props for e in store.edges(Rel.TRANSITION)])
    assert after == before


def test_identical_texts_are_embedded_once_and_cached_in_the_store(tmp_path, model):
    store = SQLiteStore(tmp_path / "a.db")
    emb = CachedEmbedder(model, store)
    Ingestor(store, emb).ingest([_ep(i) for i in range(6)])
    first = emb.embedded
    # two task texts, three state signatures, and the steps' own text: one shared search
    # page, six distinct results pages (each step's newest message is its whole observation),
    # and the six second steps' previous actions as written (`search[mug 0]` ... `search[mug 5]`)
    assert first == 2 + 3 + 1 + 6 + 6
    emb2 = CachedEmbedder(model, store)  # a new process would start like this
    emb2.embed(["buy a red mug"])
    assert emb2.embedded == 0


def test_parse_errors_are_reported_and_good_episodes_kept(store, model):
    bad = ParseError("f.jsonl", "2", "invalid JSON")
    report = Ingestor(store, CachedEmbedder(model, store)).ingest([_ep(1), bad, _ep(3)])
    assert report.ingested == 2 and report.rejected == [bad]
    assert report.summary() == "ingested 2 episodes (4 steps), rejected 1"


def test_a_failing_write_leaves_no_part_of_the_episode(store, model):
    ing = Ingestor(store, CachedEmbedder(model, store))
    ing.ingest([_ep(1)])
    before = (store.count_by_label(), store.count_by_type())
    original = store.upsert_edges
    calls = {"n": 0}

    def explode(edges, accumulate=()):
        calls["n"] += 1
        if calls["n"] == 2:  # after the episode's nodes and first edges were written
            raise OSError("disk full")
        return original(edges, accumulate)

    store.upsert_edges = explode
    try:
        ing.ingest([_ep(2)])
    except OSError:
        pass
    store.upsert_edges = original
    assert (store.count_by_label(), store.count_by_type()) == before
    assert Ingestor(store, CachedEmbedder(model, store)).ingest([_ep(2)]).ingested == 1


def test_killed_ingest_leaves_only_whole_episodes(tmp_path):
    """SIGKILL mid-ingest: every episode in the store has all its steps, and a second run
    completes the rest."""
    src = tmp_path / "many.jsonl"
    with src.open("w") as fh:
        for i in range(400):
            fh.write(_ep(i, i % 3 == 0).model_copy(update={"id": f"k{i}"}).model_dump_json() + "\n")
    db = tmp_path / "kill.db"
    cmd = [sys.executable, "-m", "expgraph", "ingest", str(src), "--db", str(db), "--no-distill"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # wait until some, not all, episodes are in
        if db.exists():
            try:
                n = SQLiteStore(db).count_by_label().get("Episode", 0)
            except Exception:
                n = 0
            if n >= 20:
                break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = SQLiteStore(db)
    episodes = store.find_nodes(Label.EPISODE)
    assert 0 < len(episodes) < 400
    visits = {}
    for e in store.edges(Rel.VISITS):
        visits[e.src] = visits.get(e.src, 0) + 1
    for ep in episodes:
        assert visits[ep.id] == ep.props["n_steps"] + 1
    store.close()
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "already present" in done.stdout
    assert SQLiteStore(db).count_by_label()["Episode"] == 400
