"""The embedded default: one SQLite file holding nodes, edges, embeddings and metadata.

WAL mode, explicit transactions (an episode lands whole or not at all), float32 blobs for
embeddings, FTS5 for text search, and an in-memory matrix per label for vector top-k.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from expgraph.models import EdgeRecord, Label, NodeRecord, Rel
from expgraph.store.base import Direction, StoreError, check_prop_names, merge_dupes

SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (
    ns TEXT NOT NULL, id TEXT NOT NULL, label TEXT NOT NULL, text TEXT NOT NULL DEFAULT '',
    props TEXT NOT NULL DEFAULT '{}', emb BLOB,
    PRIMARY KEY (ns, id)
);
CREATE INDEX IF NOT EXISTS nodes_label ON nodes (ns, label);
CREATE TABLE IF NOT EXISTS edges (
    ns TEXT NOT NULL, src TEXT NOT NULL, type TEXT NOT NULL, dst TEXT NOT NULL,
    key TEXT NOT NULL DEFAULT '', props TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (ns, src, type, dst, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS edges_dst ON edges (ns, dst, type);
CREATE INDEX IF NOT EXISTS edges_type ON edges (ns, type);
CREATE TABLE IF NOT EXISTS emb_cache (
    model TEXT NOT NULL, hash TEXT NOT NULL, vec BLOB NOT NULL, PRIMARY KEY (model, hash)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (ns, key)
) WITHOUT ROWID;
CREATE VIRTUAL TABLE IF NOT EXISTS nodes_fts USING fts5(
    text, content='nodes', content_rowid='rowid', tokenize='porter unicode61'
);
CREATE TRIGGER IF NOT EXISTS nodes_ai AFTER INSERT ON nodes BEGIN
    INSERT INTO nodes_fts(rowid, text) VALUES (new.rowid, new.text);
END;
CREATE TRIGGER IF NOT EXISTS nodes_ad AFTER DELETE ON nodes BEGIN
    INSERT INTO nodes_fts(nodes_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
END;
CREATE TRIGGER IF NOT EXISTS nodes_au AFTER UPDATE OF text ON nodes
WHEN old.text IS NOT new.text BEGIN
    INSERT INTO nodes_fts(nodes_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
    INSERT INTO nodes_fts(rowid, text) VALUES (new.rowid, new.text);
END;
"""

_CHUNK = 500  # bound on SQL variables per statement
_BUSY_S = 30.0  # how long a writer waits for another process's lock before it gives up


