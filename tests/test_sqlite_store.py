"""The embedded SQLite store: persistence, atomicity, vector top-k, text search."""

from __future__ import annotations

import numpy as np
import pytest

from expgraph.models import EdgeRecord, Label, NodeRecord, Rel
from expgraph.store import SQLiteStore, StoreError, to_networkx


def _node(i: int, label: Label = Label.STATE, vec=None, **props) -> NodeRecord:
    return NodeRecord(id=f"n{i}", label=label, text=f"node number {i}", props=props,
                      embedding=None if vec is None else list(map(float, vec)))


def test_data_survives_reopen(tmp_path):
    path = tmp_path / "s.db"
    s = SQLiteStore(path)
    s.upsert_nodes([_node(1, vec=[1, 0, 0], kind="x")])
    s.upsert_edges([EdgeRecord(src="n1", dst="n1", type=Rel.TRANSITION, key="a", props={"count": 2})])
    s.close()
    s = SQLiteStore(path)
    n = s.get_node("n1")
    assert n is not None and n.props["kind"] == "x" and n.embedding == [1.0, 0.0, 0.0]
    assert s.edges(Rel.TRANSITION)[0].props == {"count": 2}
    assert s.get_meta("missing", 5) == 5


def test_embeddings_are_float32_blobs(tmp_path):
    s = SQLiteStore(tmp_path / "s.db")
    s.upsert_nodes([_node(1, vec=np.arange(384) / 384)])
    raw = s._conn.execute("SELECT typeof(emb), length(emb) FROM nodes").fetchone()
    assert raw == ("blob", 384 * 4)


def test_transaction_is_all_or_nothing(store):
    store.upsert_nodes([_node(0)])
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.upsert_nodes([_node(1), _node(2)])
            store.upsert_edges([EdgeRecord(src="n1", dst="n2", type=Rel.VISITS)])
            raise RuntimeError("crash mid-episode")
    assert store.has_nodes(["n0", "n1", "n2"]) == {"n0"}
    assert store.edges() == []


def test_accumulate_adds_to_stored_counts_and_keeps_embedding(store):
    store.upsert_nodes([_node(1, vec=[0, 1], member_count=2)], accumulate=("member_count",))
    store.upsert_nodes([_node(1, member_count=3)], accumulate=("member_count",))
    n = store.get_node("n1")
    assert n.props["member_count"] == 5 and n.embedding == [0.0, 1.0]
    e = EdgeRecord(src="a", dst="b", type=Rel.TRANSITION, key="click", props={"count": 1})
    store.upsert_edges([e, e], accumulate=("count",))
    store.upsert_edges([e], accumulate=("count",))
    assert store.edges(Rel.TRANSITION)[0].props["count"] == 3


def test_vector_top_k_matches_brute_force(store):
    rng = np.random.default_rng(7)
    vecs = rng.normal(size=(300, 32)).astype(np.float32)
    store.upsert_nodes([_node(i, vec=v) for i, v in enumerate(vecs)])
    store.upsert_nodes([_node(999, label=Label.TASK, vec=vecs[0])])  # other labels ignored
    unit = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    for q in rng.normal(size=(20, 32)):
        expected = np.argsort(-(unit @ (q / np.linalg.norm(q))))[:10]
        got = store.vector_top_k(Label.STATE, q, 10)
        assert [n.id for n, _ in got] == [f"n{i}" for i in expected]
        scores = [s for _, s in got]
        assert scores == sorted(scores, reverse=True)


def test_vector_cache_sees_new_nodes(store):
    store.upsert_nodes([_node(1, vec=[1, 0])])
    assert store.vector_top_k(Label.STATE, np.array([0, 1.0]), 1)[0][0].id == "n1"
    store.upsert_nodes([_node(2, vec=[0, 1])])
    assert store.vector_top_k(Label.STATE, np.array([0, 1.0]), 1)[0][0].id == "n2"


def test_find_text_neighbours_and_filters(store):
    store.upsert_nodes([_node(1, tier="atomic", ok=True), _node(2, tier="functional", ok=False),
                        NodeRecord(id="g", label=Label.GUARDRAIL, text="never click add to cart")])
    store.upsert_edges([EdgeRecord(src="g", dst="n1", type=Rel.GUARDS),
                        EdgeRecord(src="n2", dst="n1", type=Rel.COMPOSED_OF, props={"order": 0})])
    assert [n.id for n in store.find_nodes(Label.STATE, {"tier": "functional"})] == ["n2"]
    assert [n.id for n in store.find_nodes(Label.STATE, {"ok": True})] == ["n1"]
    assert store.text_search("cart")[0][0].id == "g"
    assert {n.id for _, n in store.neighbors("n1", direction="in")} == {"g", "n2"}
    assert [n.id for _, n in store.neighbors("n1", Rel.GUARDS, "in")] == ["g"]
    assert store.neighbors("n1", direction="out") == []
    assert store.delete_nodes(["n1"]) == 1
    assert store.edges() == []


def test_to_networkx_gives_a_multidigraph(store):
    store.upsert_nodes([_node(1), _node(2)])
    store.upsert_edges([EdgeRecord(src="n1", dst="n2", type=Rel.TRANSITION, key=k)
                        for k in ("a", "b")])
    g = to_networkx(store)
    assert g.number_of_nodes() == 2 and g.number_of_edges() == 2
    assert to_networkx(store, rel_types=[Rel.VISITS]).number_of_edges() == 0


def test_namespaces_do_not_see_each_other(tmp_path):
    a = SQLiteStore(tmp_path / "s.db", namespace="a")
    b = SQLiteStore(tmp_path / "s.db", namespace="b")
    a.upsert_nodes([_node(1, vec=[1, 0])])
    assert b.get_node("n1") is None and b.count_by_label() == {}
    assert b.vector_top_k(Label.STATE, np.array([1.0, 0]), 3) == []


def test_a_directory_is_not_a_store(tmp_path):
    with pytest.raises(StoreError, match="directory"):
        SQLiteStore(tmp_path)


def test_a_non_sqlite_file_is_refused(tmp_path):
    p = tmp_path / "x.db"
    p.write_text("hello, not a database" * 100)
    with pytest.raises(StoreError, match="not an expgraph SQLite store"):
        SQLiteStore(p)
