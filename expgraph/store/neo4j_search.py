"""Vector and full-text search for the Bolt store, pushed down to the server's indexes.

The indexes are shared by every namespace, so results are over-fetched from the index and
filtered by namespace (and `where`) in Cypher, fetching more until k survive or the index is
exhausted. Without an index an exact scan runs in Cypher instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from expgraph.models import Label, NodeRecord
from expgraph.store.dialect import NODE_LABEL
from expgraph.store.neo4j_rows import node_columns, to_node, where_clause

if TYPE_CHECKING:
    from expgraph.store.neo4j import Neo4jStore


def _unit(vector: np.ndarray) -> list[float]:
    v = np.asarray(vector, dtype=np.float32).ravel()
    v = v / (np.linalg.norm(v) or 1.0)
    return v.astype(np.float64).tolist()


def vector_top_k(store: Neo4jStore, label: Label, vector: np.ndarray, k: int,
                 where: dict[str, Any] | None) -> list[tuple[NodeRecord, float]]:
    if k <= 0:
        return []
    vec = _unit(vector)
    cond, params = where_clause(where, var="node")
    indexed = (store.capabilities.get(f"vector:{label.value}")
               and len(vec) == store.capabilities.get("vector_dims"))
    if not indexed:
        return _exact(store, label, vec, k, where)
    # Index score for cosine is (1 + cos) / 2 on Neo4j and ArcadeDB alike.
    q = (f"CALL db.index.vector.queryNodes($index, $fetch, $vec) YIELD node, score "
         f"WHERE node.namespace = $ns{cond} "
         f"RETURN {node_columns('node')}, 2.0 * score - 1.0 AS sim "
         f"ORDER BY sim DESC, node._ord LIMIT $k")
    fetch, total = max(4 * k, k + 50), None
    while True:
        rows = store._read(q, index=store.dialect.vector_index(label), fetch=fetch, vec=vec,
                           ns=store.namespace, k=k, **params)
        if len(rows) >= k:
            break
        if total is None:
            total = store._read(f"MATCH (n:{label.value}) WHERE n.embedding IS NOT NULL "
                                f"RETURN count(n) AS c")[0]["c"]
        if fetch >= total:
            break
        fetch = min(fetch * 4, total)
    return [(to_node(r, store.namespace), float(r["sim"])) for r in rows]


def _exact(store: Neo4jStore, label: Label, vec: list[float], k: int,
           where: dict[str, Any] | None) -> list[tuple[NodeRecord, float]]:
    cond, params = where_clause(where)
    sim = store.dialect.cosine("n.embedding", "$vec")
    rows = store._read(
        f"MATCH (n:{NODE_LABEL}:{label.value}) WHERE n.namespace = $ns "
        f"AND n.embedding IS NOT NULL AND size(n.embedding) = size($vec){cond} "
        f"WITH n, {sim} AS sim RETURN {node_columns('n')}, sim "
        f"ORDER BY sim DESC, n._ord LIMIT $k", ns=store.namespace, vec=vec, k=k, **params)
    return [(to_node(r, store.namespace), float(r["sim"])) for r in rows]


def _terms(query: str) -> list[str]:
    return [t for t in "".join(c if c.isalnum() else " " for c in query).split() if t]


def text_search(store: Neo4jStore, query: str, label: Label | None,
                k: int) -> list[tuple[NodeRecord, float]]:
    terms = _terms(query)
    if not terms or k <= 0:
        return []
    params: dict[str, Any] = {"ns": store.namespace, "k": int(k)}
    lcond = ""
    if label is not None:
        lcond = " AND $label IN labels(node)"
        params["label"] = Label(label).value
    if store.capabilities.get("fulltext"):
        q = (f"CALL db.index.fulltext.queryNodes($index, $q) YIELD node, score "
             f"WHERE node.namespace = $ns{lcond} "
             f"RETURN {node_columns('node')}, score ORDER BY score DESC, node._ord LIMIT $k")
        rows = store._read(q, index=store.dialect.text_index(),
                           q=" OR ".join(f'"{t}"' for t in terms), **params)
    else:  # no full-text index: count matching terms
        q = (f"MATCH (node:{NODE_LABEL}) WHERE node.namespace = $ns{lcond} "
             f"WITH node, size([t IN $terms WHERE toLower(node.text) CONTAINS t]) AS score "
             f"WHERE score > 0 RETURN {node_columns('node')}, toFloat(score) AS score "
             f"ORDER BY score DESC, node._ord LIMIT $k")
        rows = store._read(q, terms=[t.lower() for t in terms], **params)
    return [(to_node(r, store.namespace), float(r["score"])) for r in rows]
