"""Which tool a message asks for: the tool's verb and nouns, its words, and the local embedding
model.

Each offered tool gets a score from four signals:
- its verb: the tool's own verb ("archive" in archive_grid) or a way of saying it ("kick off"
  runs, "get rid of" deletes, "how many" lists) said in the message;
- its nouns: the record kinds in its name ("deal", "sprint"), or what people call them
  ("opportunity", "to-do", "KB");
- its words: the message's words found in the tool's name, description, fields and examples;
- meaning: the cosine similarity of the message's embedding with the tool's example
  utterances (its declared `examples` plus training phrases, `phrases*.yaml`), averaged over
  the closest few (the all-MiniLM model knowledge search already uses; embedded once per tool
  version and cached);
- intent: the probability a softmax regression trained on those same utterances' embeddings
  gives the tool, among the offered ones, plus the probability a naive Bayes model of their
  words and word pairs gives it (exact words the embedding blurs: "unschedule", "reimburse").
  Nearest examples reward a message close to one way of saying a tool; the regression learns
  which directions of the embedding separate tools from their neighbours (create from update,
  deal from prospect), which the averaged similarity cannot. Both are trained in about a
  second when the model warms up.
The lexical signals read the message without its quoted titles, emails and links, and without
what follows a lead-in and a colon: a task called 'Migrate invoices to cents' is not a request
about invoices, and "task: update the questionnaire" creates a task.
Only tools the request offers are candidates, so a caller never gets a tool the runtime would
not let them use.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from tools.registry import Tool

WORD = re.compile(r"[a-z0-9]+")
STOP = frozenset({"a", "an", "the", "to", "of", "for", "in", "on", "at", "by", "with", "and",
    "or", "is", "are", "be", "me", "my", "our", "we", "i", "you", "it", "this", "that", "please",
    "can", "could", "would", "will", "do", "does", "did", "what", "which", "who", "how", "show",
    "get", "give", "tell", "let", "from", "about", "some", "any", "all", "new"})

#: Ways of saying a tool-name verb. A tool whose verb is not listed matches its verb only.
VERBS: dict[str, tuple[str, ...]] = {
    "create": ("add", "create", "new", "make", "log", "record", "open a", "open an", "start",
               "register",
               "set up", "draft", "write", "build", "put together", "spin up", "need a"),
    "add": ("add", "attach", "put", "include", "new", "follow", "track"),
    "list": ("list", "show", "what are", "which", "all my", "overview", "how many", "see",
             "any", "anything", "what", "who"),
    "search": ("find", "search", "look up", "lookup", "who is", "anyone", "where is", "any",
               "which", "mentioning", "tagged", "still open", "show", "list", "all my"),
    "get": ("details", "tell me about", "info on", "status of", "look at", "pull up", "open",
            "show me", "where are we", "how is", "how did", "history", "what did"),
    "update": ("update", "change", "move", "set", "rename", "mark", "edit", "bump", "push",
               "postpone", "reschedule", "won", "lost", "now", "has a new", "got a new",
               "is now", "moved to", "slips to", "slipped to", "switch", "correct", "fix"),
    "delete": ("delete", "remove", "drop", "get rid of", "trash", "erase"),
    "remove": ("remove", "revoke", "kick", "take off", "offboard"),
    "send": ("send", "email", "mail"),
    "run": ("run", "trigger", "kick off", "start", "launch", "execute", "ask", "get the",
            "have the"),
    "execute": ("run", "kick off", "start", "launch", "execute", "trigger"),
    "publish": ("publish", "put it live", "go live", "make it live"),
    "archive": ("archive", "retire", "shelve"),
    "validate": ("validate", "valid", "check"),
    "cancel": ("cancel", "abort", "kill", "void", "stop"),
    "pause": ("pause", "stop", "hold off", "halt"),
    "approve": ("approve", "okay", "sign off", "accept"),
    "reject": ("reject", "decline", "deny", "refuse"),
    "reimburse": ("reimburse", "paid back", "pay back", "repaid"),
    "record": ("record", "log", "wired", "paid", "received", "payment"),
    "convert": ("convert", "turn into", "done deal", "became a customer"),
    "install": ("install", "grab", "marketplace"),
    "schedule": ("schedule", "every", "at", "go out", "send out"),
    "unschedule": ("unschedule", "stop running", "shouldn't run", "cancel its schedule",
                   "no longer run"),
    "assign": ("assign", "give", "hand", "route", "reassign"),
    "reply": ("reply", "answer", "respond", "write back"),
    "notify": ("ping", "notify", "let know", "tell", "alert", "reminder for myself", "remind"),
    "post": ("post", "drop a message", "announce", "message in", "say in"),
    "share": ("share", "link to", "send a link"),
    "tag": ("tag", "label"),
    "preview": ("preview", "how big", "how many people", "who is in"),
    "recompute": ("recompute", "rescore", "recalculate", "refresh scores"),
    "submit": ("submit", "expense", "claim", "paid", "file"),
    "invite": ("invite", "add", "bring", "onboard", "to the team"),
    "change": ("change", "promote", "demote", "make", "rights", "access"),
    "remember": ("remember", "save", "store", "note that", "keep in mind"),
    "recall": ("recall", "what's stored", "what is stored", "what do we know", "remind me what"),
    "query": ("who changed", "who deleted", "what has", "audit", "changed", "deleted"),
    "set": ("set", "pause", "resume", "enable", "disable", "turn on", "turn off"),
    "forget": ("forget", "delete the fact"),
    "dismiss": ("dismiss", "hide", "ignore"),
    "act": ("act on", "do it", "go ahead"),
}
#: What people call a record kind named in tool names.
NOUNS: dict[str, tuple[str, ...]] = {
    "deal": ("deal", "opportunity", "pipeline"),
    "contact": ("contact", "person", "people", "lead", "record"),
    "customer": ("customer", "account", "client"),
    "task": ("task", "to-do", "todo", "reminder", "ticket"),
    "invoice": ("invoice", "bill", "inv"),
    "expense": ("expense", "receipt", "spend", "spent", "paid for"),
    "member": ("member", "teammate", "colleague", "team", "user", "admin", "viewer", "role",
               "workspace"),
    "conversation": ("conversation", "chat", "thread", "inbox"),
    "blog": ("blog", "article", "post"),
    "knowledge": ("knowledge", "kb", "doc", "docs", "document", "playbook", "wiki"),
    "agent": ("agent", "ai helper", "bot", "assistant"),
    "automation": ("automation", "when"),
    "campaign": ("campaign", "promo", "newsletter", "blast", "sequence", "invite"),
    "segment": ("segment", "audience", "list of contacts"),
    "creator": ("studio", "creator"),
    "item": ("item", "slides", "presentation", "post", "script", "one-pager"),
    "execution": ("run", "execution"),
    "feedback": ("feedback", "bug", "feature request"),
    "interaction": ("call", "meeting", "emailed", "interaction"),
    "scores": ("score", "rescore"),
    "idea": ("idea",),
    "channels": ("channel", "#"),
    "message": ("message", "#"),
    "finance": ("income", "revenue", "money", "profit", "finance"),
    "memory": ("memory",),
}
INTENT_WEIGHT = 2.0
WORDS_WEIGHT = 1.0
VERB_WEIGHT = 0.3
NOUN_WEIGHT = 0.45
WORD_WEIGHT = 0.3
MEANING_WEIGHT = 0.9
NEIGHBOURS = 3


def words(text: str) -> list[str]:
    return [w for w in WORD.findall(text.lower()) if w not in STOP]


def stem(word: str) -> str:
    for suffix in ("ies", "es", "s", "ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def said(cue: str, lowered: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(cue)}(?![\w-])", lowered) is not None


@dataclass
class Profile:
    """What a tool is about, prepared once per tool version."""

    tool: Tool
    verb: str
    nouns: frozenset[str]
    vocabulary: frozenset[str]
    examples: np.ndarray | None = None


def profile(tool: Tool, said: Sequence[str] = ()) -> Profile:
    parts = tool.name.split("_")
    nouns = frozenset(stem(p) for p in parts[1:] if p not in ("to", "on"))
    text = " ".join([tool.name.replace("_", " "), tool.description, *tool.examples, *said,
                     *(name.replace("_", " ") for name in tool.args_model.model_fields)])
    return Profile(tool, parts[0], nouns, frozenset(stem(w) for w in words(text)))


@dataclass(frozen=True)
class Choice:
    tool: Tool
    score: float


QUOTED = re.compile(r"(?<!\w)'[^']{2,}'(?!\w)|\"[^\"]{2,}\"|\u201c[^\u201d]+\u201d"
                    r"|\u2018[^\u2019]+\u2019|\S+@\S+|https?://\S+")


HEADED = re.compile(r"^\s*(?P<head>[^:]{2,60}?)\s*:\s+\S")


def rank(text: str, profiles: Sequence[Profile], query: np.ndarray | None,
         intent: Mapping[str, float] | None = None,
         worded: Mapping[str, float] | None = None) -> list[Choice]:
    plain = _command(QUOTED.sub(" ", text))
    lowered = f" {plain.lower()} "
    stems = {stem(w) for w in words(plain)}
    intent = intent or {}
    worded = worded or {}
    verbs = {v for v in {p.verb for p in profiles} if _verb_said(v, lowered, stems)}
    lead = _leading_verb(plain)
    choices = []
    for p in profiles:
        lexical = sum(1.0 for w in stems if w in p.vocabulary) / max(1, len(stems))
        nouns = sum(1.0 for n in p.nouns if _noun_said(n, lowered, stems)) / max(1, len(p.nouns))
        verb = VERB_WEIGHT if p.verb in verbs else (-0.1 if verbs else 0.0)
        verb += LEAD_WEIGHT if lead is not None and lead == p.verb else 0.0
        score = (MEANING_WEIGHT * _meaning(p, query) + WORD_WEIGHT * lexical
                 + NOUN_WEIGHT * nouns + verb + INTENT_WEIGHT * intent.get(p.tool.name, 0.0)
                 + WORDS_WEIGHT * worded.get(p.tool.name, 0.0))
        choices.append(Choice(p.tool, score))
    return sorted(choices, key=lambda c: c.score, reverse=True)


#: A message that opens with a tool's own verb ("Search the knowledge base for ...") asks
#: for that verb, whatever words follow.
LEAD_WEIGHT = 0.5
LEADING = re.compile(r"^\s*(?:(?:hey|hi|ok|okay|please|pls|can you|could you|would you|just|"
                     r"quickly|neptune)[\s,]+)*(?P<verb>[a-z]+)\b", re.IGNORECASE)


def _leading_verb(text: str) -> str | None:
    said = LEADING.match(text)
    return said["verb"].lower() if said else None


def _command(text: str) -> str:
    """The part of a message that says what to do: in "task: update the questionnaire" or "bug:
    the date picker is wrong", what follows a short lead-in and a colon is content."""
    match = HEADED.match(text)
    return match["head"] if match else text


