"""Merge pass: near-duplicate skills become one, counts add up, lineage is kept both ways."""

from __future__ import annotations

import numpy as np
import pytest

from expgraph.models import EdgeRecord, Label, Rel, SkillNode, Status, Tier
from expgraph.refine import refine
from expgraph.refine.merge import group_duplicates
from expgraph.scoring import utility
from queries.retrieval import query


def put_skill(store, embedder, **kw) -> str:
    node = SkillNode(**kw)
    node.utility = utility(node.successes, node.failures)
    rec = node.to_record(store.namespace)
    rec.embedding = embedder.embed([rec.text])[0].tolist()
    store.upsert_nodes([rec])
    return rec.id


def edge(src, dst, rel, key="", **props) -> EdgeRecord:
    return EdgeRecord(src=src, dst=dst, type=rel, key=key, props=props)


@pytest.fixture
def twins(store, embedder):
    """Two wordings of one functional skill, a parent plan that uses the weaker one, and an
    unrelated skill that must survive."""
    strong = put_skill(store, embedder, tier=Tier.FUNCTIONAL, name="Select an option and buy",
                       description="Pick the product option, then buy it.",
                       actions=["click[<option>]", "click[buy now]"], support=12, uses=14,
                       successes=12, failures=2, feedback_successes=1,
                       examples=["ex-a"], episodes=["ep1", "ep2"])
    weak = put_skill(store, embedder, tier=Tier.FUNCTIONAL, name="Select option then buy",
                     description="Pick a product option and then buy it.",
                     actions=["click[<opt>]", "click[buy now]"], support=5, uses=6, successes=4,
                     failures=2, feedback_failures=1, examples=["ex-b"], episodes=["ep3"])
    other = put_skill(store, embedder, tier=Tier.FUNCTIONAL, name="Open an item and buy",
                      description="Open a result, then buy it.",
                      actions=["click[<item>]", "click[buy now]"], support=3, successes=3)
    plan = put_skill(store, embedder, tier=Tier.STRATEGIC, name="Buy a product",
                     actions=["search[<query>]", "click[<option>]", "click[buy now]"], support=2)
    store.upsert_edges([
        edge(weak, "state-options", Rel.APPLIES_IN),
        edge(weak, "ep3", Rel.DERIVED_FROM),
        edge(strong, "ep1", Rel.DERIVED_FROM),
        edge(plan, weak, Rel.COMPOSED_OF, key="1", order=1),
    ])
    return {"strong": strong, "weak": weak, "other": other, "plan": plan}


def test_reworded_duplicate_merges_into_higher_support_skill(store, embedder, twins):
    report = refine(store, embedder, passes=["merge"])
    strong, weak = store.get_node(twins["strong"]), store.get_node(twins["weak"])
    assert weak.props["status"] == Status.MERGED.value
    assert strong.props["status"] == Status.ACTIVE.value
    assert [e.dst for e in store.edges(Rel.MERGED_INTO, src=twins["weak"])] == [twins["strong"]]
    assert [e.dst for e in store.edges(Rel.SUPERSEDES, src=twins["strong"])] == [twins["weak"]]
    p = strong.props
    assert (p["support"], p["uses"], p["successes"], p["failures"]) == (17, 20, 16, 4)
    assert (p["feedback_successes"], p["feedback_failures"]) == (1, 1)
    assert p["examples"] == ["ex-a", "ex-b"] and p["episodes"] == ["ep1", "ep2", "ep3"]
    assert p["utility"] == pytest.approx(utility(16, 4, 1, 1))
    assert report.get("merge").counts == {"examined": 4, "merged": 1, "absorbed": 1}
    assert store.get_node(twins["other"]).props["status"] == Status.ACTIVE.value


def test_merge_copies_evidence_edges_and_repoints_parent_composition(store, embedder, twins):
    refine(store, embedder, passes=["merge"])
    s = twins["strong"]
    assert {e.dst for e in store.edges(Rel.APPLIES_IN, src=s)} == {"state-options"}
    assert {e.dst for e in store.edges(Rel.DERIVED_FROM, src=s)} == {"ep1", "ep3"}
    composed = store.edges(Rel.COMPOSED_OF, src=twins["plan"])
    assert [(e.dst, e.props["order"]) for e in composed] == [(s, 1)]
    # the loser keeps its own edges for audit
    assert {e.dst for e in store.edges(Rel.APPLIES_IN, src=twins["weak"])} == {"state-options"}


def test_same_template_plans_of_different_clusters_merge(store, embedder):
    acts = ["search[<query>]", "click[<item>]", "click[buy now]"]
    a = put_skill(store, embedder, tier=Tier.STRATEGIC, name="Plan for cluster 0",
                  actions=acts, scope="0", support=9, successes=9)
    b = put_skill(store, embedder, tier=Tier.STRATEGIC, name="Plan for cluster 3",
                  actions=[x.upper() for x in acts], scope="3", support=4, successes=4)
    refine(store, embedder, passes=["merge"])
    assert store.get_node(b).props["status"] == "merged"
    assert store.get_node(a).props["scopes"] == ["0", "3"]


