"""Opening a Bolt store: every check before any write, each failure one line saying what to check.

Order: reachable -> credentials -> database -> server capabilities -> schema (idempotent DDL).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from expgraph.models import EMBEDDED_LABELS
from expgraph.store import neo4j_cypher as cy
from expgraph.store.base import StoreError
from expgraph.store.dialect import Dialect, _short, common_schema, dialect_for, too_old

log = logging.getLogger(__name__)
_SCHEMA_DONE: dict[tuple[str, str | None, int], dict[str, bool]] = {}  # per process
DEFAULT_PORT = 7687
# scheme -> (routing, encryption): neo4j:// asks the server for a routing table (clusters,
# Aura); +s verifies the certificate against the system CAs, +ssc accepts a self-signed one.
SCHEMES = {"bolt": (False, ""), "bolt+s": (False, "verified"), "bolt+ssc": (False, "self-signed"),
           "neo4j": (True, ""), "neo4j+s": (True, "verified"),
           "neo4j+ssc": (True, "self-signed")}
URI_HELP = ("use bolt://host:7687 (one server), neo4j://host:7687 (a cluster) or "
            "neo4j+s://<id>.databases.neo4j.io (Aura)")


@dataclass(frozen=True)
class BoltURI:
    scheme: str
    host: str
    port: int
    routing: bool  # the driver routes reads to followers and writes to the leader
    encryption: str  # "" (none), "verified" or "self-signed"


def parse_uri(uri: str) -> BoltURI:
    """Check a Bolt URI before the driver sees it; the error says what a valid one looks like."""
    try:
        parts = urlparse(uri)
        port = parts.port
    except ValueError as exc:
        raise StoreError(f"bad Bolt URI {uri!r} ({exc}): {URI_HELP}") from exc
    if parts.scheme not in SCHEMES:
        raise StoreError(f"bad Bolt URI {uri!r}: unknown scheme {parts.scheme!r}; {URI_HELP}")
    if not parts.hostname:
        raise StoreError(f"bad Bolt URI {uri!r}: no host; {URI_HELP}")
    if parts.path not in ("", "/"):
        raise StoreError(f"bad Bolt URI {uri!r}: a database is chosen with NEO4J_DATABASE (or "
                         f"database=), not in the URI path")
    routing, encryption = SCHEMES[parts.scheme]
    return BoltURI(parts.scheme, parts.hostname, port or DEFAULT_PORT, routing, encryption)


def open_driver(uri: str, user: str, password: str, database: str | None,
                dims: int) -> tuple[Any, Dialect, dict[str, bool]]:
    """A checked driver, its dialect and the capabilities found (vector/full-text indexes)."""
    parse_uri(uri)
    try:
        import neo4j
        from neo4j import exceptions as nx
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise StoreError("the `neo4j` Python driver is not installed: pip install neo4j") from exc
    try:
        driver = neo4j.GraphDatabase.driver(uri, auth=(user, password),
                                            connection_timeout=10, max_transaction_retry_time=30)
    except (nx.ConfigurationError, ValueError) as exc:
        raise StoreError(f"bad Bolt URI {uri!r} ({_short(exc)}): {URI_HELP}") from exc
    try:
        agent = _preflight(driver, neo4j, nx, uri, user, database)
        dialect = dialect_for(agent, uri, user, password, database)
        key = (uri, database, dims)
        caps = _SCHEMA_DONE.get(key) or _ensure_schema(driver, database, dialect, dims)
        _SCHEMA_DONE[key] = caps
    except BaseException:
        driver.close()
        raise
    log.info("connected to %s at %s (%s); capabilities %s", dialect.display, uri, agent, caps)
    return driver, dialect, caps


def _preflight(driver: Any, neo4j: Any, nx: Any, uri: str, user: str,
               database: str | None) -> str:
    try:
        driver.verify_connectivity()
    except nx.AuthError as exc:
        raise StoreError(f"authentication failed for user {user!r} at {uri}: check NEO4J_USER "
                         f"and NEO4J_PASSWORD") from exc
    except (nx.ServiceUnavailable, OSError) as exc:
        raise StoreError(f"cannot reach a Bolt server at {uri}: check the host and port and "
                         f"that the server is running ({_short(exc)})") from exc
    except nx.Neo4jError as exc:
        raise StoreError(f"Bolt server at {uri} refused the connection: {_short(exc)}") from exc
    agent = str(driver.get_server_info().agent)
    try:  # a read: on a cluster any member may answer
        with driver.session(database=database, default_access_mode=neo4j.READ_ACCESS) as s:
            s.execute_read(lambda tx: tx.run(cy.PING).consume())
    except nx.ClientError as exc:
        if "DatabaseNotFound" in str(exc.code) or "database" in str(exc.message).lower():
            raise StoreError(f"database {database!r} does not exist on {uri}: check "
                             f"NEO4J_DATABASE (or create the database)") from exc
        raise StoreError(f"Bolt server at {uri} rejected a test query: {_short(exc)}") from exc
    except nx.Neo4jError as exc:
        raise StoreError(f"database {database or '(default)'!r} on {uri} is not available: "
                         f"{_short(exc)}") from exc
    if too_old(agent):
        raise StoreError(f"{agent} at {uri} is too old: expgraph needs Neo4j 5.18 or newer "
                         f"(vector indexes); upgrade the server")
    return agent


def _ensure_schema(driver: Any, database: str | None, dialect: Dialect,
                   dims: int) -> dict[str, bool]:
    def run(stmt: str) -> None:  # schema commands go to the leader (a write session)
        with driver.session(database=database) as s:
            s.run(stmt).consume()

    for stmt in common_schema():
        try:
            run(stmt)
        except Exception as exc:  # noqa: BLE001 - the constraint is what keeps ids unique
            raise StoreError(f"could not create the schema on {dialect.display} "
                             f"({_short(exc)}): check the user may run schema commands") from exc
    for problem in dialect.create_search_indexes(run, dims):
        log.warning("%s: %s; falling back to exact scans", dialect.display, problem)
    return _probe(driver, database, dialect, dims)


def _probe(driver: Any, database: str | None, dialect: Dialect, dims: int) -> dict[str, bool]:
    """Which search indexes answer queries: the store uses them, else exact scans."""
    caps: dict[str, bool] = {}
    probe = [1.0] + [0.0] * (dims - 1)
    from neo4j import READ_ACCESS

    with driver.session(database=database, default_access_mode=READ_ACCESS) as s:
        for label in EMBEDDED_LABELS:
            try:
                s.run(cy.PROBE_VECTOR, i=dialect.vector_index(label), v=probe).consume()
                caps[f"vector:{label.value}"] = True
            except Exception:  # noqa: BLE001
                caps[f"vector:{label.value}"] = False
        try:
            s.run(cy.PROBE_FULLTEXT, i=dialect.text_index()).consume()
            caps["fulltext"] = True
        except Exception:  # noqa: BLE001
            caps["fulltext"] = False
    caps["vector_dims"] = dims  # type: ignore[assignment]
    return caps
