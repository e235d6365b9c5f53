"""Detectors by name. A detector is one small async function over one workspace's data that
returns its current findings; registering it here is all a sweep needs to run it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from assistant.insights.model import DetectorContext, Finding

Detector = Callable[[DetectorContext], Awaitable[list[Finding]]]
DETECTORS: dict[str, Detector] = {}


def detector(name: str) -> Callable[[Detector], Detector]:
    """Register the decorated function as the detector `name` (unique)."""
    def register(fn: Detector) -> Detector:
        if name in DETECTORS:
            raise ValueError(f"detector {name!r} is registered twice")
        DETECTORS[name] = fn
        return fn
    return register
