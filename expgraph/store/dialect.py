"""Where Bolt servers differ: index DDL, index names and the cosine function.

Neo4j creates vector and full-text indexes in Cypher. ArcadeDB speaks Bolt 5 and most of
Cypher but refuses that DDL, so its variant creates the same two index kinds in ArcadeDB SQL
through its HTTP command API (Bolt only runs Cypher there); after that the Neo4j procedures
`db.index.vector.queryNodes` / `db.index.fulltext.queryNodes` work on it unchanged.
Everything else (MERGE, UNWIND, explicit transactions) is shared Cypher.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlparse

from expgraph.models import EMBEDDED_LABELS, Label

log = logging.getLogger(__name__)

NODE_LABEL = "ExpNode"  # second label on every domain node: one uid constraint, label-less lookups
META_LABEL = "_Meta"
CACHE_LABEL = "_EmbeddingCache"
GEN_LABEL = "_Gen"

# Range indexes for the find_nodes filters that retrieval and refinement use most.
HOT_INDEXES: tuple[tuple[Label, tuple[str, ...]], ...] = (
    (Label.SKILL, ("namespace", "tier")),
    (Label.SKILL, ("namespace", "status")),
    (Label.GUARDRAIL, ("namespace", "status")),
    (Label.EPISODE, ("namespace", "seq")),
    (Label.FAILURE, ("namespace", "error_class")),
)

MIN_NEO4J = (5, 18)  # CREATE VECTOR INDEX + vector.similarity.cosine
AWAIT_INDEXES = "CALL db.awaitIndexes(300)"


def common_schema() -> list[str]:
    """Constraints and range indexes every Bolt server here accepts (IF NOT EXISTS)."""
    stmts = [
        f"CREATE CONSTRAINT expgraph_{lbl.strip('_').lower()}_uid IF NOT EXISTS "
        f"FOR (n:{lbl}) REQUIRE n.uid IS UNIQUE"
        for lbl in (NODE_LABEL, META_LABEL, CACHE_LABEL, GEN_LABEL)
    ]
    stmts.append(f"CREATE INDEX expgraph_node_ns IF NOT EXISTS FOR (n:{NODE_LABEL}) "
                 f"ON (n.namespace)")
    for label, props in HOT_INDEXES:
        name = f"expgraph_{label.value.lower()}_{'_'.join(props)}"
        cols = ", ".join(f"n.{p}" for p in props)
        stmts.append(f"CREATE INDEX {name} IF NOT EXISTS FOR (n:{label.value}) ON ({cols})")
    return stmts


@dataclass
class Dialect:
    """Neo4j: indexes in Cypher, normalised cosine ((1 + cos) / 2) from the function."""

    name: str = "neo4j"
    display: str = "Neo4j"

    def vector_index(self, label: Label) -> str:
        return f"expgraph_vec_{label.value.lower()}"

    def text_index(self) -> str:
        return "expgraph_text"

    def cosine(self, a: str, b: str) -> str:
        """A Cypher expression for the raw cosine of two vectors."""
        return f"(2.0 * vector.similarity.cosine({a}, {b}) - 1.0)"

    def vector_index_ddl(self, label: Label, dims: int) -> str:
        return (f"CREATE VECTOR INDEX {self.vector_index(label)} IF NOT EXISTS "
                f"FOR (n:{label.value}) ON n.embedding OPTIONS {{indexConfig: "
                f"{{`vector.dimensions`: {int(dims)}, "
                f"`vector.similarity_function`: 'cosine'}}}}")

    def text_index_ddl(self) -> str:
        return (f"CREATE FULLTEXT INDEX {self.text_index()} IF NOT EXISTS "
                f"FOR (n:{NODE_LABEL}) ON EACH [n.text] "
                f"OPTIONS {{indexConfig: {{`fulltext.analyzer`: 'english'}}}}")

    def search_index_ddl(self, dims: int) -> list[tuple[str, str]]:
        """(what, Cypher) for each search index, then the wait for them to come online."""
        out = [(f"vector index on {label.value}", self.vector_index_ddl(label, dims))
               for label in EMBEDDED_LABELS]
        return [*out, ("full-text index", self.text_index_ddl()),
                ("awaiting indexes", AWAIT_INDEXES)]

    def create_search_indexes(self, run: Callable[[str], None], dims: int) -> list[str]:
        """Create the vector and full-text indexes; returns the problems met (empty if none)."""
        problems = []
        for what, stmt in self.search_index_ddl(dims):
            try:
                run(stmt)
            except Exception as exc:  # noqa: BLE001 - reported, then the scan fallback is used
                problems.append(f"{what}: {_short(exc)}")
        return problems


@dataclass
class ArcadeDialect(Dialect):
    """ArcadeDB (Bolt-compatible): the two index kinds in SQL over its HTTP API; raw cosine."""

    name: str = "arcadedb"
    display: str = "Bolt-compatible (ArcadeDB)"
    http_url: str = ""
    database: str = ""
    user: str = ""
    password: str = ""

    def vector_index(self, label: Label) -> str:
        return f"{label.value}[embedding]"

    def text_index(self) -> str:
        return f"{NODE_LABEL}[text]"

    def cosine(self, a: str, b: str) -> str:
        return f"vector.similarity.cosine({a}, {b})"

    def sql(self, command: str) -> None:
        """Run one ArcadeDB SQL command through `POST /api/v1/command/{db}`."""
        body = json.dumps({"language": "sql", "command": command}).encode()
        req = urllib.request.Request(
            f"{self.http_url.rstrip('/')}/api/v1/command/{self.database}", data=body,
            headers={"Content-Type": "application/json",
                     "Authorization": "Basic " + base64.b64encode(
                         f"{self.user}:{self.password}".encode()).decode()})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310 - http(s) only
                resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            try:
                detail = json.loads(detail).get("detail") or detail
            except ValueError:
                pass
            raise RuntimeError(f"HTTP {exc.code}: {str(detail)[:200]}") from exc

    def search_index_sql(self, dims: int) -> list[str]:
        """The same two index kinds in ArcadeDB SQL (not Cypher: sent over HTTP)."""
        stmts = [f"CREATE VERTEX TYPE {NODE_LABEL} IF NOT EXISTS",
                 f"CREATE PROPERTY {NODE_LABEL}.text IF NOT EXISTS STRING",
                 f"CREATE INDEX IF NOT EXISTS ON {NODE_LABEL} (text) FULL_TEXT"]
        for label in EMBEDDED_LABELS:
            stmts += [f"CREATE VERTEX TYPE {label.value} IF NOT EXISTS",
                      f"CREATE PROPERTY {label.value}.embedding IF NOT EXISTS ARRAY_OF_FLOATS",
                      f"CREATE INDEX IF NOT EXISTS ON {label.value} (embedding) LSM_VECTOR "
                      f"METADATA {{dimensions: {int(dims)}, similarity: 'COSINE'}}"]
        return stmts

    def create_search_indexes(self, run: Callable[[str], None], dims: int) -> list[str]:
        if not self.http_url.startswith(("http://", "https://")):
            return [f"ARCADEDB_HTTP_URL {self.http_url!r} is not an http(s) URL"]
        stmts = self.search_index_sql(dims)
        for stmt in stmts:
            try:
                self.sql(stmt)
            except (OSError, RuntimeError) as exc:
                return [f"ArcadeDB SQL at {self.http_url} failed ({_short(exc)}): {stmt}"]
        return []


def dialect_for(agent: str, uri: str, user: str, password: str,
                database: str | None) -> Dialect:
    """Pick the dialect from the server agent string (`driver.get_server_info().agent`)."""
    if "arcadedb" in agent.lower():
        host = urlparse(uri).hostname or "localhost"
        http = os.environ.get("ARCADEDB_HTTP_URL") or f"http://{host}:2480"
        return ArcadeDialect(http_url=http, database=database or "neo4j", user=user,
                             password=password)
    return Dialect()


def neo4j_version(agent: str) -> tuple[int, int] | None:
    """(major, minor) from an agent like 'Neo4j/5.26.0' or 'Neo4j/2025.01.0'."""
    m = re.match(r"Neo4j/(\d+)\.(\d+)", agent)
    return (int(m.group(1)), int(m.group(2))) if m else None


def too_old(agent: str) -> bool:
    """True for a Neo4j older than vector indexes; unknown agents are given the benefit."""
    if "arcadedb" in agent.lower():
        return False
    version = neo4j_version(agent)
    return version is not None and version < MIN_NEO4J


def _short(exc: BaseException) -> str:
    msg = getattr(exc, "message", None) or str(exc)
    return " ".join(str(msg).split())[:200]


def labels_pattern(labels: Sequence[str]) -> str:
    """`:A|B|C` for a relationship pattern from the fixed vocabulary (never user text)."""
    return ":" + "|".join(labels) if labels else ""
