"""Cluster-ready driver use, observed on the wire against the Bolt-compatible server (ArcadeDB).

The `neo4j` driver logs every Bolt message it sends and receives (logger `neo4j.io`); these
tests read that log: a read transaction's BEGIN carries `mode: 'r'` (a cluster routes it to a
follower), a write's carries no mode (the leader), the bookmark a write's COMMIT returns is
sent with the next read's BEGIN, and every message names the database asked for. No Neo4j
cluster runs here: what the driver sends is what a cluster would receive.
"""

from __future__ import annotations

import ast
import io
import logging
import re
import tokenize
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from expgraph.models import EdgeRecord, Label, NodeRecord, Rel
from expgraph.store.base import StoreError
from expgraph.store.neo4j import Neo4jStore
from expgraph.store.neo4j_connect import parse_uri


@dataclass
class Tx:
    """One transaction as the driver sent it: its BEGIN (or auto-commit RUN) extra, the
    queries run in it, and the bookmark its COMMIT returned."""

    extra: dict[str, Any]
    queries: list[str] = field(default_factory=list)
    bookmark: str | None = None
    committed: bool = False

    @property
    def read(self) -> bool:
        return self.extra.get("mode") == "r"


class Wire(logging.Handler):
    """Collects the driver's Bolt messages, grouped into transactions per connection."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.txs: list[Tx] = []
        self.routes: list[tuple] = []
        self._open: dict[str, Tx] = {}  # connection -> transaction awaiting its COMMIT reply
        self._committing: dict[str, Tx] = {}

    def emit(self, record: logging.LogRecord) -> None:
        msg, args = str(record.msg), record.args or ()
        if "C: " not in msg and "S: " not in msg:
            return
        conn = str(args[0]) if args else ""
        if "C: BEGIN" in msg:
            tx = Tx(dict(args[1]))
            self.txs.append(tx)
            self._open[conn] = tx
        elif "C: RUN" in msg:
            query, _params, extra = _split_run(args[1])
            tx = self._open.get(conn)
            if tx is None:  # auto-commit: the RUN carries what BEGIN would
                tx = Tx(dict(extra))
                self.txs.append(tx)
            tx.queries.append(query)
        elif "C: COMMIT" in msg:
            if conn in self._open:
                self._committing[conn] = self._open.pop(conn)
        elif "C: ROLLBACK" in msg:
            self._open.pop(conn, None)
        elif "C: ROUTE" in msg:
            self.routes.append(args[1:])
        elif "S: SUCCESS" in msg and conn in self._committing:
            meta = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
            if "bookmark" in meta:
                tx = self._committing.pop(conn)
                tx.bookmark, tx.committed = meta["bookmark"], True

    def writes(self) -> list[Tx]:
        return [t for t in self.txs if not t.read and t.queries]

    def reads(self) -> list[Tx]:
        return [t for t in self.txs if t.read]


def _split_run(text: str) -> tuple[str, Any, dict]:
    """`'query' {params} {extra}` (the driver's RUN log line: three reprs) -> the three."""
    fields: list[Any] = []
    depth, start = 0, None
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
            break
        if start is None:
            start = tok.start[1]
        if tok.type == tokenize.OP and tok.string in "{[(":
            depth += 1
        elif tok.type == tokenize.OP and tok.string in "}])":
            depth -= 1
        if depth == 0:
            fields.append(ast.literal_eval(text[start:tok.end[1]]))
            start = None
    return fields[0], fields[1], fields[2]


@contextmanager
def wire() -> Iterator[Wire]:
    log = logging.getLogger("neo4j.io")
    handler, level = Wire(), log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


def _ns() -> str:
    return f"route-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def bolt_store(bolt_compat_server) -> Iterator[Neo4jStore]:
    t = bolt_compat_server
    store = Neo4jStore.connect(t.uri, namespace=_ns(), user=t.user, password=t.password)
    yield store
    store.clear_derived(list(Label), list(Rel))
    store.close()


def _node(i: int, label: Label = Label.STATE, **props: Any) -> NodeRecord:
    return NodeRecord(id=f"n{i}", label=label, text=f"node {i} checkout cart", props=props,
                      embedding=[1.0, float(i)] + [0.0] * 382)


def test_reads_go_out_as_read_transactions(bolt_store):
    bolt_store.upsert_nodes([_node(1), _node(2)])
    bolt_store.upsert_edges([EdgeRecord(src="n1", dst="n2", type=Rel.TRANSITION, key="a")])
    with wire() as w:
        assert bolt_store.get_node("n1") is not None
        assert len(bolt_store.find_nodes(Label.STATE)) == 2
        assert len(bolt_store.edges(Rel.TRANSITION)) == 1
        assert bolt_store.neighbors("n1", direction="both")
        assert bolt_store.vector_top_k(Label.STATE, _node(1).embedding, 1)
        bolt_store.text_search("checkout", Label.STATE, 2)
        assert bolt_store.count_by_label() == {"State": 2}
        bolt_store.expand({"n1": 1.0}, [Rel.TRANSITION], 1, 0.5)
        bolt_store.generation()
    assert len(w.txs) >= 9
    assert all(t.read for t in w.txs), [t.queries for t in w.txs if not t.read]
    assert not w.writes()


def test_writes_go_out_as_write_transactions(bolt_store):
    with wire() as w:
        bolt_store.upsert_nodes([_node(1), _node(2)])
        bolt_store.upsert_edges([EdgeRecord(src="n1", dst="n2", type=Rel.TRANSITION, key="a")])
        bolt_store.set_meta("k", {"v": 1})
        assert bolt_store.delete_edges(Rel.TRANSITION) == 1
        assert bolt_store.delete_nodes(["n2"]) == 1
    assert len(w.txs) == 5
    assert not any(t.read for t in w.txs)
    assert all(t.committed and t.bookmark for t in w.txs)
    # each is one retried unit of work: its statement(s), then the write counter
    assert all(t.queries[-1].startswith("MERGE (g:_Gen") for t in w.txs)


def test_bookmark_of_a_write_is_sent_with_the_next_read(bolt_store):
    with wire() as w:
        bolt_store.upsert_nodes([_node(1)])
        assert bolt_store.get_node("n1") is not None
    write, read = w.txs
    assert not write.read and write.bookmark
    assert read.read and write.bookmark in read.extra.get("bookmarks", [])


def test_a_transaction_block_is_one_write_with_its_upserts_merged(bolt_store):
    """Three episodes' worth of upserts: one BEGIN, one statement per (label | type, accumulated
    props) shape, counters summed across the calls, as if sent one by one."""
    with wire() as w, bolt_store.transaction():
        for ep in range(3):
            bolt_store.upsert_nodes([_node(ep, Label.EPISODE)])
            bolt_store.upsert_nodes([_node(10, Label.STATE, member_count=1)],
                                    accumulate=("member_count",))
            bolt_store.upsert_edges([EdgeRecord(src=f"n{ep}", dst="n10", type=Rel.VISITS,
                                                key="0")])
    assert len(w.txs) == 1
    (tx,) = w.txs
    assert not tx.read and tx.committed
    assert len(tx.queries) == 4  # Episode, State (+member_count), VISITS, write counter
    state = bolt_store.get_node("n10")
    assert state.props["member_count"] == 3
    assert state.embedding is not None
    assert len(bolt_store.edges(Rel.VISITS)) == 3


def test_a_failed_block_leaves_nothing(bolt_store):
    with pytest.raises(RuntimeError, match="boom"), bolt_store.transaction():
        bolt_store.upsert_nodes([_node(1), _node(2)])
        bolt_store.upsert_edges([EdgeRecord(src="n1", dst="n2", type=Rel.TRANSITION)])
        raise RuntimeError("boom")
    assert bolt_store.count_by_label() == {}
    # and a block that reads its own writes (explicit transaction) rolls back the same way
    with pytest.raises(RuntimeError, match="boom"), bolt_store.transaction():
        bolt_store.upsert_nodes([_node(1)])
        assert bolt_store.get_node("n1") is not None  # sees its pending write
        raise RuntimeError("boom")
    assert bolt_store.get_node("n1") is None


def test_database_is_named_in_every_message(bolt_compat_server):
    t = bolt_compat_server
    with wire() as w:
        store = Neo4jStore.connect(t.uri, namespace=_ns(), user=t.user, password=t.password,
                                   database="neo4j")  # a fresh schema check too (new key)
        try:
            store.upsert_nodes([NodeRecord(id="a", label=Label.TASK, text="t",
                                           embedding=[1.0] * 384)])
            with store.transaction():
                store.upsert_nodes([NodeRecord(id="b", label=Label.ACTION, text="act")])
                assert store.get_node("b") is not None
            assert store.find_nodes(Label.TASK)
        finally:
            store.clear_derived(list(Label), list(Rel))
            store.close()
    assert len(w.txs) > 10
    assert {t.extra.get("db") for t in w.txs} == {"neo4j"}
    # the connect-time check is a read; the schema commands are writes
    assert any(t.read and "RETURN 1 AS ok" in t.queries for t in w.txs)
    assert any(not t.read and any(q.startswith("CREATE CONSTRAINT") for q in t.queries)
               for t in w.txs)


def test_neo4j_scheme_routes_through_the_routing_table(bolt_compat_server):
    t = bolt_compat_server
    uri = t.uri.replace("bolt://", "neo4j://")
    with wire() as w:
        store = Neo4jStore.connect(uri, namespace=_ns(), user=t.user, password=t.password,
                                   database="neo4j")
        try:
            store.upsert_nodes([_node(1)])
            assert store.get_node("n1") is not None
        finally:
            store.clear_derived(list(Label), list(Rel))
            store.close()
    assert w.routes, "a neo4j:// driver asks the server for a routing table"
    assert any("neo4j" in repr(r) for r in w.routes)
    write = next(t for t in w.txs if any("MERGE (n:ExpNode:State" in q for q in t.queries))
    read = w.txs[w.txs.index(write) + 1]
    assert not write.read and write.bookmark
    assert read.read and write.bookmark in read.extra.get("bookmarks", [])


@pytest.mark.parametrize(("uri", "expected"), [
    ("bolt://localhost:7687", ("bolt", "localhost", 7687, False, "")),
    ("bolt+s://db.example.com", ("bolt+s", "db.example.com", 7687, False, "verified")),
    ("neo4j://10.0.0.5:7688", ("neo4j", "10.0.0.5", 7688, True, "")),
    ("neo4j+s://1a2b3c4d.databases.neo4j.io", ("neo4j+s", "1a2b3c4d.databases.neo4j.io", 7687,
                                               True, "verified")),
    ("neo4j+ssc://core1:7687", ("neo4j+ssc", "core1", 7687, True, "self-signed")),
])
def test_bolt_uris_are_parsed(uri, expected):
    u = parse_uri(uri)
    assert (u.scheme, u.host, u.port, u.routing, u.encryption) == expected


@pytest.mark.parametrize(("uri", "says"), [
    ("http://localhost:7474", "unknown scheme 'http'"),
    ("neo4j+x://host:7687", "unknown scheme 'neo4j+x'"),
    ("neo4j://:7687", "no host"),
    ("neo4j://host:notaport", "bad Bolt URI"),
    ("neo4j://host:7687/mydb", "NEO4J_DATABASE"),
])
def test_bad_uris_are_refused_before_connecting(uri, says):
    with pytest.raises(StoreError, match=re.escape(says)) as err:
        Neo4jStore.connect(uri, user="neo4j", password="x")
    assert "neo4j+s://" in str(err.value) or "NEO4J_DATABASE" in str(err.value)


def test_open_store_accepts_every_bolt_scheme():
    from expgraph.store import BOLT_SCHEMES, is_bolt_uri

    for scheme in ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc"):
        assert is_bolt_uri(f"{scheme}://host:7687")
        assert f"{scheme}://" in BOLT_SCHEMES


def test_suggest_right_after_ingest_carries_the_ingests_bookmark(bolt_store, model,
                                                                  examples_file, tmp_path):
    """On a cluster the follower serving `suggest` waits until it has the ingest's commit."""
    from expgraph.graph import ExperienceGraph
    from expgraph.models import Episode

    lines = examples_file.read_text(encoding="utf-8").splitlines()[:3]
    episodes = [Episode.model_validate_json(line) for line in lines]
    g = ExperienceGraph(store=bolt_store, embedder=model, auto_distill=False)
    with wire() as w:
        report = g.ingest(episodes)
        assert report.ingested == 3
        n_ingest = len(w.txs)
        g.suggest(episodes[0].steps[1].observation, task=episodes[0].task)
    ingest_writes = [t for t in w.txs[:n_ingest] if not t.read and t.queries]
    assert ingest_writes and all(t.committed for t in ingest_writes)
    # From the ingest's last write to the first read of `suggest`, each transaction starts
    # from the bookmark of the one before it: an unbroken causal chain.
    start = w.txs.index(ingest_writes[-1])
    first_read = next(t for t in w.txs[n_ingest:] if t.read)
    chain = [t for t in w.txs[start:w.txs.index(first_read) + 1] if t.queries]
    assert len(chain) >= 2
    for before, after in zip(chain, chain[1:], strict=False):
        assert before.committed and before.bookmark in after.extra.get("bookmarks", []), (
            before.queries, after.queries)
    # the episodes went in as one write transaction (one batch), not one per episode
    episode_writes = [t for t in ingest_writes
                      if any("MERGE (n:ExpNode:Episode" in q for q in t.queries)]
    assert len(episode_writes) == 1


# Spliced per call: the accumulated props of an upsert, the keys of a filter and the set of
# relationship types a hop follows. Both sides of the comparison below drop them; the
# registry lints them with representative names.
_SPLICED = [
    re.compile(r"(?<=\[:)[A-Z_|]+(?=\])"),
    re.compile(r", [nr]\.`[^`]+` AS old_\d+"),
    re.compile(r", [nr]\.`[^`]+` = CASE WHEN fresh THEN row\.props\.`[^`]+` ELSE "
               r"coalesce\(old_\d+, 0\) \+ coalesce\(row\.props\.`[^`]+`, 0\) END"),
    re.compile(r" AND (?:n|node)\.`[^`]+` = \$w\d+"),
]


def _shape(query: str) -> str:
    for pattern in _SPLICED:
        query = pattern.sub("", query)
    return query


def test_every_statement_sent_is_in_the_registry(bolt_store, model, examples_file):
    """What the store really sends, over ingest + distil + refine + query + suggest and the
    rest of the protocol, is a subset of what the lint test checks."""
    from expgraph.graph import ExperienceGraph
    from expgraph.models import Episode
    from expgraph.store.neo4j_registry import statements

    episodes = [Episode.model_validate_json(line)
                for line in examples_file.read_text(encoding="utf-8").splitlines()[:6]]
    g = ExperienceGraph(store=bolt_store, embedder=model)
    with wire() as w:
        g.ingest(episodes)  # distils too
        g.refine()
        g.query(episodes[0].steps[0].observation, task=episodes[0].task)
        g.suggest(episodes[1].steps[0].observation, task=episodes[1].task)
        s = bolt_store
        s.neighbors(episodes[0].id or "x", direction="both")
        s.neighbors("x", Rel.VISITS, direction="in")
        s.text_search("search", None, 5)
        s.has_nodes(["x"])
        s.find_nodes(Label.SKILL, where={"tier": "atomic"}, limit=3, with_embedding=True)
        s.meta_items()
        list(s.embedding_cache_items())
        s.count_by_type()
        s.delete_edges(Rel.RETRIEVED_FOR, src="x", dst="y")
        s.delete_nodes(["x"])
    sent = {q for t in w.txs for q in t.queries}
    assert len(sent) > 20
    registered = {_shape(st.text) for st in statements() if st.language == "cypher"}
    missing = sorted(q for q in sent if _shape(q) not in registered)
    assert not missing, "sent but not in the registry:\n" + "\n".join(missing)


def _mixed_upserts(store: Neo4jStore) -> None:
    """Upserts of one node in several shapes (with and without accumulated props), and of one
    edge twice: the order matters, and merging must not change the outcome."""
    e1, e2 = [1.0, 0.0] + [0.0] * 382, [0.0, 1.0] + [0.0] * 382

    def state(x: int, count: int, emb: list[float] | None) -> NodeRecord:
        return NodeRecord(id="A", label=Label.STATE, text="a", props={"x": x, "count": count,
                          "created_at": f"t{x}"}, embedding=emb)

    store.upsert_nodes([NodeRecord(id="B", label=Label.STATE, text="b")])
    store.upsert_nodes([state(1, 2, e1)], accumulate=("count",))
    store.upsert_nodes([state(2, 3, None)], accumulate=("count",))
    store.upsert_nodes([state(3, 10, e2)])  # replaces the counter
    store.upsert_nodes([state(4, 1, None)], accumulate=("count",))
    for n in (1, 4):
        store.upsert_edges([EdgeRecord(src="A", dst="B", type=Rel.TRANSITION, key="k",
                                       props={"count": n, "last": n})], accumulate=("count",))


def test_a_block_gives_what_the_calls_one_by_one_give(bolt_compat_server):
    t = bolt_compat_server
    one_by_one, batched = (Neo4jStore.connect(t.uri, namespace=_ns(), user=t.user,
                                              password=t.password) for _ in range(2))
    try:
        _mixed_upserts(one_by_one)
        with wire() as w, batched.transaction():
            _mixed_upserts(batched)
        assert len(w.txs) == 1
        for store in (one_by_one, batched):
            a = store.get_node("A")
            assert (a.props["x"], a.props["count"], a.props["created_at"]) == (4, 11, "t1")
            assert a.embedding[:2] == [0.0, 1.0]
            (edge,) = store.edges(Rel.TRANSITION)
            assert (edge.props["count"], edge.props["last"]) == (5, 4)
    finally:
        for store in (one_by_one, batched):
            store.clear_derived(list(Label), list(Rel))
            store.close()
