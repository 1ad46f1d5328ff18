"""Consolidate: guardrails forbidding the same action under the same trigger become one."""

from __future__ import annotations

from expgraph.models import GuardrailNode, Rel, StateNode
from expgraph.refine import refine


def put(store, embedder, node) -> str:
    rec = node.to_record(store.namespace)
    rec.embedding = embedder.embed([rec.text])[0].tolist()
    store.upsert_nodes([rec])
    return rec.id


def test_same_trigger_and_forbidden_action_merge_and_severity_grows(store, embedder):
    s1 = put(store, embedder, StateNode(signature="[back to search] page <num> [next >] <text>",
                                        representative="results"))
    s2 = put(store, embedder, StateNode(signature="results page <num> [next >] <text> +",
                                        representative="results again"))
    common = {"trigger": "on a search results page", "forbidden": ["click[next >]"],
              "rule": "Do not page forward; open a result instead"}
    a = put(store, embedder, GuardrailNode(trigger_state=s1, support=6, failures=6, total=7,
                                           severity=0.3, **common))
    b = put(store, embedder, GuardrailNode(trigger_state=s2, support=3, failures=3, total=3,
                                           severity=0.2, **common))
    other = put(store, embedder, GuardrailNode(trigger_state=s1, support=9, failures=9, total=9,
                                               trigger="on a search results page",
                                               forbidden=["click[< prev]"], rule="Do not go back"))
    store.upsert_edges([_e(b, s2, Rel.GUARDS)])
    report = refine(store, embedder, passes=["consolidate"])
    wa, wb = store.get_node(a).props, store.get_node(b).props
    assert wb["status"] == "merged" and wa["status"] == "active"
    assert (wa["support"], wa["failures"], wa["total"]) == (9, 9, 10)
    assert wa["severity"] > 0.3
    assert {e.dst for e in store.edges(Rel.GUARDS, src=a)} == {s2}
    assert store.get_node(other).props["status"] == "active"
    assert report.get("consolidate").counts["merged"] == 1
    assert refine(store, embedder, passes=["consolidate"]).total_changes == 0


def _e(src, dst, rel):
    from expgraph.models import EdgeRecord

    return EdgeRecord(src=src, dst=dst, type=rel)
