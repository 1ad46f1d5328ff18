"""The default model (all-MiniLM-L6-v2) run by onnxruntime instead of PyTorch.

Exported once from the same local weights with `torch.onnx` into a cache directory outside
the repository ($EXPGRAPH_ONNX_DIR, else ~/.cache/expgraph/onnx), optionally quantised to int8
(onnxruntime dynamic quantisation, per channel); tokenised by the model's own fast tokenizer,
mean-pooled and unit-normalised as sentence-transformers does. `bench/embed_backends.py`
measures its texts/s and its cosine to the PyTorch vectors. Needs the `onnx` extra
(`pip install -e ".[onnx]"`: onnxruntime, onnx).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from expgraph.embedder import DEFAULT_MODEL, MAX_CHARS, _local_model_path, length_batches

MAX_TOKENS = 256  # what sentence-transformers truncates this model to
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
EXPORT_VERSION = "v1"  # bump when the export or the quantisation changes


def onnx_dir() -> Path:
    root = os.environ.get("EXPGRAPH_ONNX_DIR") or Path.home() / ".cache" / "expgraph" / "onnx"
    return Path(root) / "all-MiniLM-L6-v2" / EXPORT_VERSION


def export(model_path: str, out: Path, int8: bool) -> Path:
    """The ONNX file for `model_path` (exported, and quantised, on first use)."""
    fp32 = out / "model.onnx"
    if not fp32.exists():
        import torch
        from transformers import AutoModel, AutoTokenizer

        out.mkdir(parents=True, exist_ok=True)
        tok = AutoTokenizer.from_pretrained(model_path)
        # eager attention exports as plain MatMuls, which int8 quantisation covers
        model = AutoModel.from_pretrained(model_path, attn_implementation="eager").eval()

        class Encoder(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, input_ids, attention_mask, token_type_ids):  # noqa: ANN001, ANN201
                return self.model(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state

        enc = tok(["an example", "a second, longer example sentence"], padding=True,
                  return_tensors="pt")
        tmp = fp32.with_suffix(".tmp")
        torch.onnx.export(Encoder(), tuple(enc[k] for k in INPUTS), str(tmp),
                          input_names=list(INPUTS), output_names=["last_hidden_state"],
                          dynamic_axes={k: {0: "batch", 1: "seq"}
                                        for k in (*INPUTS, "last_hidden_state")},
                          opset_version=17, dynamo=False)
        tmp.replace(fp32)  # a killed export leaves no half file behind
    if not int8:
        return fp32
    q8 = out / "model.int8.onnx"
    if not q8.exists():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        tmp = q8.with_suffix(".tmp")
        # per output channel, matrix products only: mean cosine 0.99 to fp32 (per tensor over
        # every op: 0.95)
        quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"])
        tmp.replace(q8)
    return q8


class OnnxEmbedder:
    """all-MiniLM-L6-v2 through onnxruntime on the CPU, under the PyTorch model's cache key:
    fp32 gives its vectors (cosine 1.0), int8 vectors within the issue's bar for "the same
    model" (mean cosine >= 0.99 to PyTorch's, bench/embed_backends.py), so a store built with
    one backend is served by another without re-embedding."""

    dim = 384
    name = DEFAULT_MODEL

    def __init__(self, int8: bool = False, batch_size: int = 64, threads: int | None = None,
                 model_path: str | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        path = model_path or _local_model_path()
        self.int8 = int8
        self.batch_size = batch_size
        self.file = export(path, onnx_dir(), int8)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or int(os.environ.get("OMP_NUM_THREADS", 0) or 0)
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(self.file), opts,
                                            providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(Path(path) / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.no_padding()  # padded per batch below, to that batch's longest

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        enc = self.tokenizer.encode_batch([t[:MAX_CHARS] for t in texts])
        out = np.empty((len(texts), self.dim), np.float32)
        for idx in length_batches([len(e.ids) for e in enc], self.batch_size):
            width = max(len(enc[i].ids) for i in idx)
            feed = {k: np.zeros((len(idx), width), np.int64) for k in INPUTS}  # [PAD] is 0
            for r, i in enumerate(idx.tolist()):
                e = enc[i]
                n = len(e.ids)
                feed["input_ids"][r, :n] = e.ids
                feed["attention_mask"][r, :n] = e.attention_mask
                feed["token_type_ids"][r, :n] = e.type_ids
            hidden = self.session.run(None, feed)[0]
            mask = feed["attention_mask"][:, :, None].astype(np.float32)
            pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
            out[idx] = pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12,
                                        None)
        return out
