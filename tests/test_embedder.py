"""Embedders: the local model, the content-hash cache, and the langchain-core adapter."""

from __future__ import annotations

import numpy as np
from langchain_core.embeddings import DeterministicFakeEmbedding

from expgraph.embedder import CachedEmbedder, LangChainEmbedder
from expgraph.graph import ExperienceGraph
from expgraph.models import Episode, Label


def test_default_model_gives_unit_384d_vectors_that_mean_something(model):
    v = model.embed(["click the buy now button", "press the purchase button",
                     "the capital of France is Paris"])
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2


def test_batch_order_is_kept_whatever_the_lengths(model):
    texts = ["a much longer sentence about shopping for a red coffee mug online", "short", "mid size text"]
    batch = model.embed(texts)
    for t, row in zip(texts, batch, strict=True):
        assert np.allclose(model.embed([t])[0], row, atol=1e-5)


def test_cache_embeds_each_distinct_text_once(store, model):
    emb = CachedEmbedder(model, store)
    out = emb.embed(["x", "y", "x", "x"])
    assert emb.embedded == 2 and np.allclose(out[0], out[2])
    emb.embed(["y", "z"])
    assert emb.embedded == 3


def test_any_langchain_embeddings_can_be_brought(tmp_path):
    lc = DeterministicFakeEmbedding(size=16)
    g = ExperienceGraph(tmp_path / "lc.db", embedder=lc, auto_distill=False)
    assert isinstance(g.embedder.inner, LangChainEmbedder) and g.embedder.dim == 16
    g.ingest(Episode(task="t", steps=[{"observation": "o", "action": {"name": "a"}}]))
    states = g.store.find_nodes(Label.STATE, with_embedding=True)
    assert states and len(states[0].embedding) == 16
    assert abs(np.linalg.norm(states[0].embedding) - 1) < 1e-5
    g.close()
