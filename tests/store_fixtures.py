"""Store fixtures shared by every test module that runs on all backends.

`backend_store` is parametrised: "sqlite" (always), "bolt-compat-arcadedb" (BOLT_COMPAT_URI /
BOLT_COMPAT_USER / BOLT_COMPAT_PASSWORD, or a local ArcadeDB started once per session) and
"neo4j" (NEO4J_URI, skipped otherwise). Each store gets a fresh namespace, so tests on one
server never see each other's data. Import these names in tests/conftest.py to share them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import bolt_server
import pytest

from expgraph.models import Label, Rel
from expgraph.store.base import GraphStore

BACKENDS = ("sqlite", "bolt-compat-arcadedb", "neo4j")
NEO4J_SKIP = "NEO4J_URI not set: real Neo4j tests skipped"


@dataclass(frozen=True)
class BoltTarget:
    uri: str
    user: str
    password: str
    label: str  # how results are reported: "Bolt-compatible (ArcadeDB)" or "Neo4j"


@pytest.fixture(scope="session")
def bolt_compat_server() -> Iterator[BoltTarget]:
    """A Bolt-compatible ArcadeDB: the one at BOLT_COMPAT_URI, else one started for the session."""
    label = "Bolt-compatible (ArcadeDB)"
    if os.environ.get("BOLT_COMPAT_URI"):
        yield BoltTarget(os.environ["BOLT_COMPAT_URI"], os.environ.get("BOLT_COMPAT_USER", "root"),
                         os.environ.get("BOLT_COMPAT_PASSWORD", ""), label)
        return
    if not bolt_server.arcadedb_available():
        pytest.skip("arcadedb-embedded not importable and BOLT_COMPAT_URI not set: "
                    "Bolt-compatible tests skipped")
    with bolt_server.running_server() as srv:
        old = os.environ.get("ARCADEDB_HTTP_URL")
        os.environ["ARCADEDB_HTTP_URL"] = srv.http_url
        try:
            yield BoltTarget(srv.uri, srv.user, srv.password, label)
        finally:
            if old is None:
                os.environ.pop("ARCADEDB_HTTP_URL", None)
            else:
                os.environ["ARCADEDB_HTTP_URL"] = old


@pytest.fixture(scope="session")
def neo4j_target() -> BoltTarget:
    if not os.environ.get("NEO4J_URI"):
        pytest.skip(NEO4J_SKIP)
    return BoltTarget(os.environ["NEO4J_URI"], os.environ.get("NEO4J_USER", "neo4j"),
                      os.environ.get("NEO4J_PASSWORD", ""), "Neo4j")


StoreFactory = Callable[..., GraphStore]


@pytest.fixture(params=BACKENDS)
def store_factory(request: pytest.FixtureRequest, tmp_path) -> Iterator[StoreFactory]:
    """`factory(namespace=None)` opens a store of this backend; a fresh namespace by default.

    Every store it opened is emptied (Bolt) and closed after the test.
    """
    backend = request.param
    opened: list[GraphStore] = []
    target = None
    if backend == "bolt-compat-arcadedb":
        target = request.getfixturevalue("bolt_compat_server")
    elif backend == "neo4j":
        target = request.getfixturevalue("neo4j_target")

    def factory(namespace: str | None = None) -> GraphStore:
        ns = namespace or f"t-{uuid.uuid4().hex[:12]}"
        if target is None:
            from expgraph.store import SQLiteStore

            store: GraphStore = SQLiteStore(tmp_path / "conformance.db", namespace=ns)
        else:
            from expgraph.store.neo4j import Neo4jStore

            store = Neo4jStore.connect(target.uri, namespace=ns, user=target.user,
                                       password=target.password)
        opened.append(store)
        return store

    factory.backend = backend  # type: ignore[attr-defined]
    factory.target = target  # type: ignore[attr-defined]
    yield factory
    for store in opened:
        if target is not None:
            try:
                store.clear_derived(list(Label), list(Rel))
            except Exception:  # noqa: BLE001 - cleanup must not hide the test's own result
                pass
        store.close()


@pytest.fixture
def backend_store(store_factory: StoreFactory) -> GraphStore:
    """A fresh, empty store (own namespace) on each backend."""
    return store_factory()
