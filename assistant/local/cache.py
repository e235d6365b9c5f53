"""Embeddings of the offline model's training utterances, computed once per text.

Embedding a few thousand utterances takes the local model tens of seconds; they change only
when the phrases or the embedding model do. So each text's vector is kept in memory for the
process and on disk (`NEPTUNE_CACHE_DIR`, default the user cache directory) in one file per
set of texts, named by a hash of the embedder and the texts. A missing, unreadable or
mismatched file is simply recomputed: the cache can always be deleted.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import platformdirs

log = logging.getLogger(__name__)
Embed = Callable[[list[str]], Any]
_memory: dict[str, np.ndarray] = {}


def cache_dir() -> Path:
    configured = os.environ.get("NEPTUNE_CACHE_DIR")
    return Path(configured) if configured else Path(platformdirs.user_cache_dir("neptune"))


def embed_cached(embed: Embed, texts: Sequence[str]) -> np.ndarray:
    """`embed(texts)` as a float32 matrix, from memory or disk when this exact set was
    embedded before by the same embedder."""
    key = _key(embed, texts)
    if key in _memory:
        return _memory[key]
    path = cache_dir() / f"utterances-{key}.npy"
    vectors = _read(path, len(texts))
    if vectors is None:
        vectors = np.asarray(embed(list(texts)), dtype=np.float32)
        _write(path, vectors)
    _memory[key] = vectors
    return vectors


def _key(embed: Embed, texts: Sequence[str]) -> str:
    owner = getattr(embed, "__self__", None)
    name = getattr(owner, "name", None) or getattr(embed, "__qualname__", "embed")
    digest = hashlib.sha256(str(name).encode())
    for text in texts:
        digest.update(text.encode("utf-8") + b"\0")
    return digest.hexdigest()[:32]


def _read(path: Path, rows: int) -> np.ndarray | None:
    try:
        vectors = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    if vectors.ndim != 2 or vectors.shape[0] != rows:
        return None
    return np.asarray(vectors, dtype=np.float32)


def _write(path: Path, vectors: np.ndarray) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        with partial.open("wb") as handle:
            np.save(handle, vectors, allow_pickle=False)
        partial.replace(path)
    except OSError as error:  # a read-only home still works, only slower to warm
        log.warning("could not cache utterance embeddings in %s: %s", path.parent, error)
