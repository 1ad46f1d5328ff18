"""Stores: the `GraphStore` protocol and its backends, chosen by `open_store`."""

from __future__ import annotations

import os

from expgraph.store.base import GraphStore, StoreError, to_networkx
from expgraph.store.sqlite import SQLiteStore

DEFAULT_DB = "expgraph.db"
BOLT_SCHEMES = ("bolt://", "bolt+s://", "bolt+ssc://", "neo4j://", "neo4j+s://", "neo4j+ssc://")


def is_bolt_uri(target: str) -> bool:
    return target.startswith(BOLT_SCHEMES)


def open_store(target: str | None = None, namespace: str = "default") -> GraphStore:
    """Open a store: a file path (embedded SQLite) or a `bolt://` / `neo4j://` URI.

    Without a target: `EXPGRAPH_DB`, else `NEO4J_URI`, else `./expgraph.db`.
    """
    target = target or os.environ.get("EXPGRAPH_DB") or os.environ.get("NEO4J_URI") or DEFAULT_DB
    if is_bolt_uri(target):
        from expgraph.store.neo4j import Neo4jStore

        return Neo4jStore.connect(target, namespace=namespace)
    return SQLiteStore(target, namespace=namespace)


__all__ = ["GraphStore", "SQLiteStore", "StoreError", "open_store", "to_networkx", "is_bolt_uri"]
