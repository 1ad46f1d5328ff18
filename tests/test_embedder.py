"""Embedders: the local model, the content-hash cache, and the langchain-core adapter."""

from __future__ import annotations

import numpy as np
import pytest
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


class _NamedModel:
    """A langchain-core-style `Embeddings` that names its model: same class, other model,
    other vectors (as two OpenAIEmbeddings(model=...) would be)."""

    def __init__(self, model: str) -> None:
        self.model = model
        self._seed = sum(map(ord, model))

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        rng = np.random.default_rng(self._seed + sum(map(ord, text)))
        return rng.normal(size=8).tolist()


def test_two_embedders_of_one_class_never_share_cached_vectors(store):
    a, b = LangChainEmbedder(_NamedModel("model-a")), LangChainEmbedder(_NamedModel("model-b"))
    assert a.name != b.name and "model-a" in a.name and a.name.endswith(":8")
    va = CachedEmbedder(a, store).embed(["the same text"])[0]
    cached_b = CachedEmbedder(b, store)
    vb = cached_b.embed(["the same text"])[0]
    assert cached_b.embedded == 1  # b computed its own vector instead of reading a's
    want = np.asarray(_NamedModel("model-b").embed_query("the same text"))
    assert np.allclose(vb, want / np.linalg.norm(want), atol=1e-6)
    assert not np.allclose(va, vb)
    sizes = {LangChainEmbedder(DeterministicFakeEmbedding(size=n)).name for n in (16, 32)}
    assert len(sizes) == 2


def test_a_store_refuses_an_embedder_of_another_dimension(tmp_path):
    from expgraph.embedder import EmbeddingMismatchError

    g = ExperienceGraph(tmp_path / "dim.db", embedder=DeterministicFakeEmbedding(size=16),
                        auto_distill=False)
    g.ingest(Episode(task="t", steps=[{"observation": "o", "action": {"name": "a"}}]))
    g.close()
    g = ExperienceGraph(tmp_path / "dim.db", embedder=DeterministicFakeEmbedding(size=32),
                        auto_distill=False)
    try:
        with pytest.raises(EmbeddingMismatchError, match=r"holds 16-d .* gives 32-d"):
            g.query("o")
    finally:
        g.close()
    # The same dimension opens fine.
    with ExperienceGraph(tmp_path / "dim.db", embedder=DeterministicFakeEmbedding(size=16),
                         auto_distill=False) as ok:
        assert ok.embedder.dim == 16


def test_a_store_without_the_record_is_checked_against_a_stored_vector(tmp_path):
    from expgraph.embedder import EMBEDDING_META, EmbeddingMismatchError

    g = ExperienceGraph(tmp_path / "old.db", embedder=DeterministicFakeEmbedding(size=16),
                        auto_distill=False)
    g.ingest(Episode(task="t", steps=[{"observation": "o", "action": {"name": "a"}}]))
    g.store.set_meta(EMBEDDING_META, None)  # as a store written before the record existed
    g.close()
    with ExperienceGraph(tmp_path / "old.db", embedder=DeterministicFakeEmbedding(size=24),
                         auto_distill=False) as g:
        with pytest.raises(EmbeddingMismatchError, match=r"holds 16-d"):
            g.embedder  # noqa: B018


def test_onnx_backend_gives_the_pytorch_vectors_and_int8_stays_close(model, tmp_path,
                                                                    monkeypatch):
    from expgraph.embedder_onnx import OnnxEmbedder

    monkeypatch.setenv("EXPGRAPH_ONNX_DIR", str(tmp_path))  # exported here, once
    texts = ["click the buy now button", "Observation: Nothing happens.",
             "user: I want to return order #W2378156, the keyboard arrived broken. " * 3,
             "You are in the middle of a room. Looking quickly around you, you see a desk 1."]
    ref = model.embed(texts)
    fp32 = OnnxEmbedder(threads=1)
    assert fp32.name == model.name  # the same vectors: the same cache key
    got = fp32.embed(texts)
    assert got.shape == (4, 384) and np.min(np.sum(got * ref, axis=1)) > 0.9999
    assert np.allclose(fp32.embed(texts[::-1])[::-1], got, atol=1e-5)  # order kept
    int8 = OnnxEmbedder(int8=True, threads=1)
    assert int8.name == model.name and (tmp_path / "all-MiniLM-L6-v2").is_dir()
    cos = np.sum(int8.embed(texts) * ref, axis=1)
    assert cos.mean() >= 0.98 and cos.min() > 0.95  # bench/embed_backends.py: 0.99 on 1,000


def test_texts_are_batched_by_similar_length():
    from expgraph.embedder import length_batches

    # a short message beside a long window: two batches, not one padded to 256 tokens
    got = length_batches([11, 256, 10, 250, 12], batch_size=64)
    assert [b.tolist() for b in got] == [[2, 0, 4], [3, 1]]
    # equal lengths fill batches up to batch_size
    assert [b.tolist() for b in length_batches([5] * 5, batch_size=2)] == [[0, 1], [2, 3], [4]]
    # within 1.25x padding one batch: 4 texts padded to 12 = 48 <= 1.25 * (10 + 10 + 11 + 12)
    assert [b.tolist() for b in length_batches([10, 12, 10, 11], batch_size=64)] == [[0, 2, 3, 1]]
    assert length_batches([], batch_size=8) == []
