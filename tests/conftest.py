"""Shared fixtures: the real embedding model (loaded once), the shared real-agent data,
fresh SQLite stores."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def model():
    """The real all-MiniLM-L6-v2, loaded once per test session."""
    from expgraph.embedder import default_embedder

    return default_embedder()


@pytest.fixture(scope="session")
def embedder(model):
    """The real model behind an in-memory content-hash cache (not tied to one store)."""
    from expgraph.embedder import CachedEmbedder

    return CachedEmbedder(model)


@pytest.fixture
def store(tmp_path):
    from expgraph.store import SQLiteStore

    s = SQLiteStore(tmp_path / "test.db")
    yield s
    s.close()


@pytest.fixture
def graph(tmp_path, model):
    from expgraph.graph import ExperienceGraph

    g = ExperienceGraph(tmp_path / "graph.db", embedder=model)
    yield g
    g.close()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real agent data not found at {SHARED_DATA} (../shared/data beside the repo)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def examples_file() -> Path:
    return REPO / "examples" / "episodes.jsonl"


# Backend fixtures (embedded store, Bolt-compatible server, real Neo4j) for the conformance
# suite and any test that runs on every backend.
from store_fixtures import (  # noqa: E402,F401
    backend_store,
    bolt_compat_server,
    neo4j_target,
    store_factory,
)
