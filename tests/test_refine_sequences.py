"""Prune and promote over real ingested episodes: atomic skills fully covered by a functional
skill become redundant; atomic runs frequent in successful episodes become functional skills."""

from __future__ import annotations

import pytest

from expgraph.embedder import CachedEmbedder
from expgraph.models import Episode, Label, Outcome, Rel, SkillNode, Step, Tier
from expgraph.refine import refine
from expgraph.refine.sequences import coverage, episode_sequences, frequent_runs
from ingestion.pipeline import Ingestor


def _ep(i: int, ok: bool, option: bool = True) -> Episode:
    steps = [Step(observation="Webshop [Search]", action={"name": "search",
                                                          "arguments": {"query": f"mug {i}"}},
                  result=f"[Back to Search] [B0{i}XYZ12] mug {i}")]
    steps.append(Step(observation=steps[-1].result, action={"name": "click",
                                                            "arguments": {"item": f"b0{i}xyz12"}},
                      result="[< Prev] color [red] [blue] [Buy Now]"))
    if option:
        steps.append(Step(observation=steps[-1].result,
                          action={"name": "click", "arguments": {"item": "red"}},
                          result="You have clicked red."))
    steps.append(Step(observation=steps[-1].result,
                      action={"name": "click", "arguments": {"item": "buy now"}},
                      result="Thank you for shopping"))
    return Episode(task=f"buy mug number {i}", outcome=Outcome(success=ok), steps=steps)


@pytest.fixture
def shop(store, model):
    emb = CachedEmbedder(model, store)
    Ingestor(store, emb).ingest([_ep(i, ok=i < 4) for i in range(6)])
    seqs = {eid: s for eid, _, s in episode_sequences(store)}
    return emb, sorted(seqs.values())[0]


def put(store, emb, tier, actions, name) -> str:
    rec = SkillNode(tier=tier, name=name, description=name, actions=actions,
                    support=4, successes=4).to_record(store.namespace)
    rec.embedding = emb.embed([rec.text])[0].tolist()
    store.upsert_nodes([rec])
    return rec.id


def test_episode_sequences_use_distillation_templates(shop):
    _, seq = shop
    assert seq[0].startswith("search[") and seq[-1] == "click[buy now]"
    assert len(seq) == 4


def test_atomic_skill_covered_by_functional_skill_becomes_redundant(store, shop):
    emb, seq = shop
    pick, buy = seq[2], seq[3]
    buy_id = put(store, emb, Tier.ATOMIC, [buy], "click buy now")
    search_id = put(store, emb, Tier.ATOMIC, [seq[0]], "search")
    put(store, emb, Tier.FUNCTIONAL, [pick, buy], "pick option and buy")
    report = refine(store, emb, passes=["prune"])
    assert store.get_node(buy_id).props["status"] == "redundant"
    assert store.get_node(search_id).props["status"] == "active"
    assert [c.id for c in report.get("prune").changes] == [buy_id]
    # an uncovered successful use brings it back
    Ingestor(store, emb).ingest([_ep(50, ok=True, option=False), _ep(51, ok=True, option=False)])
    refine(store, emb, passes=["prune"])
    assert store.get_node(buy_id).props["status"] == "active"


def test_frequent_atomic_run_is_promoted_to_functional_skill(store, shop):
    emb, seq = shop
    atoms = [put(store, emb, Tier.ATOMIC, [a], f"atom {i}") for i, a in enumerate(seq)]
    report = refine(store, emb, passes=["promote"])
    created = [c for c in report.get("promote").changes if c.kind == "created"]
    assert len(created) == 1
    [skill] = store.find_nodes(Label.SKILL, where={"tier": "functional"})
    assert skill.props["actions"] == seq  # the closed run: its sub-runs have the same support
    assert skill.props["support"] == 4 and skill.props["source"] == "promoted"
    order = sorted(store.edges(Rel.COMPOSED_OF, src=skill.id), key=lambda e: e.props["order"])
    assert [e.dst for e in order] == atoms
    assert refine(store, emb, passes=["promote"]).total_changes == 0


def test_frequent_runs_keeps_closed_runs_only():
    seqs = [("e1", ["a", "b", "c"]), ("e2", ["a", "b", "c"]), ("e3", ["a", "b", "x"])]
    runs = frequent_runs(seqs, {"a", "b", "c", "x"})
    assert runs == {("a", "b"): {"e1", "e2", "e3"}, ("a", "b", "c"): {"e1", "e2"}}


def test_coverage_counts_uses_outside_any_pattern():
    cov = coverage([["a", "b", "c"], ["b", "c"], ["c"]], [("b", "c")])
    assert cov["c"] == (3, 1) and cov["b"] == (2, 0) and cov["a"] == (1, 1)
