"""Vector and full-text search for the Bolt store, pushed down to the server's indexes.

The indexes are shared by every namespace, so results are over-fetched from the index and
filtered by namespace (and `where`) in Cypher, fetching more until k survive or the index is
exhausted. Without an index an exact scan runs in Cypher instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from expgraph.models import Label, NodeRecord
from expgraph.store import neo4j_cypher as cy
from expgraph.store.dialect import Dialect
from expgraph.store.neo4j_rows import to_node, where_args


@dataclass(frozen=True)
class SearchReader:
    """What search needs of the Bolt store, and nothing more: a read (routed as a read,
    inside the open transaction block when there is one), the namespace, what the server's
    indexes can do and the dialect that names them."""

    read: Callable[..., list[dict[str, Any]]]
    namespace: str
    capabilities: Mapping[str, Any]
    dialect: Dialect


def _unit(vector: np.ndarray) -> list[float]:
    v = np.asarray(vector, dtype=np.float32).ravel()
    v = v / (np.linalg.norm(v) or 1.0)
    return v.astype(np.float64).tolist()


def vector_top_k(store: SearchReader, label: Label, vector: np.ndarray, k: int,
                 where: dict[str, Any] | None) -> list[tuple[NodeRecord, float]]:
    if k <= 0:
        return []
    vec = _unit(vector)
    keys, params = where_args(where)
    indexed = (store.capabilities.get(f"vector:{label.value}")
               and len(vec) == store.capabilities.get("vector_dims"))
    if not indexed:
        return _exact(store, label, vec, k, where)
    q = cy.vector_query(keys)
    fetch, total = max(4 * k, k + 50), None
    while True:
        rows = store.read(q, index=store.dialect.vector_index(label), fetch=fetch, vec=vec,
                          ns=store.namespace, k=k, **params)
        if len(rows) >= k:
            break
        if total is None:
            total = store.read(cy.vector_count(label.value))[0]["c"]
        if fetch >= total:
            break
        fetch = min(fetch * 4, total)
    return [(to_node(r, store.namespace), float(r["sim"])) for r in rows]


def _exact(store: SearchReader, label: Label, vec: list[float], k: int,
           where: dict[str, Any] | None) -> list[tuple[NodeRecord, float]]:
    keys, params = where_args(where)
    q = cy.vector_exact(label.value, keys, store.dialect.cosine("n.embedding", "$vec"))
    rows = store.read(q, ns=store.namespace, vec=vec, k=k, **params)
    return [(to_node(r, store.namespace), float(r["sim"])) for r in rows]


def _terms(query: str) -> list[str]:
    return [t for t in "".join(c if c.isalnum() else " " for c in query).split() if t]


def text_search(store: SearchReader, query: str, label: Label | None,
                k: int) -> list[tuple[NodeRecord, float]]:
    terms = _terms(query)
    if not terms or k <= 0:
        return []
    params: dict[str, Any] = {"ns": store.namespace, "k": int(k)}
    if label is not None:
        params["label"] = Label(label).value
    if store.capabilities.get("fulltext"):
        rows = store.read(cy.text_fulltext(label is not None), index=store.dialect.text_index(),
                           q=" OR ".join(f'"{t}"' for t in terms), **params)
    else:  # no full-text index: count matching terms
        rows = store.read(cy.text_scan(label is not None), terms=[t.lower() for t in terms],
                           **params)
    return [(to_node(r, store.namespace), float(r["score"])) for r in rows]
