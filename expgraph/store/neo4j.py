"""`GraphStore` on a Bolt server: Neo4j (single instance, cluster, Aura) or a Bolt-compatible one.

Each node has its Label plus `ExpNode` (one uniqueness constraint on `uid = namespace:id`, which
works on every edition, and fast label-less lookups); edges are typed relationships MERGEd on
`key`. Writes are `UNWIND $rows ... MERGE` in batches; a `transaction()` block is one driver
transaction (see "plumbing"); search, traversal and filters run in Cypher. Every statement is
built in `neo4j_cypher` (and listed for the linter in `neo4j_registry`); server differences
live in `dialect`.
"""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

import numpy as np

from expgraph.models import EdgeRecord, Label, NodeRecord, Rel
from expgraph.store import neo4j_cypher as cy
from expgraph.store import neo4j_rows as rows_
from expgraph.store import neo4j_search as search
from expgraph.store.base import Direction, iter_batches, merge_dupes
from expgraph.store.dialect import Dialect
from expgraph.store.neo4j_batch import PendingWrites
from expgraph.store.neo4j_connect import open_driver
from expgraph.store.neo4j_rows import to_edge, to_node, uid, where_args

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
        self._in_block = False  # inside `transaction()`
        self._pending = PendingWrites()  # its upserts, until a read needs them sent
        self._session_obj: Any = None
        self._tx: Any = None  # its explicit driver transaction, once one is needed
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
    # Reads go through read transactions (a cluster routes them to followers), writes through
    # retried write transactions, all with one bookmark manager: a read sees this store's own
    # earlier writes on any cluster member. Inside `transaction()` upserts are gathered
    # (`PendingWrites`) and sent at commit as one retried write transaction; a read or another
    # kind of write inside the block first opens an explicit transaction and sends them, so the
    # block still reads its own writes.
    def _session(self) -> Any:
        return self._driver.session(database=self.database, bookmark_manager=self._bookmarks)

    def _read(self, query: str, **params: Any) -> list[dict[str, Any]]:
        with self._lock:
            if self._in_block and (self._tx is not None or self._pending):
                return self._explicit_tx().run(query, params).data()
        with self._session() as s:
            return s.execute_read(lambda t: t.run(query, params).data())

    def _explicit_tx(self) -> Any:
        """The block's explicit transaction, opened on first need, pending upserts sent."""
        if self._tx is None:
            self._session_obj = self._session()
            self._tx = self._session_obj.begin_transaction()
        if self._pending:
            self._pending.send(self._tx, self.batch_size, self.namespace)
            self._pending.clear()
        return self._tx

    def _write(self, work: Work[T]) -> T:
        """Run `work(tx)` in the block's transaction, or in its own retried write transaction."""
        with self._lock:
            if self._in_block:
                return work(self._explicit_tx())

            def unit(tx: Any) -> T:
                result = work(tx)
                self._bump(tx)
                return result

            with self._session() as s:
                result = s.execute_write(unit)
            self._writes += 1
            return result

    def _upsert(self, kind: str, groups: dict[str, list[dict[str, Any]]],
                acc: Sequence[str]) -> None:
        with self._lock:
            if self._in_block and self._tx is None:
                self._add(self._pending, kind, groups, acc)
                return
            pending = PendingWrites()
            self._add(pending, kind, groups, acc)
            self._write(lambda tx: pending.send(tx, self.batch_size, self.namespace))

    @staticmethod
    def _add(pending: PendingWrites, kind: str, groups: dict[str, list[dict[str, Any]]],
             acc: Sequence[str]) -> None:
        for name, rows in groups.items():
            if kind == "nodes":
                pending.add(kind, name, tuple(acc), rows, lambda r: r["uid"])
            else:
                pending.add(kind, name, tuple(acc), rows,
                            lambda r, t=name: (r["s"], t, r["d"], r["key"]))

    def _bump(self, tx: Any) -> None:
        tx.run(cy.BUMP_GENERATION, {"ns": self.namespace}).consume()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            if self._in_block:
                yield
                return
            self._in_block = True
            try:
                yield
                if self._tx is not None:
                    self._explicit_tx()  # sends what is still pending
                    self._bump(self._tx)
                    self._tx.commit()
                elif self._pending:
                    pending = self._pending

                    def unit(tx: Any) -> None:
                        pending.send(tx, self.batch_size, self.namespace)
                        self._bump(tx)

                    with self._session() as s:
                        s.execute_write(unit)
            except BaseException:
                if self._tx is not None:
                    with suppress(Exception):
                        self._tx.rollback()
                raise
            finally:
                self._pending.clear()
                if self._session_obj is not None:
                    with suppress(Exception):
                        self._session_obj.close()
                self._in_block, self._tx, self._session_obj = False, None, None
                self._writes += 1

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
        self._upsert("nodes", {label.value: rows for label, rows in by_label.items()}, acc)

    def upsert_edges(self, edges: Sequence[EdgeRecord], accumulate: Sequence[str] = ()) -> None:
        if not edges:
            return
        acc = rows_.check_accumulate(accumulate)
        merged = merge_dupes(edges, lambda e: e.ident, accumulate)
        by_type: dict[Rel, list[dict[str, Any]]] = defaultdict(list)
        for e in merged:
            by_type[Rel(e.type)].append(rows_.edge_row(e, self.namespace))
        self._upsert("edges", {rel.value: rows for rel, rows in by_type.items()}, acc)

    def delete_nodes(self, ids: Sequence[str]) -> int:
        uids = self._uids(ids)
        if not uids:
            return 0

        def work(tx: Any) -> int:
            n = 0
            for batch in iter_batches(uids, self.batch_size):
                n += tx.run(cy.DELETE_NODES, {"uids": batch}).single()["n"]
            return n

        return self._write(work)

    def _edge_params(self, src: str | None, dst: str | None) -> dict[str, Any]:
        """Parameters for `neo4j_cypher.edge_match` (`$s`/`$d` when given, else `$ns`)."""
        params: dict[str, Any] = {}
        if src is None:
            params["ns"] = self.namespace
        else:
            params["s"] = uid(self.namespace, src)
        if dst is not None:
            params["d"] = uid(self.namespace, dst)
        return params

    def delete_edges(self, rel_type: Rel | None = None, src: str | None = None,
                     dst: str | None = None) -> int:
        q = cy.delete_edges(_rel(rel_type), src is not None, dst is not None)
        params = self._edge_params(src, dst)
        return self._write(lambda tx: tx.run(q, params).single()["n"])

    def clear_derived(self, labels: Sequence[Label], rel_types: Sequence[Rel]) -> None:
        def work(tx: Any) -> None:
            for rel in rel_types:
                tx.run(cy.clear_edges(Rel(rel).value), {"ns": self.namespace}).consume()
            for label in labels:
                tx.run(cy.clear_label(Label(label).value), {"ns": self.namespace}).consume()

        self._write(work)

    # ------------------------------------------------------------------ reads
    def get_node(self, id: str) -> NodeRecord | None:
        rows = self._read(cy.GET_NODE, uid=uid(self.namespace, id))
        return to_node(rows[0], self.namespace) if rows else None

    def get_nodes(self, ids: Sequence[str]) -> list[NodeRecord]:
        out: list[NodeRecord] = []
        for batch in iter_batches(self._uids(ids), self.batch_size):
            out += [to_node(r, self.namespace) for r in self._read(cy.GET_NODES, uids=batch)]
        return out

    def has_nodes(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for batch in iter_batches(self._uids(ids), self.batch_size):
            found.update(r["id"] for r in self._read(cy.HAS_NODES, uids=batch))
        return found

    def find_nodes(self, label: Label | None = None, where: dict[str, Any] | None = None,
                   limit: int | None = None, with_embedding: bool = False) -> list[NodeRecord]:
        keys, params = where_args(where)
        q = cy.find_nodes(_label(label), keys, limit is not None, with_embedding)
        if limit is not None:
            params["limit"] = int(limit)
        return [to_node(r, self.namespace) for r in self._read(q, ns=self.namespace, **params)]

    def edges(self, rel_type: Rel | None = None, src: str | None = None,
              dst: str | None = None) -> list[EdgeRecord]:
        rows = self._read(cy.edges(_rel(rel_type), src is not None, dst is not None),
                          **self._edge_params(src, dst))
        return [to_edge(r, self.namespace) for r in rows]

    def neighbors(self, id: str, rel_type: Rel | None = None,
                  direction: Direction = "out") -> list[tuple[EdgeRecord, NodeRecord]]:
        if direction not in ("out", "in", "both"):
            return []
        q = cy.neighbors(_rel(rel_type), direction)
        out = []
        for r in sorted(self._read(q, u=uid(self.namespace, id)),
                        key=lambda r: (r["side"], r["src"], r["type"], r["dst"], r["key"])):
            out.append((to_edge(r, self.namespace), to_node(r, self.namespace, prefix="n_")))
        return out

    def expand(self, seeds: dict[str, float], rel_types: Sequence[Rel], hops: int,
               decay: float) -> dict[str, float]:
        types = [Rel(t).value for t in rel_types]
        total: dict[str, float] = dict(seeds)
        frontier = dict(seeds)
        if not types:
            return total
        q = cy.expand_hop(types)  # one query per hop
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
        return search.vector_top_k(self._search_reader(), Label(label), vector, k, where)

    def text_search(self, query: str, label: Label | None = None,
                    k: int = 10) -> list[tuple[NodeRecord, float]]:
        return search.text_search(self._search_reader(), query, label, k)

    def _search_reader(self) -> search.SearchReader:
        return search.SearchReader(read=self._read, namespace=self.namespace,
                                   capabilities=self.capabilities, dialect=self.dialect)

    def count_by_label(self) -> dict[str, int]:
        rows = self._read(cy.COUNT_BY_LABEL, ns=self.namespace)
        return {r["label"]: r["c"] for r in rows}

    def count_by_type(self) -> dict[str, int]:
        rows = self._read(cy.COUNT_BY_TYPE, ns=self.namespace)
        return {r["t"]: r["c"] for r in rows}

    # ------------------------------------------------------------------ cache + meta
    def cached_embeddings(self, model: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        keys = [f"{model}\x1f{h}" for h in dict.fromkeys(hashes)]
        for batch in iter_batches(keys, self.batch_size):
            for r in self._read(cy.CACHE_GET, uids=batch):
                out[r["h"]] = np.asarray(r["v"], dtype=np.float32)
        return out

    def cache_embeddings(self, model: str, items: dict[str, np.ndarray]) -> None:
        if not items:
            return
        rows = [{"uid": f"{model}\x1f{h}", "model": model, "hash": h,
                 "vec": rows_.float32_list(v)} for h, v in items.items()]

        def work(tx: Any) -> None:
            for batch in iter_batches(rows, self.batch_size):
                tx.run(cy.CACHE_PUT, {"rows": batch}).consume()

        self._write(work)

    def get_meta(self, key: str, default: Any = None) -> Any:
        rows = self._read(cy.META_GET, uid=f"{self.namespace}\x1f{key}")
        return rows_.json.loads(rows[0]["v"]) if rows else default

    def set_meta(self, key: str, value: Any) -> None:
        self._write(lambda tx: tx.run(
            cy.META_SET, {"uid": f"{self.namespace}\x1f{key}", "ns": self.namespace,
                          "key": key, "value": rows_.dumps(value)}).consume())

    def meta_items(self) -> dict[str, Any]:
        """Every metadata key of this namespace (used by `copy_graph`)."""
        rows = self._read(cy.META_ALL, ns=self.namespace)
        return {r["k"]: rows_.json.loads(r["v"]) for r in rows}

    def embedding_cache_items(self) -> Iterator[tuple[str, str, np.ndarray]]:
        """(model, hash, vector) for the whole embedding cache (used by `copy_graph`)."""
        for r in self._read(cy.CACHE_ALL):
            yield r["m"], r["h"], np.asarray(r["v"], dtype=np.float32)

    def generation(self) -> int:
        rows = self._read(cy.GENERATION, ns=self.namespace)
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


def _rel(rel_type: Rel | None) -> str | None:
    return Rel(rel_type).value if rel_type else None


def _label(label: Label | None) -> str | None:
    return Label(label).value if label is not None else None