def _locked(exc: sqlite3.OperationalError) -> bool:
    """Whether SQLite answered SQLITE_BUSY or SQLITE_LOCKED (any extended code of them)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _retry_locked(step: Callable[[], None]) -> None:
    """Run `step`, again after a short sleep while SQLite answers "locked" without having
    waited (journal-mode switches and schema changes of a file other processes just opened),
    for at most `_BUSY_S` seconds."""
    deadline, pause = time.monotonic() + _BUSY_S, 0.01
    while True:
        try:
            step()
            return
        except sqlite3.OperationalError as exc:
            if not _locked(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.5)


def _blob(vec: Sequence[float] | np.ndarray | None) -> bytes | None:
    if vec is None:
        return None
    return np.asarray(vec, dtype=np.float32).tobytes()


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), default=str)


class SQLiteStore:
    """`GraphStore` on one SQLite file. Thread-safe for one process via a lock."""

    def __init__(self, path: str | Path = "expgraph.db", namespace: str = "default") -> None:
        self.path = str(path)
        self.namespace = namespace
        p = Path(self.path)
        if self.path != ":memory:":
            if p.is_dir():
                raise StoreError(f"{self.path} is a directory; give a file path for the store")
            if not p.parent.exists():
                raise StoreError(f"folder {p.parent} does not exist; create it or choose --db")
        try:
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                         timeout=_BUSY_S)
            _retry_locked(self._open)
        except sqlite3.OperationalError as exc:
            if _locked(exc):
                raise StoreError(f"{self.path} stayed locked by another writer for {_BUSY_S:.0f} s"
                                 f" ({exc})") from exc
            raise StoreError(f"{self.path} is not an expgraph SQLite store ({exc})") from exc
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not an expgraph SQLite store ({exc})") from exc
        self._lock = threading.RLock()
        self._depth = 0
        self._writes = 0
        self._matrix_cache: dict[tuple[str, tuple], tuple[int, list[str], np.ndarray]] = {}

    def _open(self) -> None:
        """Settings and schema. Processes opening one new file at once race here: switching
        to WAL takes an exclusive lock and does not wait on the busy timeout, so it is only
        asked for when the file is not in WAL yet, and a lost race is retried."""
        c = self._conn
        c.execute(f"PRAGMA busy_timeout={int(_BUSY_S * 1000)}")
        if c.execute("PRAGMA journal_mode").fetchone()[0] not in ("wal", "memory"):
            c.execute("PRAGMA journal_mode=WAL")
        c.execute("PRAGMA synchronous=NORMAL")
        c.execute("PRAGMA foreign_keys=OFF")
        c.execute("PRAGMA wal_autocheckpoint=10000")
        c.execute("PRAGMA cache_size=-65536")
        c.executescript(SCHEMA)

    # ------------------------------------------------------------------ transactions
    @contextmanager
    def transaction(self, graph_write: bool = True) -> Iterator[None]:
        """All-or-nothing writes. `graph_write=False` (the embedding cache) does not move
        `generation()`: caches of the graph's content stay valid."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
            finally:
                self._depth = 0
                if graph_write:
                    self._writes += 1

    # ------------------------------------------------------------------ writes
    def upsert_nodes(self, nodes: Sequence[NodeRecord], accumulate: Sequence[str] = ()) -> None:
        if not nodes:
            return
        ns = self.namespace
        keep_created = ("json_set(excluded.props, '$.created_at', COALESCE("
                        "json_extract(nodes.props, '$.created_at'), "
                        "json_extract(excluded.props, '$.created_at')))")
        props_sql = _accumulate_sql(keep_created, "nodes", accumulate)
        with self.transaction():
            merged = merge_dupes(nodes, lambda n: n.id, accumulate)
            self._conn.executemany(
                f"""INSERT INTO nodes (ns, id, label, text, props, emb) VALUES (?,?,?,?,?,?)
                ON CONFLICT (ns, id) DO UPDATE SET label=excluded.label, text=excluded.text,
                  props={props_sql}, emb=COALESCE(excluded.emb, nodes.emb)""",
                [(ns, n.id, n.label.value, n.text, _dumps(n.props), _blob(n.embedding))
                 for n in merged],
            )

    def upsert_edges(self, edges: Sequence[EdgeRecord], accumulate: Sequence[str] = ()) -> None:
        if not edges:
            return
        ns = self.namespace
        props_sql = _accumulate_sql("excluded.props", "edges", accumulate)
        with self.transaction():
            merged = merge_dupes(edges, lambda e: e.ident, accumulate)
            self._conn.executemany(
                f"""INSERT INTO edges (ns, src, type, dst, key, props) VALUES (?,?,?,?,?,?)
                ON CONFLICT (ns, src, type, dst, key) DO UPDATE SET props={props_sql}""",
                [(ns, e.src, e.type.value, e.dst, e.key, _dumps(e.props)) for e in merged],
            )

    def delete_nodes(self, ids: Sequence[str]) -> int:
        ns, n = self.namespace, 0
        with self.transaction():
            for chunk in _chunks(list(ids), _CHUNK):
                q = ",".join("?" * len(chunk))
                self._conn.execute(f"DELETE FROM edges WHERE ns=? AND src IN ({q})", [ns, *chunk])
                self._conn.execute(f"DELETE FROM edges WHERE ns=? AND dst IN ({q})", [ns, *chunk])
                n += self._conn.execute(
                    f"DELETE FROM nodes WHERE ns=? AND id IN ({q})", [ns, *chunk]).rowcount
        return n

    def delete_edges(self, rel_type: Rel | None = None, src: str | None = None,
                     dst: str | None = None) -> int:
        sql, params = self._edge_filter(rel_type, src, dst)
        with self.transaction():
            return self._conn.execute(f"DELETE FROM edges WHERE {sql}", params).rowcount

    def clear_derived(self, labels: Sequence[Label], rel_types: Sequence[Rel]) -> None:
        ns = self.namespace
        with self.transaction():
            for rel in rel_types:
                self._conn.execute("DELETE FROM edges WHERE ns=? AND type=?", (ns, rel.value))
            for label in labels:
                ids = [r[0] for r in self._conn.execute(
                    "SELECT id FROM nodes WHERE ns=? AND label=?", (ns, label.value))]
                self.delete_nodes(ids)

    # ------------------------------------------------------------------ reads
    def _row_to_node(self, row: tuple, with_embedding: bool = True) -> NodeRecord:
        id_, label, text, props, emb = row
        vec = np.frombuffer(emb, dtype=np.float32).tolist() if (emb and with_embedding) else None
        # rows this store wrote from validated records (NOT NULL columns): constructed, not
        # validated again (validation was a third of reading every derived edge)
        return NodeRecord.model_construct(id=id_, label=Label(label), text=text,
                                          props=json.loads(props), embedding=vec,
                                          namespace=self.namespace)

    def get_node(self, id: str) -> NodeRecord | None:
        row = self._conn.execute(
            "SELECT id, label, text, props, emb FROM nodes WHERE ns=? AND id=?",
            (self.namespace, id)).fetchone()
        return self._row_to_node(row) if row else None

    def get_nodes(self, ids: Sequence[str]) -> list[NodeRecord]:
        out: list[NodeRecord] = []
        for chunk in _chunks(list(dict.fromkeys(ids)), _CHUNK):
            q = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT id, label, text, props, emb FROM nodes WHERE ns=? AND id IN ({q})",
                [self.namespace, *chunk]).fetchall()
            out.extend(self._row_to_node(r, with_embedding=False) for r in rows)
        return out

    def has_nodes(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(list(ids), _CHUNK):
            q = ",".join("?" * len(chunk))
            found.update(r[0] for r in self._conn.execute(
                f"SELECT id FROM nodes WHERE ns=? AND id IN ({q})", [self.namespace, *chunk]))
        return found

    def _label_rows(self, label: Label, columns: str, chunk: int) -> Iterator[tuple[Any, ...]]:
        """The `columns` of every node of `label` in `find_nodes` order (by rowid), `chunk`
        rows per statement (keyset paging: no statement holds the whole label)."""
        last = -1
        while True:
            rows = self._conn.execute(
                f"SELECT rowid, {columns} FROM nodes WHERE ns=? AND label=? AND rowid>? "
                "ORDER BY rowid LIMIT ?", (self.namespace, Label(label).value, last, chunk),
            ).fetchall()
            for row in rows:
                yield row[1:]
            if len(rows) < chunk:
                return
            last = rows[-1][0]

    def iter_props(self, label: Label, chunk: int = 2_000) -> Iterator[tuple[str, str]]:
        """(id, props as the stored JSON text) of every node of `label` in `find_nodes` order,
        `chunk` rows at a time: a reader that caches what it parsed tells an unchanged node
        by its text, without parsing it again."""
        yield from self._label_rows(label, "id, props", chunk)  # type: ignore[misc]

    def iter_nodes(self, label: Label, chunk: int = 10_000,
                   ) -> Iterator[tuple[str, dict[str, Any], np.ndarray | None]]:
        """(id, props, float32 embedding or None) of every node of `label` in `find_nodes`
        order, read `chunk` rows at a time: a million steps never sit in memory as records
        with their vectors as Python floats (~12 KB each)."""
        for id_, props, emb in self._label_rows(label, "id, props, emb", chunk):
            yield id_, json.loads(props), (np.frombuffer(emb, dtype=np.float32)
                                           if emb else None)

    def find_nodes(self, label: Label | None = None, where: dict[str, Any] | None = None,
                   limit: int | None = None, with_embedding: bool = False) -> list[NodeRecord]:
        sql = "SELECT id, label, text, props, emb FROM nodes WHERE ns=?"
        params: list[Any] = [self.namespace]
        if label is not None:
            sql += " AND label=?"
            params.append(Label(label).value)
        for k, v in (where or {}).items():
            sql += f" AND json_extract(props, '$.{k}') = ?"
            params.append(_sql_value(v))
        sql += " ORDER BY rowid"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [self._row_to_node(r, with_embedding) for r in self._conn.execute(sql, params)]

    def _edge_filter(self, rel_type: Rel | None, src: str | None,
                     dst: str | None) -> tuple[str, list[Any]]:
        sql, params = "ns=?", [self.namespace]
        for col, val in (("type", Rel(rel_type).value if rel_type else None), ("src", src),
                         ("dst", dst)):
            if val is not None:
                sql += f" AND {col}=?"
                params.append(val)
        return sql, params

    def edges(self, rel_type: Rel | None = None, src: str | None = None,
              dst: str | None = None) -> list[EdgeRecord]:
        sql, params = self._edge_filter(rel_type, src, dst)
        rows = self._conn.execute(
            f"SELECT src, type, dst, key, props FROM edges WHERE {sql}", params).fetchall()
        return [EdgeRecord.model_construct(src=r[0], type=Rel(r[1]), dst=r[2], key=r[3],
                                           props=json.loads(r[4]), namespace=self.namespace)
                for r in rows]

    def neighbors(self, id: str, rel_type: Rel | None = None,
                  direction: Direction = "out") -> list[tuple[EdgeRecord, NodeRecord]]:
        es: list[EdgeRecord] = []
        if direction in ("out", "both"):
            es += self.edges(rel_type, src=id)
        if direction in ("in", "both"):
            es += self.edges(rel_type, dst=id)
        other = {e.dst if e.src == id else e.src for e in es}
        nodes = {n.id: n for n in self.get_nodes(list(other))}
        return [(e, nodes[o]) for e in es if (o := e.dst if e.src == id else e.src) in nodes]

    def expand(self, seeds: dict[str, float], rel_types: Sequence[Rel], hops: int,
               decay: float) -> dict[str, float]:
        types = [Rel(t).value for t in rel_types]
        tq = ",".join("?" * len(types))
        total: dict[str, float] = dict(seeds)
        frontier = dict(seeds)
        for _ in range(hops):
            adj: dict[str, list[str]] = defaultdict(list)
            for chunk in _chunks(list(frontier), _CHUNK // 2):
                q = ",".join("?" * len(chunk))
                for a, b in self._conn.execute(
                    f"SELECT src, dst FROM edges WHERE ns=? AND type IN ({tq}) AND src IN ({q}) "
                    f"UNION ALL SELECT dst, src FROM edges WHERE ns=? AND type IN ({tq}) "
                    f"AND dst IN ({q})",
                    [self.namespace, *types, *chunk, self.namespace, *types, *chunk],
                ):
                    adj[a].append(b)
            nxt: dict[str, float] = defaultdict(float)
            for node, w in frontier.items():
                nbrs = adj.get(node)
                if not nbrs:
                    continue
                share = w * decay / len(nbrs)
                for b in nbrs:
                    nxt[b] += share
            for node, w in nxt.items():
                total[node] = total.get(node, 0.0) + w
            frontier = dict(nxt)
            if not frontier:
                break
        return total

    def _matrix(self, label: Label, where: dict[str, Any] | None) -> tuple[list[str], np.ndarray]:
        key = (label.value, tuple(sorted((where or {}).items())))
        gen = self.generation()
        hit = self._matrix_cache.get(key)
        if hit and hit[0] == gen:
            return hit[1], hit[2]
        sql = "SELECT id, emb FROM nodes WHERE ns=? AND label=? AND emb IS NOT NULL"
        params: list[Any] = [self.namespace, label.value]
        for k, v in (where or {}).items():
            sql += f" AND json_extract(props, '$.{k}') = ?"
            params.append(_sql_value(v))
        rows = self._conn.execute(sql, params).fetchall()
        ids = [r[0] for r in rows]
        if rows:
            blob = b"".join(r[1] for r in rows)
            mat = np.frombuffer(blob, dtype=np.float32).reshape(len(rows), -1)
            norms = np.linalg.norm(mat, axis=1, keepdims=True)
            mat = mat / np.where(norms == 0, 1.0, norms)
        else:
            mat = np.zeros((0, 0), dtype=np.float32)
        self._matrix_cache[key] = (gen, ids, mat)
        return ids, mat

    def vector_top_ids(self, label: Label, vector: np.ndarray, k: int,
                       where: dict[str, Any] | None = None) -> list[tuple[str, float]]:
        """`vector_top_k` as (node id, similarity), without reading the nodes (a query that
        only needs ids, its seeds and dense scores, skips ~100 node reads)."""
        return self._nearest(label, vector, k, where)

    def _nearest(self, label: Label, vector: np.ndarray, k: int,
                 where: dict[str, Any] | None) -> list[tuple[str, float]]:
        ids, mat = self._matrix(Label(label), where)
        if not ids or k <= 0:
            return []
        v = np.asarray(vector, dtype=np.float32).ravel()
        v = v / (np.linalg.norm(v) or 1.0)
        sims = mat @ v
        k = min(k, len(ids))
        top = np.argpartition(-sims, k - 1)[:k]
        top = top[np.argsort(-sims[top], kind="stable")]
        return [(ids[i], float(sims[i])) for i in top]

    def vector_top_k(self, label: Label, vector: np.ndarray, k: int,
                     where: dict[str, Any] | None = None) -> list[tuple[NodeRecord, float]]:
        top = self._nearest(label, vector, k, where)
        nodes = {n.id: n for n in self.get_nodes([i for i, _ in top])}
        return [(nodes[i], s) for i, s in top if i in nodes]

    def text_search(self, query: str, label: Label | None = None,
                    k: int = 10) -> list[tuple[NodeRecord, float]]:
        terms = [t for t in "".join(c if c.isalnum() else " " for c in query).split() if t]
        if not terms:
            return []
        match = " OR ".join(f'"{t}"' for t in terms)
        sql = ("SELECT n.id, n.label, n.text, n.props, n.emb, bm25(nodes_fts) AS s "
               "FROM nodes_fts JOIN nodes n ON n.rowid = nodes_fts.rowid "
               "WHERE nodes_fts MATCH ? AND n.ns=?")
        params: list[Any] = [match, self.namespace]
        if label is not None:
            sql += " AND n.label=?"
            params.append(Label(label).value)
        sql += " ORDER BY s LIMIT ?"
        params.append(k)
        return [(self._row_to_node(r[:5], False), -float(r[5]))
                for r in self._conn.execute(sql, params)]

    def count_by_label(self) -> dict[str, int]:
        return dict(self._conn.execute(
            "SELECT label, count(*) FROM nodes WHERE ns=? GROUP BY label ORDER BY label",
            (self.namespace,)).fetchall())

    def count_by_type(self) -> dict[str, int]:
        return dict(self._conn.execute(
            "SELECT type, count(*) FROM edges WHERE ns=? GROUP BY type ORDER BY type",
            (self.namespace,)).fetchall())

    # ------------------------------------------------------------------ cache + meta
    def cached_embeddings(self, model: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for chunk in _chunks(list(hashes), _CHUNK):
            q = ",".join("?" * len(chunk))
            for h, vec in self._conn.execute(
                f"SELECT hash, vec FROM emb_cache WHERE model=? AND hash IN ({q})",
                [model, *chunk]):
                out[h] = np.frombuffer(vec, dtype=np.float32)
        return out

    def cache_embeddings(self, model: str, items: dict[str, np.ndarray]) -> None:
        if not items:
            return
        with self.transaction(graph_write=False):
            self._conn.executemany(
                "INSERT OR REPLACE INTO emb_cache (model, hash, vec) VALUES (?,?,?)",
                [(model, h, _blob(v)) for h, v in items.items()])

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self._conn.execute("SELECT value FROM meta WHERE ns=? AND key=?",
                                 (self.namespace, key)).fetchone()
        return json.loads(row[0]) if row else default

    def set_meta(self, key: str, value: Any) -> None:
        with self.transaction():
            self._conn.execute("INSERT OR REPLACE INTO meta (ns, key, value) VALUES (?,?,?)",
                               (self.namespace, key, _dumps(value)))

    def meta_items(self) -> dict[str, Any]:
        rows = self._conn.execute("SELECT key, value FROM meta WHERE ns=? ORDER BY key",
                                  (self.namespace,)).fetchall()
        return {k: json.loads(v) for k, v in rows}

    def embedding_cache_items(self) -> Iterator[tuple[str, str, np.ndarray]]:
        for model, h, vec in self._conn.execute("SELECT model, hash, vec FROM emb_cache"):
            yield model, h, np.frombuffer(vec, dtype=np.float32)

    def generation(self) -> int:
        version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        return version * 1_000_003 + self._writes

    def close(self) -> None:
        self._conn.close()

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r}, namespace={self.namespace!r})"


def _accumulate_sql(base: str, table: str, accumulate: Sequence[str]) -> str:
    """SQL that adds the stored value of each accumulated prop to the incoming one, in place:
    no read-modify-write round trip."""
    expr = base
    for k in check_prop_names(accumulate):
        expr = (f"json_set({expr}, '$.{k}', COALESCE(json_extract({table}.props, '$.{k}'), 0)"
                f" + COALESCE(json_extract(excluded.props, '$.{k}'), 0))")
    return expr


def _sql_value(v: Any) -> Any:
    if isinstance(v, bool):
        return int(v)
    if hasattr(v, "value"):
        return v.value
    return v


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]
