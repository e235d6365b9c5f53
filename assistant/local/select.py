"""Which tool a message asks for: lexical cues plus the local embedding model.

Each offered tool gets a score from three signals: the user's words against the tool's own
words (name, description, field names, examples), the intent verb ("add", "show", "change",
"delete" ...) against the tool's verb, and the cosine similarity of the message's embedding with
the embeddings of the tool's examples (the all-MiniLM model knowledge search already uses;
examples are embedded once per tool version and cached). Only tools the request offers are
candidates, so a caller never gets a tool the runtime would not let them use.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tools.registry import Tool

WORD = re.compile(r"[a-z0-9]+")
STOP = frozenset({"a", "an", "the", "to", "of", "for", "in", "on", "at", "by", "with", "and",
    "or", "is", "are", "be", "me", "my", "our", "we", "i", "you", "it", "this", "that", "please",
    "can", "could", "would", "will", "do", "does", "did", "what", "which", "who", "how", "show",
    "get", "give", "tell", "let", "from", "about", "some", "any", "all", "new"})

# The verb a message uses, mapped to the tool-name verbs it means.
INTENTS: dict[str, tuple[str, ...]] = {
    "create": ("add", "create", "new", "make", "put", "log", "record", "open", "start",
               "register", "set up", "draft", "write", "schedule", "remind", "book", "invite"),
    "list": ("list", "show", "what are", "which", "all my", "overview", "how many", "see"),
    "search": ("find", "search", "look up", "lookup", "who is", "anyone", "where is"),
    "update": ("update", "change", "move", "set", "rename", "mark", "edit", "bump", "assign",
               "reassign", "push", "postpone", "reschedule", "won", "lost", "close"),
    "delete": ("delete", "remove", "drop", "get rid of", "trash", "erase"),
    "send": ("send", "email", "mail", "text", "message", "notify", "reply"),
    "get": ("details", "tell me about", "info on", "status of", "look at"),
}
VERB_OF_TOOL = {"create": "create", "add": "create", "log": "create", "list": "list",
                "search": "search", "update": "update", "delete": "delete", "send": "send",
                "get": "get", "schedule": "create"}


def words(text: str) -> list[str]:
    return [w for w in WORD.findall(text.lower()) if w not in STOP]


def stem(word: str) -> str:
    for suffix in ("ies", "es", "s", "ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def intent_of(text: str) -> str | None:
    lowered = f" {text.lower()} "
    best: tuple[int, str] | None = None
    for intent, cues in INTENTS.items():
        for cue in cues:
            at = lowered.find(f" {cue} ")
            if at >= 0 and (best is None or at < best[0]):
                best = (at, intent)
    return best[1] if best else None


@dataclass
class Profile:
    """What a tool is about, prepared once per tool version."""

    tool: Tool
    verb: str | None
    nouns: frozenset[str]
    vocabulary: frozenset[str]
    examples: np.ndarray | None = None


def profile(tool: Tool) -> Profile:
    parts = tool.name.split("_")
    verb = VERB_OF_TOOL.get(parts[0])
    nouns = frozenset(stem(p) for p in parts[1:])
    text = " ".join([tool.name.replace("_", " "), tool.description, *tool.examples,
                     *(name.replace("_", " ") for name in tool.args_model.model_fields)])
    return Profile(tool, verb, nouns, frozenset(stem(w) for w in words(text)))


@dataclass(frozen=True)
class Choice:
    tool: Tool
    score: float


def rank(text: str, profiles: Sequence[Profile], query: np.ndarray | None) -> list[Choice]:
    said = [stem(w) for w in words(text)]
    intent = intent_of(text)
    choices = []
    for p in profiles:
        lexical = sum(1.0 for w in said if w in p.vocabulary) / max(1, len(said))
        nouns = sum(1.0 for w in said if w in p.nouns) / max(1, len(p.nouns))
        verb = 0.0 if intent is None or p.verb is None else (0.25 if intent == p.verb else -0.1)
        semantic = 0.0
        if query is not None and p.examples is not None and len(p.examples):
            semantic = float(np.max(p.examples @ query))
        choices.append(Choice(p.tool, 0.9 * semantic + 0.35 * lexical + 0.45 * nouns + verb))
    return sorted(choices, key=lambda c: c.score, reverse=True)


def softmax_margin(choices: Sequence[Choice]) -> float:
    """How clearly the best choice beats the next (0..1), for "I am not sure" answers."""
    if len(choices) < 2:
        return 1.0
    a, b = choices[0].score, choices[1].score
    return 1 - math.exp(-(a - b) * 10)