def verb_said(verb: str, text: str) -> bool:
    """Whether the message says this verb or a way of saying it ("new" creates)."""
    plain = _command(QUOTED.sub(" ", text))
    return _verb_said(verb, f" {plain.lower()} ", {stem(w) for w in words(plain)})


def _verb_said(verb: str, lowered: str, stems: set[str]) -> bool:
    return stem(verb) in stems or any(said(cue, lowered) for cue in VERBS.get(verb, ()))


def _noun_said(noun: str, lowered: str, stems: set[str]) -> bool:
    return noun in stems or any(said(cue, lowered) for cue in NOUNS.get(noun, ()))


def _meaning(p: Profile, query: np.ndarray | None) -> float:
    if query is None or p.examples is None or not len(p.examples):
        return 0.0
    similarities = np.sort(p.examples @ query)[::-1][:NEIGHBOURS]
    return float(np.mean(similarities))


def softmax_margin(choices: Sequence[Choice]) -> float:
    """How clearly the best choice beats the next (0..1), for "I am not sure" answers."""
    if len(choices) < 2:
        return 1.0
    a, b = choices[0].score, choices[1].score
    return 1 - math.exp(-(a - b) * 10)


class IntentClassifier:
    """Softmax regression from a message's embedding to the tool it asks for.

    Trained by full-batch gradient descent on every tool's utterances (a few thousand unit
    vectors of 384 dimensions), scaled so the logits can be sharp; at prediction only the
    offered tools compete, their probabilities renormalised."""

    SCALE = 4.0
    STEPS = 400
    RATE = 2.0
    L2 = 1e-4

    def __init__(self, names: Sequence[str], weights: np.ndarray, bias: np.ndarray) -> None:
        self.names = list(names)
        self.index = {name: i for i, name in enumerate(self.names)}
        self.weights = weights
        self.bias = bias

    @classmethod
    def train(cls, vectors: np.ndarray, labels: Sequence[str]) -> IntentClassifier:
        names = sorted(set(labels))
        index = {name: i for i, name in enumerate(names)}
        x = np.asarray(vectors, dtype=np.float32) * cls.SCALE
        target = np.eye(len(names), dtype=np.float32)[[index[label] for label in labels]]
        weights = np.zeros((x.shape[1], len(names)), dtype=np.float32)
        bias = np.zeros(len(names), dtype=np.float32)
        for _ in range(cls.STEPS):
            gradient = (_softmax(x @ weights + bias) - target) / len(x)
            weights -= cls.RATE * (x.T @ gradient + cls.L2 * weights)
            bias -= cls.RATE * gradient.sum(axis=0)
        return cls(names, weights, bias)

    def probabilities(self, query: np.ndarray, offered: Sequence[str]) -> dict[str, float]:
        known = [name for name in offered if name in self.index]
        if not known:
            return {}
        columns = [self.index[name] for name in known]
        logits = (query * self.SCALE) @ self.weights[:, columns] + self.bias[columns]
        return dict(zip(known, _softmax(logits[None, :])[0].tolist(), strict=True))


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=1, keepdims=True))


