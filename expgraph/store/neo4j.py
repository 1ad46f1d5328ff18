"""`GraphStore` on a Bolt server: Neo4j (single instance, cluster, Aura) or a Bolt-compatible one.

Each node has its Label plus `ExpNode` (one uniqueness constraint on `uid = namespace:id`, which
works on every edition, and fast label-less lookups); edges are typed relationships MERGEd on
`key`. Writes are `UNWIND $rows ... MERGE` in batches; `transaction()` is one explicit driver
transaction; search, traversal and filters run in Cypher. Server differences live in `dialect`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

import numpy as np

from expgraph.models import EdgeRecord, Label, NodeRecord, Rel
from expgraph.store import neo4j_rows as rows_
from expgraph.store.base import Direction, iter_batches, merge_dupes
from expgraph.store.dialect import CACHE_LABEL, GEN_LABEL, META_LABEL, NODE_LABEL, Dialect
from expgraph.store.neo4j_connect import open_driver
from expgraph.store.neo4j_rows import (
    edge_columns,
    ident,
    node_columns,
    to_edge,
    to_node,
    uid,
    where_clause,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
Work = Callable[[Any], T]


class Neo4jStore:
    """`GraphStore` over the official `neo4j` driver. Open it with `Neo4jStore.connect`."""

    def __init__(self, driver: Any, dialect: Dialect, namespace: str = "default",
                 database: str | None = None, batch_size: int = 500,
                 capabilities: dict[str, bool] | None = None, uri: str = "") -> None:
        self._driver = driver
        self.dialect = dialect
        self.namespace = namespace
        self.database = database
        self.batch_size = max(1, int(batch_size))
        self.capabilities = capabilities or {}
        self.uri = uri
        self._lock = threading.RLock()
        self._tx: Any = None
        self._tx_dirty = False
        self._writes = 0
        # Reads see this store's own earlier writes, even on a cluster's followers.
        self._bookmarks = _bookmark_manager()

    @classmethod
    def connect(cls, uri: str, namespace: str = "default", user: str | None = None,
                password: str | None = None, database: str | None = None,
                batch_size: int | None = None, vector_dims: int | None = None) -> Neo4jStore:
        """Connect, check the server (reachable, auth, database, version) and set up the schema.

        Defaults come from NEO4J_USER (neo4j), NEO4J_PASSWORD, NEO4J_DATABASE (server default),
        EXPGRAPH_BATCH_SIZE (500) and EXPGRAPH_VECTOR_DIMS (384). Nothing is written before
        every check has passed.
        """
        user = user or os.environ.get("NEO4J_USER") or "neo4j"
        password = password if password is not None else os.environ.get("NEO4J_PASSWORD", "")
        database = database or os.environ.get("NEO4J_DATABASE") or None
        batch = batch_size or int(os.environ.get("EXPGRAPH_BATCH_SIZE", "500"))
        dims = vector_dims or int(os.environ.get("EXPGRAPH_VECTOR_DIMS", "384"))
        driver, dialect, caps = open_driver(uri, user, password, database, dims)
        return cls(driver, dialect, namespace=namespace, database=database, batch_size=batch,
                   capabilities=caps, uri=uri)

    # ------------------------------------------------------------------ plumbing
    def _session(self) -> Any:
        return self._driver.session(database=self.database, bookmark_manager=self._bookmarks)

    def _read(self, query: str, **params: Any) -> list[dict[str, Any]]:
        tx = self._tx
        if tx is not None:
            with self._lock:
                return tx.run(query, params).data()
        with self._session() as s:
            return s.execute_read(lambda t: t.run(query, params).data())

    def _write(self, work: Work[T]) -> T:
        """Run `work(tx)` in the open transaction, or in its own retried write transaction."""
        with self._lock:
            if self._tx is not None:
                self._tx_dirty = True
                return work(self._tx)

            def unit(tx: Any) -> T:
                result = work(tx)
                self._bump(tx)
                return result

            with self._session() as s:
                result = s.execute_write(unit)
            self._writes += 1
            return result

    def _bump(self, tx: Any) -> None:
        tx.run(f"MERGE (g:{GEN_LABEL} {{uid: $ns}}) SET g.n = coalesce(g.n, 0) + 1",
               {"ns": self.namespace}).consume()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            if self._tx is not None:
                yield
                return
            session = self._session()
            tx = session.begin_transaction()
            self._tx, self._tx_dirty = tx, False
            try:
                yield
            except BaseException:
                with suppress(Exception):
                    tx.rollback()
                raise
            else:
                if self._tx_dirty:
                    self._bump(tx)
                tx.commit()
            finally:
                self._tx = None
                self._writes += 1
                with suppress(Exception):
                    session.close()

    def _uids(self, ids: Sequence[str]) -> list[str]:
        return [uid(self.namespace, i) for i in dict.fromkeys(ids)]

    # ------------------------------------------------------------------ writes
    def upsert_nodes(self, nodes: Sequence[NodeRecord], accumulate: Sequence[str] = ()) -> None:
        if not nodes:
            return
        acc = rows_.check_accumulate(accumulate)
        merged = merge_dupes(nodes, lambda n: n.id, accumulate)
        base = time.time_ns()
        by_label: dict[Label, list[dict[str, Any]]] = defaultdict(list)
        for i, n in enumerate(merged):
            by_label[Label(n.label)].append(rows_.node_row(n, self.namespace, base + i))
        olds, sums = _accumulate_cypher("n", acc)
        queries = {label: (
            f"UNWIND $rows AS row MERGE (n:{NODE_LABEL}:{label.value} {{uid: row.uid}}) "
            f"ON CREATE SET n._new = true "
            f"WITH n, row, n._new IS NOT NULL AS fresh, n.embedding AS old_emb, "
            f"n.created_at AS old_created, coalesce(n._ord, row.ord) AS ord{olds} "
            f"SET n = row.props "
            f"SET n.embedding = coalesce(row.embedding, old_emb), n._ord = ord, "
            f"n.created_at = coalesce(old_created, row.created_at), n._acc = $acc{sums}"
        ) for label in by_label}

        def work(tx: Any) -> None:
            for label, rows in by_label.items():
                for batch in iter_batches(rows, self.batch_size):
                    tx.run(queries[label], {"rows": batch, "acc": acc}).consume()

        self._write(work)

    def upsert_edges(self, edges: Sequence[EdgeRecord], accumulate: Sequence[str] = ()) -> None:
        if not edges:
            return
        acc = rows_.check_accumulate(accumulate)
        merged = merge_dupes(edges, lambda e: e.ident, accumulate)
        by_type: dict[Rel, list[dict[str, Any]]] = defaultdict(list)
        for e in merged:
            by_type[Rel(e.type)].append(rows_.edge_row(e, self.namespace))
        olds, sums = _accumulate_cypher("r", acc)
        queries = {rel: (
            f"UNWIND $rows AS row MATCH (a:{NODE_LABEL} {{uid: row.s}}) "
            f"MATCH (b:{NODE_LABEL} {{uid: row.d}}) "
            f"MERGE (a)-[r:{rel.value} {{key: row.key}}]->(b) ON CREATE SET r._new = true "
            f"WITH r, row, r._new IS NOT NULL AS fresh{olds} "
            f"SET r = row.props SET r._acc = $acc{sums} RETURN count(r) AS n"
        ) for rel in by_type}

        def work(tx: Any) -> int:
            done = 0
            for rel, rows in by_type.items():
                for batch in iter_batches(rows, self.batch_size):
                    done += tx.run(queries[rel], {"rows": batch, "acc": acc}).single()["n"]
            return done

        done = self._write(work)
        if done < len(merged):
            log.warning("%d of %d edges skipped: an endpoint node does not exist in namespace %r",
                        len(merged) - done, len(merged), self.namespace)

    def delete_nodes(self, ids: Sequence[str]) -> int:
        uids = self._uids(ids)
        if not uids:
            return 0

        def work(tx: Any) -> int:
            n = 0
            for batch in iter_batches(uids, self.batch_size):
                n += tx.run(f"MATCH (n:{NODE_LABEL}) WHERE n.uid IN $uids DETACH DELETE n "
                            f"RETURN count(*) AS n", {"uids": batch}).single()["n"]
            return n

        return self._write(work)

    def _edge_match(self, rel_type: Rel | None, src: str | None,
                    dst: str | None) -> tuple[str, dict[str, Any]]:
        rel = f":{Rel(rel_type).value}" if rel_type else ""
        conds, params = [], {"ns": self.namespace}
        conds.append("a.uid = $s" if src is not None else "a.namespace = $ns")
        if src is not None:
            params["s"] = uid(self.namespace, src)
        if dst is not None:
            conds.append("b.uid = $d")
            params["d"] = uid(self.namespace, dst)
        return (f"MATCH (a:{NODE_LABEL})-[r{rel}]->(b:{NODE_LABEL}) WHERE "
                + " AND ".join(conds), params)

    def delete_edges(self, rel_type: Rel | None = None, src: str | None = None,
                     dst: str | None = None) -> int:
        match, params = self._edge_match(rel_type, src, dst)
        return self._write(lambda tx: tx.run(
            f"{match} DELETE r RETURN count(*) AS n", params).single()["n"])

    def clear_derived(self, labels: Sequence[Label], rel_types: Sequence[Rel]) -> None:
        def work(tx: Any) -> None:
            for rel in rel_types:
                match, params = self._edge_match(rel, None, None)
                tx.run(f"{match} DELETE r", params).consume()
            for label in labels:
                tx.run(f"MATCH (n:{Label(label).value} {{namespace: $ns}}) DETACH DELETE n",
                       {"ns": self.namespace}).consume()

        self._write(work)

    # ------------------------------------------------------------------ reads
    def get_node(self, id: str) -> NodeRecord | None:
        rows = self._read(f"MATCH (n:{NODE_LABEL} {{uid: $uid}}) "
                          f"RETURN {node_columns('n', True)}", uid=uid(self.namespace, id))
        return to_node(rows[0], self.namespace) if rows else None

    def get_nodes(self, ids: Sequence[str]) -> list[NodeRecord]:
        out: list[NodeRecord] = []
        for batch in iter_batches(self._uids(ids), self.batch_size):
            out += [to_node(r, self.namespace) for r in self._read(
                f"MATCH (n:{NODE_LABEL}) WHERE n.uid IN $uids RETURN {node_columns()} "
                f"ORDER BY n._ord", uids=batch)]
        return out

    def has_nodes(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for batch in iter_batches(self._uids(ids), self.batch_size):
            found.update(r["id"] for r in self._read(
                f"MATCH (n:{NODE_LABEL}) WHERE n.uid IN $uids RETURN n.id AS id", uids=batch))
        return found

    def find_nodes(self, label: Label | None = None, where: dict[str, Any] | None = None,
                   limit: int | None = None, with_embedding: bool = False) -> list[NodeRecord]:
        lbl = f"{NODE_LABEL}:{Label(label).value}" if label is not None else NODE_LABEL
        cond, params = where_clause(where)
        q = (f"MATCH (n:{lbl}) WHERE n.namespace = $ns{cond} "
             f"RETURN {node_columns('n', with_embedding)} ORDER BY n._ord")
        if limit is not None:
            q += f" LIMIT {int(limit)}"
        return [to_node(r, self.namespace) for r in self._read(q, ns=self.namespace, **params)]

    def edges(self, rel_type: Rel | None = None, src: str | None = None,
              dst: str | None = None) -> list[EdgeRecord]:
        match, params = self._edge_match(rel_type, src, dst)
        rows = self._read(f"{match} RETURN {edge_columns()} ORDER BY src, type, dst, key",
                          **params)
        return [to_edge(r, self.namespace) for r in rows]

    def neighbors(self, id: str, rel_type: Rel | None = None,
                  direction: Direction = "out") -> list[tuple[EdgeRecord, NodeRecord]]:
        rel = f":{Rel(rel_type).value}" if rel_type else ""
        other = node_columns("b", prefix="n_")  # the neighbour, beside the edge columns
        parts = []
        if direction in ("out", "both"):
            parts.append(f"MATCH (a:{NODE_LABEL} {{uid: $u}})-[r{rel}]->(b:{NODE_LABEL}) "
                         f"RETURN 0 AS side, {edge_columns()}, {other}")
        if direction in ("in", "both"):
            parts.append(f"MATCH (b:{NODE_LABEL})-[r{rel}]->(a:{NODE_LABEL} {{uid: $u}}) "
                         f"RETURN 1 AS side, {edge_columns('b', 'r', 'a')}, {other}")
        if not parts:
            return []
        q = " UNION ALL ".join(parts)
        out = []
        for r in sorted(self._read(q, u=uid(self.namespace, id)),
                        key=lambda r: (r["side"], r["src"], r["type"], r["dst"], r["key"])):
            out.append((to_edge(r, self.namespace), to_node(r, self.namespace, prefix="n_")))
        return out

    def expand(self, seeds: dict[str, float], rel_types: Sequence[Rel], hops: int,
               decay: float) -> dict[str, float]:
        types = "|".join(Rel(t).value for t in rel_types)
        total: dict[str, float] = dict(seeds)
        frontier = dict(seeds)
        if not types:
            return total
        # One query per hop: every frontier node's weight * decay split evenly over its
        # edge-neighbours (both directions, parallel edges counted), summed per neighbour.
        q = (f"UNWIND $f AS f MATCH (a:{NODE_LABEL} {{uid: f.uid}}) "
             f"OPTIONAL MATCH (a)-[:{types}]->(o:{NODE_LABEL}) WITH f, a, collect(o.id) AS outs "
             f"OPTIONAL MATCH (a)<-[:{types}]-(i:{NODE_LABEL}) WITH f, outs, collect(i.id) AS ins "
             f"WITH f, outs + ins AS nbrs WITH f, nbrs, size(nbrs) AS deg WHERE deg > 0 "
             f"UNWIND nbrs AS bid WITH bid, f.w * $decay / deg AS share "
             f"RETURN bid, sum(share) AS w")
        for _ in range(hops):
            nxt: dict[str, float] = defaultdict(float)
            items = [{"uid": uid(self.namespace, k), "w": float(w)} for k, w in frontier.items()]
            for batch in iter_batches(items, self.batch_size):
                for r in self._read(q, f=batch, decay=float(decay)):
                    nxt[r["bid"]] += r["w"]
            for node, w in nxt.items():
                total[node] = total.get(node, 0.0) + w
            frontier = dict(nxt)
            if not frontier:
                break
        return total

    def vector_top_k(self, label: Label, vector: np.ndarray, k: int,
                     where: dict[str, Any] | None = None) -> list[tuple[NodeRecord, float]]:
        from expgraph.store.neo4j_search import vector_top_k

        return vector_top_k(self, Label(label), vector, k, where)

    def text_search(self, query: str, label: Label | None = None,
                    k: int = 10) -> list[tuple[NodeRecord, float]]:
        from expgraph.store.neo4j_search import text_search

        return text_search(self, query, label, k)

    def count_by_label(self) -> dict[str, int]:
        rows = self._read(f"MATCH (n:{NODE_LABEL} {{namespace: $ns}}) "
                          f"RETURN [l IN labels(n) WHERE l <> '{NODE_LABEL}'][0] AS label, "
                          f"count(*) AS c ORDER BY label", ns=self.namespace)
        return {r["label"]: r["c"] for r in rows}

    def count_by_type(self) -> dict[str, int]:
        rows = self._read(f"MATCH (a:{NODE_LABEL} {{namespace: $ns}})-[r]->() "
                          f"RETURN type(r) AS t, count(*) AS c ORDER BY t", ns=self.namespace)
        return {r["t"]: r["c"] for r in rows}

    # ------------------------------------------------------------------ cache + meta
    def cached_embeddings(self, model: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        keys = [f"{model}\x1f{h}" for h in dict.fromkeys(hashes)]
        for batch in iter_batches(keys, self.batch_size):
            for r in self._read(f"MATCH (c:{CACHE_LABEL}) WHERE c.uid IN $uids "
                                f"RETURN c.hash AS h, c.vec AS v", uids=batch):
                out[r["h"]] = np.asarray(r["v"], dtype=np.float32)
        return out

    def cache_embeddings(self, model: str, items: dict[str, np.ndarray]) -> None:
        if not items:
            return
        rows = [{"uid": f"{model}\x1f{h}", "model": model, "hash": h,
                 "vec": rows_.float32_list(v)} for h, v in items.items()]

        def work(tx: Any) -> None:
            for batch in iter_batches(rows, self.batch_size):
                tx.run(f"UNWIND $rows AS row MERGE (c:{CACHE_LABEL} {{uid: row.uid}}) "
                       f"SET c.model = row.model, c.hash = row.hash, c.vec = row.vec",
                       {"rows": batch}).consume()

        self._write(work)

    def get_meta(self, key: str, default: Any = None) -> Any:
        rows = self._read(f"MATCH (m:{META_LABEL} {{uid: $uid}}) RETURN m.value AS v",
                          uid=f"{self.namespace}\x1f{key}")
        return rows_.json.loads(rows[0]["v"]) if rows else default

    def set_meta(self, key: str, value: Any) -> None:
        self._write(lambda tx: tx.run(
            f"MERGE (m:{META_LABEL} {{uid: $uid}}) SET m.namespace = $ns, m.key = $key, "
            f"m.value = $value", {"uid": f"{self.namespace}\x1f{key}", "ns": self.namespace,
                                  "key": key, "value": rows_.dumps(value)}).consume())

    def meta_items(self) -> dict[str, Any]:
        """Every metadata key of this namespace (used by `copy_graph`)."""
        rows = self._read(f"MATCH (m:{META_LABEL} {{namespace: $ns}}) RETURN m.key AS k, "
                          f"m.value AS v ORDER BY k", ns=self.namespace)
        return {r["k"]: rows_.json.loads(r["v"]) for r in rows}

    def embedding_cache_items(self) -> Iterator[tuple[str, str, np.ndarray]]:
        """(model, hash, vector) for the whole embedding cache (used by `copy_graph`)."""
        for r in self._read(f"MATCH (c:{CACHE_LABEL}) RETURN c.model AS m, c.hash AS h, "
                            f"c.vec AS v"):
            yield r["m"], r["h"], np.asarray(r["v"], dtype=np.float32)

    def generation(self) -> int:
        rows = self._read(f"MATCH (g:{GEN_LABEL} {{uid: $ns}}) RETURN g.n AS n",
                          ns=self.namespace)
        return (int(rows[0]["n"] or 0) if rows else 0) * 1_000_003 + self._writes

    def close(self) -> None:
        with suppress(Exception):
            self._driver.close()

    def __repr__(self) -> str:
        return (f"Neo4jStore({self.uri!r}, namespace={self.namespace!r}, "
                f"server={self.dialect.display!r})")


def _bookmark_manager() -> Any:
    from neo4j import GraphDatabase

    return GraphDatabase.bookmark_manager()


def _accumulate_cypher(var: str, acc: Sequence[str]) -> tuple[str, str]:
    """Cypher fragments that keep the stored value of each accumulated prop (`olds`, for the
    WITH) and add the incoming one to it (`sums`, for the SET); a fresh entity takes the row's."""
    olds = "".join(f", {var}.{ident(a)} AS old_{j}" for j, a in enumerate(acc))
    sums = "".join(
        f", {var}.{ident(a)} = CASE WHEN fresh THEN row.props.{ident(a)} "
        f"ELSE coalesce(old_{j}, 0) + coalesce(row.props.{ident(a)}, 0) END"
        for j, a in enumerate(acc))
    return olds, sums