def test_distinct_atomic_actions_never_merge(store, embedder):
    ids = [put_skill(store, embedder, tier=Tier.ATOMIC, name=f"click {x}",
                     description=f"Click the {x} button.", actions=[f"click[{x}]"], support=3)
           for x in ("buy now", "next >", "< prev", "back to search")]
    report = refine(store, embedder, passes=["merge"])
    assert report.get("merge").changed == 0
    assert {store.get_node(i).props["status"] for i in ids} == {"active"}


def test_leader_grouping_does_not_chain_similarity():
    # a~b and b~c above threshold, a~c below: c must not be pulled into a's group.
    v = np.array([[1.0, 0.0], [0.95, 0.312], [0.8, 0.6]], dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    items = [("a", "t", ["x[<p>]"], 3.0), ("b", "t", ["x[<q>]"], 2.0), ("c", "t", ["x[<r>]"], 1.0)]
    assert group_duplicates(items, v, threshold=0.9) == {"a": ["b"]}


def test_winner_is_highest_support_then_smallest_id():
    items = [("z", "t", ["a"], 5.0), ("b", "t", ["A"], 5.0), ("m", "t", [" a "], 7.0)]
    assert group_duplicates(items, None) == {"m": ["b", "z"]}


def test_second_refine_run_changes_nothing(store, embedder, twins):
    put_skill(store, embedder, tier=Tier.ATOMIC, name="click next", actions=["click[next >]"],
              support=22, successes=2, failures=20)
    first = refine(store, embedder)
    assert first.total_changes > 0
    second = refine(store, embedder)
    assert second.total_changes == 0, second.change_rows()


def test_dry_run_reports_the_merge_but_writes_nothing(store, embedder, twins):
    report = refine(store, embedder, passes=["merge"], dry_run=True)
    assert report.get("merge").counts["merged"] == 1
    assert store.get_node(twins["weak"]).props["status"] == "active"
    assert store.edges(Rel.MERGED_INTO) == []
    assert len(store.edges(Rel.COMPOSED_OF, dst=twins["weak"])) == 1


def test_remined_loser_is_merged_again_and_its_new_counts_reach_the_winner(store, embedder,
                                                                           twins):
    refine(store, embedder, passes=["merge"])
    # The distiller re-upserts the loser from new episodes without keeping refine's fields.
    weak = store.get_node(twins["weak"])
    fresh = SkillNode.from_record(weak).model_copy(
        update={"status": Status.ACTIVE, "successes": weak.props["successes"] + 3, "history": []})
    store.upsert_nodes([fresh.to_record(store.namespace)])
    report = refine(store, embedder, passes=["merge"])
    assert {c.kind for c in report.get("merge").changes} == {"absorbed", "re-merged"}
    assert store.get_node(twins["weak"]).props["status"] == "merged"
    assert store.get_node(twins["strong"]).props["successes"] == 16 + 3
    assert refine(store, embedder, passes=["merge"]).total_changes == 0


def test_remined_winner_counts_are_not_lost_or_doubled(store, embedder, twins):
    refine(store, embedder, passes=["merge"])
    # The distiller re-mines the winner from more episodes: its own counts, fresh.
    strong = store.get_node(twins["strong"])
    strong.props.update(successes=15, failures=2, uses=17, support=15)
    store.upsert_nodes([strong])
    refine(store, embedder, passes=["merge"])
    p = store.get_node(twins["strong"]).props
    assert (p["successes"], p["failures"], p["support"]) == (15 + 4, 2 + 2, 15 + 5)
    assert refine(store, embedder, passes=["merge"]).total_changes == 0
    assert store.get_node(twins["strong"]).props["successes"] == 19


def test_merged_skill_is_not_served_by_query(store, embedder, twins):
    refine(store, embedder, passes=["merge"])
    res = query(store, embedder, "color [black] [blue] size [s] [m] [buy now]",
                          task="buy a shirt", k=20)
    ids = {r.id for r in res.results}
    assert twins["weak"] not in ids
    assert twins["strong"] in ids
    assert store.find_nodes(Label.SKILL, where={"status": "merged"})[0].id == twins["weak"]


def test_similar_text_with_different_constants_never_merges(store, embedder):
    ids = [put_skill(store, embedder, tier=Tier.ATOMIC, name=f"click[{c}]",
                     description=f"Action click[{c}]: used 4 times in 4 episodes.",
                     actions=[f"click[{c}]"], support=4) for c in ("black", "white", "grey")]
    slot = put_skill(store, embedder, tier=Tier.ATOMIC, name="click[<item>]",
                     description="Action click[<item>]: used 4 times in 4 episodes.",
                     actions=["click[<item>]"], support=9)
    assert refine(store, embedder, passes=["merge"]).total_changes == 0
    assert {store.get_node(i).props["status"] for i in [*ids, slot]} == {"active"}
