"""One conformance suite for every `GraphStore` backend: the same tests, the same answers.

Backends: embedded SQLite, a Bolt-compatible ArcadeDB (labelled as such, never "Neo4j"), and a
real Neo4j when NEO4J_URI is set. Vectors are small random unit vectors; no model needed.
"""

from __future__ import annotations

import numpy as np
import pytest

from expgraph.models import EdgeRecord, Label, NodeRecord, Rel
from expgraph.store.base import GraphStore, to_networkx

DIM = 384


def _unit(rng: np.random.Generator, n: int = 1) -> np.ndarray:
    m = rng.normal(size=(n, DIM)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def node(id_: str, label: Label = Label.STATE, text: str = "", vec=None, **props) -> NodeRecord:
    return NodeRecord(id=id_, label=label, text=text or f"node {id_}", props=props,
                      embedding=None if vec is None else [float(x) for x in vec])


def edge(src: str, dst: str, rel: Rel = Rel.TRANSITION, key: str = "", **props) -> EdgeRecord:
    return EdgeRecord(src=src, dst=dst, type=rel, key=key, props=props)


# --------------------------------------------------------------------------- writes


def test_upsert_twice_keeps_one_node_with_latest_props(backend_store: GraphStore):
    backend_store.upsert_nodes([node("a", kind="x", n=1)])
    backend_store.upsert_nodes([node("a", text="renamed", kind="y", n=2)])
    assert backend_store.count_by_label() == {"State": 1}
    got = backend_store.get_node("a")
    assert got.text == "renamed" and got.props["kind"] == "y" and got.props["n"] == 2


def test_upsert_edges_is_idempotent_per_key(backend_store: GraphStore):
    backend_store.upsert_nodes([node("a"), node("b")])
    backend_store.upsert_edges([edge("a", "b", key="k1", count=1), edge("a", "b", key="k2")])
    backend_store.upsert_edges([edge("a", "b", key="k1", count=5)])
    es = backend_store.edges(Rel.TRANSITION)
    assert sorted((e.key, e.props.get("count")) for e in es) == [("k1", 5), ("k2", None)]


def test_accumulate_adds_to_stored_numbers(backend_store: GraphStore):
    backend_store.upsert_nodes([node("t", Label.TASK, attempts=1, successes=0, note="first")],
                               accumulate=("attempts", "successes"))
    backend_store.upsert_nodes([node("t", Label.TASK, attempts=1, successes=1, note="second")],
                               accumulate=("attempts", "successes"))
    backend_store.upsert_nodes([node("t", Label.TASK, attempts=2, note="third")],
                               accumulate=("attempts", "successes"))
    props = backend_store.get_node("t").props
    assert (props["attempts"], props["successes"], props["note"]) == (4, 1, "third")
    # Repeated ids inside one call add up too.
    backend_store.upsert_nodes(
        [node("u", Label.TASK, attempts=1), node("u", Label.TASK, attempts=2)],
        accumulate=("attempts",))
    assert backend_store.get_node("u").props["attempts"] == 3


def test_accumulate_on_edges_adds_counts(backend_store: GraphStore):
    backend_store.upsert_nodes([node("a"), node("b")])
    for _ in range(3):
        backend_store.upsert_edges([edge("a", "b", key="click", count=1, successes=1,
                                         action="click")], accumulate=("count", "successes"))
    (e,) = backend_store.edges(Rel.TRANSITION, src="a")
    assert e.props == {"count": 3, "successes": 3, "action": "click"}


def test_upsert_without_embedding_keeps_the_stored_one(backend_store: GraphStore):
    vec = _unit(np.random.default_rng(1))[0]
    backend_store.upsert_nodes([node("a", vec=vec)])
    backend_store.upsert_nodes([node("a", kind="later")])
    got = backend_store.get_node("a")
    assert got.props["kind"] == "later"
    assert np.allclose(got.embedding, vec, atol=1e-6)


def test_update_keeps_created_at(backend_store: GraphStore):
    backend_store.upsert_nodes([node("a", created_at="2024-01-01", updated_at="2024-01-01")])
    backend_store.upsert_nodes([node("a", created_at="2025-05-05", updated_at="2025-05-05")])
    props = backend_store.get_node("a").props
    assert (props["created_at"], props["updated_at"]) == ("2024-01-01", "2025-05-05")


def test_nested_props_round_trip(backend_store: GraphStore):
    props = {"steps": [{"state": "s1", "action": {"name": "click", "args": {"x": 1}}}],
             "metadata": {"k": [1, "two", None]}, "tags": ["a", "b"], "mixed": [1, "x"],
             "reward": 0.5, "ok": True, "none": None}
    backend_store.upsert_nodes([node("e", Label.EPISODE, **props)])
    got = backend_store.get_node("e").props
    assert {k: got[k] for k in props} == props


# --------------------------------------------------------------------------- reads


def test_get_has_and_find_with_where_filters(backend_store: GraphStore):
    backend_store.upsert_nodes(
        [node(f"s{i}", Label.SKILL, tier="atomic" if i % 2 else "functional", support=i,
              active=i % 3 == 0, name=f"skill {i}") for i in range(6)]
        + [node("x", Label.GUARDRAIL, tier="atomic")])
    assert backend_store.has_nodes(["s1", "s5", "nope"]) == {"s1", "s5"}
    assert {n.id for n in backend_store.get_nodes(["s2", "s3", "nope"])} == {"s2", "s3"}
    assert backend_store.get_node("nope") is None
    found = backend_store.find_nodes(Label.SKILL, where={"tier": "atomic"})
    assert [n.id for n in found] == ["s1", "s3", "s5"]
    assert [n.id for n in backend_store.find_nodes(Label.SKILL, where={"active": True})] == \
        ["s0", "s3"]
    assert [n.id for n in backend_store.find_nodes(Label.SKILL, where={"support": 4})] == ["s4"]
    assert [n.id for n in backend_store.find_nodes(
        Label.SKILL, where={"tier": "atomic", "active": True})] == ["s3"]
    assert {n.id for n in backend_store.find_nodes(where={"tier": "atomic"})} == \
        {"s1", "s3", "s5", "x"}
    assert len(backend_store.find_nodes(Label.SKILL, limit=2)) == 2
    assert backend_store.find_nodes(Label.SKILL, where={"tier": "strategic"}) == []


def test_find_nodes_returns_embeddings_only_when_asked(backend_store: GraphStore):
    vec = _unit(np.random.default_rng(2))[0]
    backend_store.upsert_nodes([node("a", vec=vec)])
    assert backend_store.find_nodes(Label.STATE)[0].embedding is None
    (got,) = backend_store.find_nodes(Label.STATE, with_embedding=True)
    assert np.allclose(got.embedding, vec, atol=1e-6)


def test_edges_and_neighbors_by_type_and_direction(backend_store: GraphStore):
    backend_store.upsert_nodes([node("a"), node("b"), node("c"), node("g", Label.GUARDRAIL)])
    backend_store.upsert_edges([edge("a", "b", key="1"), edge("a", "b", key="2"),
                                edge("c", "a", key="1"), edge("g", "a", Rel.GUARDS)])
    assert len(backend_store.edges()) == 4
    assert len(backend_store.edges(Rel.TRANSITION)) == 3
    assert [(e.src, e.dst) for e in backend_store.edges(Rel.GUARDS)] == [("g", "a")]
    assert len(backend_store.edges(src="a", dst="b")) == 2
    assert {e.src for e in backend_store.edges(dst="a")} == {"c", "g"}
    out = backend_store.neighbors("a", Rel.TRANSITION, "out")
    assert sorted((e.key, n.id) for e, n in out) == [("1", "b"), ("2", "b")]
    inn = backend_store.neighbors("a", direction="in")
    assert sorted((e.type.value, n.id) for e, n in inn) == [("GUARDS", "g"), ("TRANSITION", "c")]
    both = backend_store.neighbors("a", Rel.TRANSITION, "both")
    assert sorted(n.id for _, n in both) == ["b", "b", "c"]
    assert all(n.label == Label.STATE for _, n in both)


def test_expand_spreads_decayed_weight_like_the_hand_computation(backend_store: GraphStore):
    backend_store.upsert_nodes([node(i) for i in "abcde"])
    backend_store.upsert_edges([edge("a", "b", key="1"), edge("a", "b", key="2"),
                                edge("a", "c"), edge("c", "d"), edge("a", "e", Rel.GUARDS)])
    got = backend_store.expand({"a": 1.0}, [Rel.TRANSITION], hops=2, decay=0.5)
    # hop 1: a has 3 edge-neighbours (b twice, c): b gets 2 * 0.5/3, c gets 0.5/3.
    # hop 2: b (1/3) splits 1/6 over a, a; c (1/6) splits 1/12 over d and a.
    want = {"a": 1 + 1 / 6 + 1 / 24, "b": 1 / 3, "c": 1 / 6, "d": 1 / 24}
    assert got.keys() == want.keys()
    for k, v in want.items():
        assert got[k] == pytest.approx(v, rel=1e-9)
    assert backend_store.expand({"e": 2.0}, [Rel.TRANSITION], 3, 0.5) == {"e": 2.0}


def test_vector_top_k_matches_brute_force(backend_store: GraphStore):
    rng = np.random.default_rng(7)
    mat = _unit(rng, 50)
    backend_store.upsert_nodes([node(f"v{i}", vec=mat[i], group=i % 3) for i in range(50)])
    for q in _unit(rng, 3):
        sims = mat @ q
        want = [f"v{i}" for i in np.argsort(-sims)[:10]]
        got = backend_store.vector_top_k(Label.STATE, q, 10)
        assert [n.id for n, _ in got] == want
        assert [s for _, s in got] == pytest.approx(sorted(sims, reverse=True)[:10], abs=1e-4)
        in_group = [i for i in np.argsort(-sims) if i % 3 == 1][:5]
        got = backend_store.vector_top_k(Label.STATE, q, 5, where={"group": 1})
        assert [n.id for n, _ in got] == [f"v{i}" for i in in_group]
    assert backend_store.vector_top_k(Label.SKILL, mat[0], 5) == []


def test_step_index_finds_the_nearest_step_and_links_it(backend_store: GraphStore):
    """The step-level memory on every backend: Step nodes with their vector, found by
    nearest-neighbour search, linked to episode, state and action."""
    rng = np.random.default_rng(7)
    vecs = _unit(rng, 4)
    backend_store.upsert_nodes([node("ep", Label.EPISODE), node("s", Label.STATE),
                                node("act", Label.ACTION)])
    backend_store.upsert_nodes([node(f"st{i}", Label.STEP, vec=vecs[i], episode="ep", index=i,
                                     key=f"a{i}", success=i != 2) for i in range(4)])
    backend_store.upsert_edges([edge(f"st{i}", "ep", Rel.STEP_OF, index=i) for i in range(4)]
                               + [edge(f"st{i}", "s", Rel.IN_STATE) for i in range(4)]
                               + [edge(f"st{i}", "act", Rel.TAKES) for i in range(4)])
    q = vecs[2] + 0.3 * vecs[1]
    q /= np.linalg.norm(q)
    expected = [f"st{i}" for i in np.argsort(-(vecs @ q))[:2]]  # brute force, in numpy
    top = backend_store.vector_top_k(Label.STEP, q, 2)
    assert [r.id for r, _ in top] == expected and expected[0] == "st2"
    assert top[0][0].props["success"] is False
    assert sorted(e.src for e in backend_store.edges(Rel.IN_STATE, dst="s")) == \
        ["st0", "st1", "st2", "st3"]
    assert backend_store.count_by_type()["STEP_OF"] == 4


def test_the_advice_model_round_trips_through_meta(backend_store: GraphStore):
    from expgraph.memory.model import META_KEY, AdviceModel, load_model

    model = AdviceModel()
    model.next.coef[0] = 1.25
    model.threshold = 0.7125
    backend_store.set_meta(META_KEY, model.to_json())
    back = load_model(backend_store)
    assert back.to_json() == model.to_json()
    assert back.next.coef[0] == 1.25


def test_text_search_finds_the_node_with_the_words(backend_store: GraphStore):
    backend_store.upsert_nodes([
        node("boots", text="red leather boots size 9"),
        node("shirt", text="blue cotton shirt"),
        node("tea", Label.TASK, text="buy green tea with leather pouch"),
    ])
    hits = backend_store.text_search("cotton shirt", k=5)
    assert hits[0][0].id == "shirt" and hits[0][1] > 0
    assert {n.id for n, _ in backend_store.text_search("leather")} == {"boots", "tea"}
    assert [n.id for n, _ in backend_store.text_search("leather", Label.TASK)] == ["tea"]
    assert backend_store.text_search("zeppelin") == []
    assert backend_store.text_search("  ?! ") == []


def test_delete_nodes_cascades_to_their_edges(backend_store: GraphStore):
    backend_store.upsert_nodes([node("a"), node("b"), node("c")])
    backend_store.upsert_edges([edge("a", "b"), edge("b", "c"), edge("c", "a")])
    assert backend_store.delete_nodes(["b", "missing"]) == 1
    assert backend_store.count_by_label() == {"State": 2}
    assert [(e.src, e.dst) for e in backend_store.edges()] == [("c", "a")]


def test_delete_edges_by_type_src_dst(backend_store: GraphStore):
    backend_store.upsert_nodes([node("a"), node("b"), node("g", Label.GUARDRAIL)])
    backend_store.upsert_edges([edge("a", "b", key="1"), edge("a", "b", key="2"),
                                edge("b", "a"), edge("g", "a", Rel.GUARDS)])
    assert backend_store.delete_edges(Rel.TRANSITION, src="a") == 2
    assert backend_store.delete_edges(dst="a") == 2
    assert backend_store.edges() == []


def test_clear_derived_removes_labels_and_types(backend_store: GraphStore):
    backend_store.upsert_nodes([node("s"), node("t"), node("k", Label.SKILL),
                                node("g", Label.GUARDRAIL)])
    backend_store.upsert_edges([edge("s", "t"), edge("k", "s", Rel.APPLIES_IN),
                                edge("g", "s", Rel.GUARDS)])
    backend_store.clear_derived([Label.SKILL], [Rel.GUARDS])
    assert backend_store.count_by_label() == {"Guardrail": 1, "State": 2}
    assert backend_store.count_by_type() == {"TRANSITION": 1}


# --------------------------------------------------------------------------- transactions


def test_transaction_rollback_leaves_nothing(backend_store: GraphStore):
    backend_store.upsert_nodes([node("keep")])
    with pytest.raises(RuntimeError, match="boom"):
        with backend_store.transaction():
            backend_store.upsert_nodes([node("a"), node("b")])
            backend_store.upsert_edges([edge("a", "b")])
            backend_store.upsert_nodes([node("keep", kind="changed")])
            backend_store.set_meta("episode_seq", 9)
            assert backend_store.has_nodes(["a", "b"]) == {"a", "b"}  # visible inside
            raise RuntimeError("boom")
    assert backend_store.has_nodes(["a", "b", "keep"]) == {"keep"}
    assert backend_store.edges() == []
    assert "kind" not in backend_store.get_node("keep").props
    assert backend_store.get_meta("episode_seq") is None


def test_transaction_commits_everything_and_nests(backend_store: GraphStore):
    with backend_store.transaction():
        backend_store.upsert_nodes([node("a")])
        with backend_store.transaction():
            backend_store.upsert_nodes([node("b")])
        backend_store.upsert_edges([edge("a", "b")])
    assert backend_store.count_by_label() == {"State": 2}
    assert backend_store.count_by_type() == {"TRANSITION": 1}


# --------------------------------------------------------------------------- namespaces + counts


def test_namespaces_isolate_nodes_edges_meta_and_search(store_factory):
    one, two = store_factory(), store_factory()
    rng = np.random.default_rng(3)
    q = _unit(rng)[0]
    one.upsert_nodes([node("a", text="shared words here", vec=_unit(rng)[0], tier="x")])
    # The other namespace holds the same id and a vector equal to the query.
    two.upsert_nodes([node("a", text="shared words here", vec=q, tier="x"), node("b", vec=q)])
    two.upsert_edges([edge("a", "b")])
    two.set_meta("k", 2)
    one.set_meta("k", 1)
    assert one.count_by_label() == {"State": 1} and one.count_by_type() == {}
    assert one.edges() == [] and one.neighbors("a", direction="both") == []
    assert [n.id for n, _ in one.vector_top_k(Label.STATE, q, 3)] == ["a"]
    assert [n.id for n, _ in one.text_search("shared words")] == ["a"]
    assert (one.get_meta("k"), two.get_meta("k")) == (1, 2)
    assert len(one.find_nodes(where={"tier": "x"})) == 1
    assert one.expand({"a": 1.0}, [Rel.TRANSITION], 2, 0.5) == {"a": 1.0}
    assert one.delete_nodes(["b"]) == 0 and two.has_nodes(["b"]) == {"b"}


def test_counts_by_label_and_type_ignore_meta_and_cache(backend_store: GraphStore):
    backend_store.upsert_nodes([node("s1"), node("s2"), node("k", Label.SKILL),
                                node("e", Label.EPISODE)])
    backend_store.upsert_edges([edge("s1", "s2"), edge("e", "s1", Rel.VISITS, key="0"),
                                edge("e", "s2", Rel.VISITS, key="1")])
    backend_store.set_meta("episode_seq", 3)
    backend_store.cache_embeddings("m", {"h": np.ones(4, dtype=np.float32)})
    assert backend_store.count_by_label() == {"Episode": 1, "Skill": 1, "State": 2}
    assert backend_store.count_by_type() == {"TRANSITION": 1, "VISITS": 2}


def test_meta_round_trips_json_values(backend_store: GraphStore):
    assert backend_store.get_meta("missing", 5) == 5
    backend_store.set_meta("seq", 3)
    backend_store.set_meta("seq", 4)
    backend_store.set_meta("cfg", {"a": [1, 2.5, "x"], "b": None})
    assert backend_store.get_meta("seq") == 4
    assert backend_store.get_meta("cfg") == {"a": [1, 2.5, "x"], "b": None}


def test_embedding_cache_round_trips_float32(backend_store: GraphStore):
    rng = np.random.default_rng(4)
    vecs = {f"h{i}": _unit(rng)[0] for i in range(3)}
    backend_store.cache_embeddings("model-a", vecs)
    got = backend_store.cached_embeddings("model-a", ["h0", "h2", "nope"])
    assert set(got) == {"h0", "h2"}
    assert got["h0"].dtype == np.float32 and np.array_equal(got["h0"], vecs["h0"])
    assert backend_store.cached_embeddings("model-b", ["h0"]) == {}


def test_generation_changes_on_every_write(backend_store: GraphStore):
    g0 = backend_store.generation()
    backend_store.upsert_nodes([node("a")])
    g1 = backend_store.generation()
    with backend_store.transaction():
        backend_store.upsert_nodes([node("b")])
    g2 = backend_store.generation()
    assert len({g0, g1, g2}) == 3


def test_to_networkx_sees_every_node_and_edge(backend_store: GraphStore):
    backend_store.upsert_nodes([node("a"), node("b"), node("k", Label.SKILL, tier="atomic")])
    backend_store.upsert_edges([edge("a", "b", key="1"), edge("a", "b", key="2"),
                                edge("k", "a", Rel.APPLIES_IN)])
    g = to_networkx(backend_store)
    assert (g.number_of_nodes(), g.number_of_edges()) == (3, 3)
    assert g.nodes["k"]["label"] == "Skill" and g.nodes["k"]["tier"] == "atomic"
    sub = to_networkx(backend_store, labels=[Label.STATE], rel_types=[Rel.TRANSITION])
    assert (sub.number_of_nodes(), sub.number_of_edges()) == (2, 2)


# --------------------------------------------------------------------------- copy


def _small_graph(store: GraphStore) -> None:
    rng = np.random.default_rng(5)
    store.upsert_nodes([node("s1", vec=_unit(rng)[0], member_count=2),
                        node("s2", vec=_unit(rng)[0]),
                        node("k", Label.SKILL, vec=_unit(rng)[0], tier="atomic",
                             actions=["click[x]"], nested={"a": [1, {"b": 2}]}),
                        node("e", Label.EPISODE, steps=[{"state": "s1"}], seq=1)])
    store.upsert_edges([edge("s1", "s2", key="click", count=3), edge("k", "s1", Rel.APPLIES_IN),
                        edge("e", "s1", Rel.VISITS, key="0"), edge("e", "s2", Rel.VISITS, key="1")])
    store.set_meta("episode_seq", 1)
    store.cache_embeddings("m", {"h1": _unit(rng)[0]})


def _snapshot(store: GraphStore) -> tuple:
    nodes = sorted((n.id, n.label.value, n.text, repr(sorted(n.props.items())),
                    tuple(n.embedding or ())) for lbl in Label
                   for n in store.find_nodes(lbl, with_embedding=True))
    edges = sorted((e.src, e.type.value, e.dst, e.key, repr(sorted(e.props.items())))
                   for e in store.edges())
    return nodes, edges, store.get_meta("episode_seq"), \
        {k: v.tolist() for k, v in store.cached_embeddings("m", ["h1"]).items()}


def test_copy_graph_round_trips_exactly_through_each_backend(store_factory, tmp_path):
    from expgraph.store import SQLiteStore
    from expgraph.store.copy import copy_graph

    src = SQLiteStore(tmp_path / "src.db", namespace="copy")
    back = SQLiteStore(tmp_path / "back.db", namespace="copy")
    _small_graph(src)
    middle = store_factory()
    there = copy_graph(src, middle, batch_size=2)
    again = copy_graph(middle, back, batch_size=2)
    assert there.ok and again.ok
    assert there.nodes == {"Episode": (1, 1), "Skill": (1, 1), "State": (2, 2)}
    assert there.edges == {"APPLIES_IN": (1, 1), "TRANSITION": (1, 1), "VISITS": (2, 2)}
    assert there.meta == (1, 1) and there.cache == (1, 1)
    assert _snapshot(back) == _snapshot(src)
    src.close()
    back.close()


def test_copy_reports_differences_when_target_already_has_data(store_factory, tmp_path):
    from expgraph.store import SQLiteStore
    from expgraph.store.copy import copy_graph

    src = SQLiteStore(tmp_path / "src.db", namespace="copy")
    _small_graph(src)
    dst = store_factory()
    dst.upsert_nodes([node("extra")])
    report = copy_graph(src, dst)
    assert not report.ok and report.nodes["State"] == (2, 3)
    src.close()


def test_copy_command_exits_nonzero_only_on_mismatch(tmp_path, capsys):
    import argparse

    from expgraph.cli import store_cmds
    from expgraph.store import SQLiteStore

    src = SQLiteStore(tmp_path / "a.db")
    _small_graph(src)
    src.close()
    parser = argparse.ArgumentParser()
    store_cmds.register(parser.add_subparsers(), argparse.ArgumentParser(add_help=False))
    args = parser.parse_args(["copy", "--from", str(tmp_path / "a.db"),
                              "--to", str(tmp_path / "b.db")])
    assert args.func(args) == 0
    assert "counts match" in capsys.readouterr().out
    assert args.func(args) == 0  # idempotent: copying again changes nothing
    extra = SQLiteStore(tmp_path / "b.db")
    extra.upsert_nodes([node("extra")])
    extra.close()
    assert args.func(args) == 1
    assert "DIFFERS" in capsys.readouterr().out


# --------------------------------------------------------------------------- bad connections


def _connect_error(uri: str, **kw) -> str:
    from expgraph.store.base import StoreError
    from expgraph.store.neo4j import Neo4jStore

    with pytest.raises(StoreError) as info:
        Neo4jStore.connect(uri, **kw)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_unreachable_server_is_one_line_store_error():
    import bolt_server

    msg = _connect_error(f"bolt://127.0.0.1:{bolt_server.free_port()}", user="u", password="p")
    assert "cannot reach a Bolt server" in msg and "port" in msg


def test_wrong_password_and_missing_database_are_one_line_store_errors(bolt_compat_server):
    t = bolt_compat_server
    msg = _connect_error(t.uri, user=t.user, password="wrong-" + t.password)
    assert "authentication failed" in msg and "NEO4J_PASSWORD" in msg
    msg = _connect_error(t.uri, user=t.user, password=t.password, database="no_such_db")
    assert "'no_such_db' does not exist" in msg and "NEO4J_DATABASE" in msg


def test_old_neo4j_is_refused_and_arcadedb_is_labelled_bolt_compatible():
    from expgraph.store.dialect import ArcadeDialect, dialect_for, too_old

    assert too_old("Neo4j/4.4.12") and too_old("Neo4j/5.11.0")
    assert not too_old("Neo4j/5.26.0") and not too_old("Neo4j/2025.01.0")
    assert not too_old("Neo4j/5.26.0 compatible (ArcadeDB 26.10.2)")
    d = dialect_for("Neo4j/5.26.0 compatible (ArcadeDB 26.10.2)", "bolt://h:7687", "u", "p", None)
    assert isinstance(d, ArcadeDialect) and d.display == "Bolt-compatible (ArcadeDB)"
    assert dialect_for("Neo4j/5.26.0", "bolt://h:7687", "u", "p", None).display == "Neo4j"


def test_bolt_store_uses_the_search_indexes(bolt_compat_server):
    from expgraph.store.neo4j import Neo4jStore

    t = bolt_compat_server
    store = Neo4jStore.connect(t.uri, namespace="caps", user=t.user, password=t.password)
    try:
        assert store.capabilities["fulltext"] is True
        assert all(store.capabilities[f"vector:{lbl}"] for lbl in
                   ("Task", "State", "Skill", "Guardrail", "Failure"))
        assert store.dialect.display == "Bolt-compatible (ArcadeDB)"
    finally:
        store.close()
