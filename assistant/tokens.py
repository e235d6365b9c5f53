"""Token counting with tiktoken, from encoding files on disk (never downloaded).

tiktoken caches encodings by the sha1 of their URL in `TIKTOKEN_CACHE_DIR`. LiteLLM's wheel ships
that cache (cl100k_base, o200k_base, p50k_base) in `litellm_core_utils/tokenizers`; we point
tiktoken there (found without importing litellm) unless the operator set a directory. Counts are
estimates for budgets and context windows, not billing: billing uses the provider's usage.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import tiktoken

ENCODING = "cl100k_base"
#: Per-message framing tokens in the chat format (role, separators), as OpenAI documents.
MESSAGE_OVERHEAD = 4


def bundled_cache_dir() -> Path | None:
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "litellm_core_utils" / "tokenizers"
    return path if path.is_dir() else None


@lru_cache(maxsize=1)
def encoding() -> tiktoken.Encoding:
    if "TIKTOKEN_CACHE_DIR" not in os.environ:
        cache = bundled_cache_dir()
        if cache is None:
            raise RuntimeError("no local tiktoken encodings: set TIKTOKEN_CACHE_DIR")
        os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
    return tiktoken.get_encoding(ENCODING)


def count_text(text: str) -> int:
    return len(encoding().encode(text, disallowed_special=())) if text else 0


def count_message(message: Mapping[str, Any]) -> int:
    """Tokens of one chat message: content, tool calls and framing."""
    total = MESSAGE_OVERHEAD + count_text(str(message.get("content") or ""))
    if message.get("tool_calls"):
        total += count_text(json.dumps(message["tool_calls"], separators=(",", ":")))
    return total


def count_tools(schemas: Iterable[Mapping[str, Any]]) -> int:
    return sum(count_text(json.dumps(s, separators=(",", ":"))) for s in schemas)
