"""Versioned prompt templates and their loader; `prompts.loader` explains the design.

The runtime builds a turn's system prompt with `compose_system(channel, values=...)` and records
its `ref`; the summariser and the titler use `load("summarize")` and `load("title")`.
"""

from prompts.loader import (
    CHANNELS,
    DEFAULT_LIBRARY,
    DEFAULT_VERSION,
    PLACEHOLDERS,
    REQUIRED_TEMPLATES,
    SYSTEM_VALUES,
    TEMPLATES_DIR,
    Prompt,
    PromptError,
    PromptLibrary,
    PromptNotFound,
    PromptRenderError,
    SystemPrompt,
    channels,
    compose_system,
    load,
    names,
    system_hash,
    system_part_names,
    versions,
)

__all__ = [
    "CHANNELS",
    "DEFAULT_LIBRARY",
    "DEFAULT_VERSION",
    "PLACEHOLDERS",
    "REQUIRED_TEMPLATES",
    "SYSTEM_VALUES",
    "TEMPLATES_DIR",
    "Prompt",
    "PromptError",
    "PromptLibrary",
    "PromptNotFound",
    "PromptRenderError",
    "SystemPrompt",
    "channels",
    "compose_system",
    "load",
    "names",
    "system_hash",
    "system_part_names",
    "versions",
]