class WordClassifier:
    """Multinomial naive Bayes over a message's word stems and stem pairs (quoted titles left
    out), trained on the tools' utterances by counting: instant to train, ~1 ms to apply."""

    SMOOTHING = 0.5

    def __init__(self, names: Sequence[str], vocabulary: Mapping[str, int],
                 log_probs: np.ndarray) -> None:
        self.names = list(names)
        self.index = {name: i for i, name in enumerate(self.names)}
        self.vocabulary = vocabulary
        self.log_probs = log_probs  # (vocabulary, tools)

    @classmethod
    def train(cls, texts: Sequence[str], labels: Sequence[str]) -> WordClassifier:
        names = sorted(set(labels))
        index = {name: i for i, name in enumerate(names)}
        said = [features(text) for text in texts]
        vocabulary = {w: i for i, w in enumerate(sorted({w for f in said for w in f}))}
        counts = np.zeros((len(vocabulary), len(names)), dtype=np.float32)
        for found, label in zip(said, labels, strict=True):
            for word in found:
                counts[vocabulary[word], index[label]] += 1
        totals = counts.sum(axis=0) + cls.SMOOTHING * len(vocabulary)
        return cls(names, vocabulary, np.log((counts + cls.SMOOTHING) / totals))

    def probabilities(self, text: str, offered: Sequence[str]) -> dict[str, float]:
        known = [name for name in offered if name in self.index]
        rows = [self.vocabulary[w] for w in features(text) if w in self.vocabulary]
        if not known or not rows:
            return {}
        columns = [self.index[name] for name in known]
        logits = self.log_probs[np.ix_(rows, columns)].sum(axis=0)
        return dict(zip(known, _softmax(logits[None, :])[0].tolist(), strict=True))


def features(text: str) -> list[str]:
    stems = [stem(w) for w in words(QUOTED.sub(" ", text))]
    return stems + [f"{a}_{b}" for a, b in itertools.pairwise(stems)]
