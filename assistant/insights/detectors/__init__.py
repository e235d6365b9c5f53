"""The detectors, one small function each, grouped by the part of the business they watch.
Importing this package registers them all (`assistant.insights.registry.DETECTORS`)."""

from assistant.insights.detectors import finance, marketing, operations, sales

__all__ = ["finance", "marketing", "operations", "sales"]
