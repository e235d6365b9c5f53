"""The local model (offline, real, loaded once, off the event loop) and the gateway seam."""

from __future__ import annotations

import asyncio
import math
import threading

import pytest

from tools.knowledge.embedder import (
    EMBEDDER_SERVICE,
    LOCAL_DIM,
    Embedder,
    GatewayEmbedder,
    LocalEmbedder,
    default_embedder,
    embedder_for,
    normalise,
)


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


async def test_local_model_gives_unit_vectors_that_capture_meaning(
    embedder: LocalEmbedder,
) -> None:
    texts = ["How do I get a refund for my annual plan?",
             "Annual subscriptions cancelled within 30 days are paid back in full.",
             "The warehouse scanner reads EAN-13 barcodes."]
    vectors = await embedder.embed(texts)
    assert [len(v) for v in vectors] == [LOCAL_DIM] * 3
    assert all(math.isclose(math.sqrt(cosine(v, v)), 1.0, abs_tol=1e-5) for v in vectors)
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2]) + 0.2
    assert await embedder.embed([]) == []


async def test_batches_and_order_do_not_change_a_text_vector(embedder: LocalEmbedder) -> None:
    texts = [f"note {i}: " + "word " * (i * 7 % 50) for i in range(40)]
    together = await embedder.embed(texts)
    alone = await embedder.embed([texts[17]])
    assert cosine(together[17], alone[0]) > 0.999
    small = LocalEmbedder(batch_size=3)
    small._model = embedder._loaded()  # same loaded model, smaller batches
    assert all(cosine(a, b) > 0.999
               for a, b in zip(await small.embed(texts[:10]), together[:10], strict=True))


async def test_the_model_runs_off_the_event_loop_and_loads_once(
    embedder: LocalEmbedder,
) -> None:
    seen: set[int] = set()
    inner = embedder._loaded()
    original = inner.encode

    def spy(texts: list[str]) -> object:
        seen.add(threading.get_ident())
        return original(texts)

    object.__setattr__(inner, "encode", spy)
    try:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.001)
                ticks += 1

        task = asyncio.create_task(ticker())
        await embedder.embed(["a fairly long sentence about refunds " * 20] * 64)
        task.cancel()
    finally:
        object.__delattr__(inner, "encode")
    assert seen and threading.get_ident() not in seen
    assert ticks > 5  # the loop kept running while the model worked
    assert default_embedder() is default_embedder() and embedder._loaded() is inner


async def test_gateway_embedder_batches_normalises_and_checks_shape() -> None:
    calls: list[tuple[str, list[str]]] = []

    async def embed_fn(model: str, texts: list[str]) -> list[list[float]]:
        calls.append((model, texts))
        return [[3.0, 4.0] for _ in texts]

    gateway = GatewayEmbedder("text-embedding-3-small", 2, embed_fn, batch_size=2)
    assert isinstance(gateway, Embedder) and gateway.name == "text-embedding-3-small"
    assert await gateway.embed(["a", "b", "c"]) == [[0.6, 0.8]] * 3
    assert calls == [("text-embedding-3-small", ["a", "b"]), ("text-embedding-3-small", ["c"])]

    async def wrong(model: str, texts: list[str]) -> list[list[float]]:
        return [[1.0, 0.0, 0.0]]

    with pytest.raises(ValueError, match="expected 2 dimensions"):
        await GatewayEmbedder("m", 2, wrong).embed(["a"])
    named = GatewayEmbedder("m", 2, embed_fn, name="m@v2")
    assert named.name == "m@v2"


def test_the_service_embedder_wins_over_the_local_default() -> None:
    async def never(model: str, texts: list[str]) -> list[list[float]]:
        raise AssertionError("not called")

    gateway = GatewayEmbedder("m", 2, never)
    assert embedder_for({EMBEDDER_SERVICE: gateway}) is gateway
    assert embedder_for({}) is default_embedder()
    assert embedder_for({EMBEDDER_SERVICE: object()}) is default_embedder()
    assert normalise([0.0, 0.0]) == [0.0, 0.0] and normalise([2.0]) == [1.0]
