"""The built-in offline model: tool calls and short answers from rules and a small embedding
model, speaking the chat protocol like a hosted model (it is not a language model, and says so).

It is stateless: everything it needs is in the request, like any model.

- A user message: pick the offered tool the message asks for (`select`), read its arguments
  (`arguments`); a required record id that the user named is looked up first with the matching
  search tool (the lookup's call id carries the plan: `lookup__<tool>__<field>__<n>`); a missing
  required field gets one question.
- An answer to that question: the previous request plus the answer complete the call.
- Tool results: a lookup's result supplies the id and the planned call follows; any other result
  becomes a short sentence (what was created, how many were found, what awaits approval).
- Anything it cannot place: it says so and how to configure a hosted model.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml  # type: ignore[import-untyped]

from assistant.local import arguments as args_of
from assistant.local import extract as x
from assistant.local import lookup, select
from assistant.local.cache import embed_cached
from assistant.local.select import (
    NOUNS,
    Choice,
    IntentClassifier,
    Profile,
    WordClassifier,
    profile,
    rank,
)
from assistant.local.spoken import written
from tools.registry import Tool, ToolRegistry

NAME = "neptune-local"
#: How many next-best tools are tried when the first one's record is not found, and how close
#: to the best score they must be.
ALTERNATIVES = 2
CLOSE = 0.4
#: How close a tool doing the same action to another kind of record must be.
SAME_VERB = 0.2
MIN_SCORE = 0.45
#: How many pages of records a lookup reads for a name it did not find on the first.
PAGES = 8
SELF = ("I'm Neptune's built-in offline assistant: not a large language model, but rules and a "
        "small local embedding model that map what you ask to Neptune's tools. I can list, find, "
        "create and update records, and ask when something is missing. For open-ended "
        "questions, configure a hosted model (set NEPTUNE_MODEL and a provider key).")
UNSURE = ("I'm not sure which action you mean. I'm the built-in offline model, so I work best "
          "with direct requests like \"show my open deals\" or \"add a task to call Ada on "
          "Friday\". For free-form conversation, configure a hosted model (NEPTUNE_MODEL plus a "
          "provider key in the workspace settings or the environment).")
ASKING = re.compile(r"To (?P<what>.+?), what (?:is|should be) the (?P<field>[\w ]+)\?$")
ABOUT_ME = re.compile(r"\b(are you|who are you|what are you)\b.*\b(llm|language model|ai|gpt|"
                      r"human|bot|model|real)\b|\bwho are you\b|\bwhat can you do\b", re.I)
#: Tools named for these verbs make something, so the words left in a message are its title.
CREATING = frozenset({"create", "add", "log", "draft", "submit", "invite", "post", "send",
                      "reply", "notify", "remember", "record", "save", "upload", "import",
                      "register", "install"})
#: Fields whose answer is taken whole.
LONG_TEXT = frozenset({"description", "content", "body", "system_prompt", "summary", "message",
                       "instructions", "notes", "text", "objective", "task", "prompt"})
LOOKUP_ID = re.compile(r"^lookup__(?P<tool>[a-z0-9_]+?)__(?P<field>[a-z0-9_]+?)__(?P<mode>[qap])")


@dataclass
class Reply:
    text: str = ""
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # id, name, args


@dataclass(frozen=True)
class Request:
    """What the user asked: their message, or an earlier message plus the answer to our
    question about one field."""

    text: str
    field: str | None = None
    answer: str = ""
    tool: str | None = None  # the tool our question was for


@dataclass(frozen=True)
class Looked:
    """A lookup already made this turn: for which field, how, and the records it returned."""

    field: str
    mode: str  # "q": filtered by the name given; "a": a page of every record; "p": by parent
    records: list[Mapping[str, Any]]
    result: Any = None  # the lookup's whole result, and the arguments it was called with
    args: Mapping[str, Any] = dataclasses.field(default_factory=dict)


class LocalModel:
    def __init__(self, registry: ToolRegistry, embed: Any = None) -> None:
        self.registry = registry
        self.embed = embed  # callable: list[str] -> array of unit vectors, or None (lexical only)
        self._profiles: dict[str, Profile] = {}
        self._intent: IntentClassifier | None = None
        self._worded: WordClassifier | None = None
        self._last: tuple[tuple[str, tuple[str, ...]], list[Choice]] | None = None

    # -- the protocol ------------------------------------------------------------------------
    def respond(self, messages: Sequence[Mapping[str, Any]], offered: Sequence[str],
                now: datetime | None = None) -> Reply:
        now = now or datetime.now(UTC)
        tools = [t for name in offered if (t := self.registry.get(name)) is not None]
        last = messages[-1] if messages else {"role": "user", "content": ""}
        if last.get("role") == "tool":
            return self._after_tools(messages, tools, now)
        if ABOUT_ME.search(_text(last)):
            return Reply(SELF)
        return self._request(current_request(messages), tools, now)

    # -- a new request -----------------------------------------------------------------------
    def _request(self, request: Request, tools: list[Tool], now: datetime) -> Reply:
        # An answer completes the call our question was for, even one chosen after the
        # first reading's record was not found.
        asked = next((t for t in tools if t.name == request.tool), None)
        if asked is not None and request.field in asked.args_model.model_fields:
            return self._plan(asked, request, tools, now, [])
        choice = self.choose(request.text, tools)
        if choice is None and request.field is not None:
            return self._request(Request(request.answer), tools, now)
        if choice is None:
            return Reply(UNSURE)
        return self._plan(choice.tool, request, tools, now, [])

    def choose(self, text: str, tools: Sequence[Tool]) -> Choice | None:
        ranked = self.ranked(text, tools)
        return ranked[0] if ranked and ranked[0].score >= MIN_SCORE else None

    def ranked(self, text: str, tools: Sequence[Tool]) -> list[Choice]:
        """Every offered tool, best first. The last ranking is kept: a turn whose record is not
        found asks again for the same text (`_alternative`), and need not embed it again."""
        if not tools or not text.strip():
            return []
        key = (text, tuple(t.schema_hash for t in tools))
        last = self._last
        if last is not None and last[0] == key:
            return last[1]
        self.warm(tools)
        query = self._embed_one(text)
        names = [t.name for t in tools]
        intent = (self._intent.probabilities(query, names)
                  if self._intent is not None and query is not None else None)
        worded = self._worded.probabilities(text, names) if self._worded is not None else None
        ranked = rank(text, [self._profile(t) for t in tools], query, intent, worded)
        self._last = (key, ranked)
        return ranked

    def _plan(self, tool: Tool, request: Request, tools: Sequence[Tool], now: datetime,
              looked: Sequence[Looked], tried: frozenset[str] = frozenset()) -> Reply:
        nouns = _with_aliases(self._profile(tool).nouns)
        values = args_of.extract(tool.args_model, request.text, now, nouns,
                                 creating=tool.name.split("_")[0] in CREATING)
        for key, value in _answered(tool, request, now, nouns).items():
            if key == request.field or key not in values:
                values[key] = value
        if request.field:  # the answer gave the body: the words before were no subject
            args_of.said_titles(tool.args_model, request.text, values)
        calls: list[tuple[str, str, dict[str, Any]]] = []
        unfound: list[str] = []
        for name, info in tool.args_model.model_fields.items():
            if args_of.is_id(name) and name not in values and (
                    info.is_required() or lookup.wanted(name, request.text, values)):
                _resolve(name, info.is_required(), tool, request, tools, looked, values, calls,
                         unfound)
        if calls:
            return Reply(calls=calls)
        _told(tool, request.text, looked, values)
        missing = _missing(tool, values, ids=False) or _missing(tool, values, ids=True)
        if missing and missing in unfound:
            other = self._alternative(tool, missing, request, tools, tried | {tool.name})
            if other is not None:
                return self._plan(other, request, tools, now, [], tried | {tool.name})
        if missing:
            return Reply(_question(tool, missing, missing in unfound))
        return Reply(calls=[(_call_id(), tool.name, values)])

    def _alternative(self, tool: Tool, missing: str, request: Request, tools: Sequence[Tool],
                     tried: frozenset[str]) -> Tool | None:
        """When the record a tool needs is not there ("rename Task Router": no task is called
        that), the next-best tool that looks up another kind of record ("Task Router" is an
        agent) or creates one of this kind, if it scored close. The records decide between
        readings of the words."""
        ranked = self.ranked(request.text, tools)
        if not ranked or len(tried) > ALTERNATIVES:
            return None
        kind = lookup.kind_of(missing)
        making = select.verb_said("create", request.text)
        close = [c.tool for c in ranked[1:1 + 2 * ALTERNATIVES]
                 if c.score >= ranked[0].score * CLOSE]
        # The same action on another kind of record, however it scored: the verb said what
        # to do, the words that named the record were read as the wrong kind ("rename Task
        # Router": update_task scored first, but the record is an agent).
        verb = tool.name.split("_")[0]
        same = [c.tool for c in ranked[1:] if c.tool.name.split("_")[0] == verb
                and c.score >= ranked[0].score * SAME_VERB]
        for other in (*close, *same):
            if other.name not in tried and (_looks_up_other(other, kind)
                                            or (making and _creates(other, kind))):
                return other
        return None

    # -- after tool results ------------------------------------------------------------------
    def _after_tools(self, messages: Sequence[Mapping[str, Any]], tools: list[Tool],
                     now: datetime) -> Reply:
        results = _trailing_results(messages)
        if any(LOOKUP_ID.match(call_id) for call_id, _ in results):
            looked, target, tried = _looked(messages)
            planned = self.registry.get(target) if target else None
            if planned is not None:
                return self._plan(planned, current_request(messages), tools, now, looked,
                                  tried - {planned.name})
        # The planned call itself has run (or waits for approval): say what came of it,
        # never plan it again.
        return Reply(" ".join(describe(name, payload) for name, payload in
                              _named_results(messages, results)))

# -- embeddings --------------------------------------------------------------------------
    def warm(self, tools: Sequence[Tool] = ()) -> None:
        """Prepare every registered tool's profile (and any offered tool's the registry does
        not know) with its utterances embedded in one batch, and train the intent classifier
        on them, so the first request does not pay for it. Tools already prepared cost
        nothing."""
        todo = [t for t in [*self.registry, *tools] if t.schema_hash not in self._profiles]
        if not todo:
            return
        said = [utterances(t) for t in todo]
        flat = [u for group in said for u in group]
        vectors = embed_cached(self.embed, flat) if self.embed is not None and flat else None
        at = 0
        for tool, group in zip(todo, said, strict=True):
            prepared = profile(tool, group)
            if vectors is not None and group:
                prepared.examples = vectors[at:at + len(group)]
                at += len(group)
            self._profiles[tool.schema_hash] = prepared
        self._intent = self._train_intent()
        pairs = [(t.name, u) for t in self._tools() for u in utterances(t)]
        self._worded = (WordClassifier.train([u for _, u in pairs], [n for n, _ in pairs])
                        if pairs else None)

    def _tools(self) -> list[Tool]:
        return [p.tool for p in self._profiles.values()]

    def _train_intent(self) -> IntentClassifier | None:
        prepared = [p for p in self._profiles.values() if p.examples is not None]
        if len(prepared) < 2:
            return None
        groups = [(p.tool.name, p.examples) for p in prepared if p.examples is not None]
        vectors = np.concatenate([examples for _, examples in groups])
        labels = [name for name, examples in groups for _ in range(len(examples))]
        return IntentClassifier.train(vectors, labels)

    def _profile(self, tool: Tool) -> Profile:
        cached = self._profiles.get(tool.schema_hash)
        if cached is None:
            self.warm([tool])
            cached = self._profiles[tool.schema_hash]
        return cached

    def _embed_one(self, text: str) -> np.ndarray | None:
        if self.embed is None:
            return None
        return np.asarray(self.embed([text])[0], dtype=np.float32)


def _with_aliases(nouns: frozenset[str]) -> frozenset[str]:
    """A tool's nouns and what people call them ("blog" -> "article", "post"): words that name
    the kind of record, never part of a title or a search term."""
    said = {alias for noun in nouns for alias in NOUNS.get(noun, ()) if " " not in alias}
    return nouns | frozenset(w for w in said if w.isalpha())


# -- what each tool is said like --------------------------------------------------------
PHRASES = sorted(Path(__file__).parent.glob("phrases*.yaml"))


@functools.cache
def _phrases() -> dict[str, list[str]]:
    """Training phrases per tool name, from every `phrases*.yaml` beside this module: how
    people ask for each tool, beyond its examples."""
    merged: dict[str, list[str]] = {}
    for path in PHRASES:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for name, said in loaded.items():
            merged.setdefault(str(name), []).extend(str(u) for u in said)
    return merged


def utterances(tool: Tool) -> list[str]:
    return [*tool.examples, *_phrases().get(tool.name, ())]


# -- reading the conversation -------------------------------------------------------------
def _text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return str(content or "")


def current_request(messages: Sequence[Mapping[str, Any]]) -> Request:
    """The request this turn serves: the last user message, joined to the one before when our
    reply in between asked for a field."""
    users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    if not users:
        return Request("")
    last = users[-1]
    answer = written(_text(messages[last]))
    asked = next((_text(m) for m in reversed(messages[:last]) if m.get("role") == "assistant"
                  and not m.get("tool_calls")), "") if len(users) > 1 else ""
    match = ASKING.search(asked.strip())
    if match is None or messages[last - 1].get("role") != "assistant":
        return Request(answer)
    return Request(written(_text(messages[users[-2]])), match["field"].replace(" ", "_"), answer,
                   match["what"].replace(" ", "_"))


def _answered(tool: Tool, request: Request, now: datetime, nouns: frozenset[str],
              ) -> dict[str, Any]:
    """The value the answer to our question gives its field (ids are looked up instead)."""
    name = request.field
    if name is None or name not in tool.args_model.model_fields or args_of.is_id(name):
        return {}
    schema = args_of.schemas(tool.args_model).get(name, {})
    if schema.get("type") == "array" and schema.get("items", {}).get("type") == "string":
        parts = [w.strip(" .'\"") for w in re.split(r",|\band\b|&|;", request.answer)]
        return {name: [w for w in parts if w]}  # "billing and finance": two tags
    if name in LONG_TEXT or (name in args_of.FREE_TEXT and name not in args_of.TITLE_FIELDS
                             and name not in args_of.QUERY_FIELDS):
        # a description, a reason or a prompt is the whole answer, commas and all
        return {name: request.answer.strip()}
    from_answer = args_of.extract(tool.args_model, request.answer, now, nouns)
    # Amounts and dates the answer gives besides fill fields nothing else did ("$199" is
    # also the currency).
    extra = {k: v for k, v in from_answer.items() if k != name and args_of.is_amount(k)}
    if name in args_of.TITLE_FIELDS:  # the answer is the title, "Q1" and all, unless it
        keyed = (x.after_keyword(request.answer, ("called", "named", "titled", "call it"))
                 or next(iter(x.quoted(request.answer)), None))  # says more ("..., $12.5k")
        if not keyed and not re.search(r"[,;]|\s[-\u2013\u2014]\s", request.answer):
            extra = {}  # "Prepare the Q1 hiring plan": its date is part of the title
        reading = args_of.Reading.of(request.answer, now, nouns)
        title = keyed or (args_of.title_of(reading) if extra else None) or request.answer
        return {**extra, name: title.strip(" .!'\"")}
    if name in from_answer:
        return {**extra, name: from_answer[name]}
    said = args_of.title_of(args_of.Reading.of(request.answer, now, nouns))
    return {**extra, name: said or request.answer.strip()}


def _looked(messages: Sequence[Mapping[str, Any]],
            ) -> tuple[list[Looked], str | None, frozenset[str]]:
    """The lookups made since the user last spoke for the tool they now serve (the latest
    planned), that tool, and every tool lookups were made for (tried before it)."""
    looked: list[Looked] = []
    target = None
    tried: set[str] = set()
    called = {str(call.get("id")): call.get("function", {}) for m in messages
              for call in m.get("tool_calls") or ()}
    for message in reversed(messages):
        if message.get("role") == "user":
            break
        plan = LOOKUP_ID.match(str(message.get("tool_call_id", "")))
        if message.get("role") != "tool" or plan is None:
            continue
        target = target or plan["tool"]
        tried.add(plan["tool"])
        if plan["tool"] != target:
            continue
        payload = _payload(message)
        result = payload.get("result") if isinstance(payload, Mapping) else None
        looked.append(Looked(plan["field"], plan["mode"],
                             lookup.held(result, lookup.kind_of(plan["field"])), result,
                             _arguments(called.get(str(message.get("tool_call_id"))))))
    return looked, target, frozenset(tried)


#: Words that go on naming what runs ("the Content Studio agent team working on ..."),
#: not what it is told to do.
RUNNERS = frozenset({"agent", "agents", "team", "teams", "grid", "workflow", "bot", "crew",
                     "squad", "assistant"})
#: Where what an agent is told to do ends and when it is done begins.
WHEN = re.compile(r"\s+(?:every|each|daily|weekly|nightly|hourly|at\s+\d|on\s+\w+days?\b|"
                  r"tomorrow|tonight|today|from now)\b.*$", re.IGNORECASE)


def _told(tool: Tool, text: str, looked: Sequence[Looked], values: dict[str, Any]) -> None:
    """"have the Meeting Notetaker summarise yesterday's calls every weekday": what follows
    the name of a record found is what it is told to do, when the task is still missing."""
    for name in ("task", "objective", "instructions"):
        info = tool.args_model.model_fields.get(name)
        if info is None or not info.is_required() or name in values:
            continue
        for record in (r for entry in looked for r in entry.records):
            label = lookup.label_of(record)
            said = re.search(rf"\b{re.escape(label)}(?:'s)?\s+(?:to\s+)?(\w.+)$", text,
                             re.IGNORECASE) if label else None
            if said:
                task = WHEN.sub("", said[1]).strip(" .!?")
                first = task.split()[0].lower() if task else ""
                if len(task.split()) >= 2 and first not in RUNNERS | args_of.CONNECT:
                    values[name] = task
                    return


def _arguments(function: Any) -> dict[str, Any]:
    try:
        loaded = json.loads(str((function or {}).get("arguments") or "{}"))
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _creates(tool: Tool, kind: str) -> bool:
    """Whether a tool makes a record of this kind ("new task in Sprint 15: ..." names no task
    that exists: the next reading, creating one, is the one meant)."""
    verb, _, noun = tool.name.partition("_")
    return verb in CREATING and noun == kind


def _looks_up_other(tool: Tool, kind: str) -> bool:
    """Whether a tool needs a record of another kind than `kind`, found by a lookup."""
    return any(args_of.is_id(name) and info.is_required() and lookup.kind_of(name) != kind
               for name, info in tool.args_model.model_fields.items())


def _resolve(name: str, required: bool, tool: Tool, request: Request, tools: Sequence[Tool],
             looked: Sequence[Looked], values: dict[str, Any],
             calls: list[tuple[str, str, dict[str, Any]]], unfound: list[str]) -> None:
    """Fill an id field from this turn's lookups, or plan the lookup that will."""
    kind = lookup.kind_of(name)
    text = request.answer if request.field == name else request.text
    mine = [entry for entry in looked if entry.field == name]
    records = [r for entry in mine for r in entry.records]
    # (What a search would look for may be the member a filter means: "what does Sam still
    # have open" lists Sam's tasks.)
    taken = [v for k, v in values.items() if isinstance(v, str) and not (
        kind == "member" and (k in args_of.QUERY_FIELDS or k in args_of.TITLE_FIELDS))]
    word = lookup.qualifier(name)
    several = name.endswith("_ids")
    # A list of records ("Task Router and Meeting Notetaker are the members"), or one named
    # beside others and told apart by the field's word ("Inbox Triage coordinates"): these
    # need every record to choose from, not a search for one name.
    everything = several or (word is not None and re.search(rf"\b{word}", text, re.I))
    # One record found by searching for the name said is the one meant, optional or not.
    only = len(mine) == 1 and mine[0].mode == "q" and len(records) == 1
    if _chosen(name, required or only, text, records, taken, values):
        return
    source = lookup.lookup_tool(name, tool, tools) or (
        lookup.holder(name, tools) if required else None)
    # A name written in lower case is guessed at only where a wrong guess costs a lookup:
    # a required record (all are listed when the guess finds none) or a member.
    ref = lookup.reference(text, kind, taken, loose=True, sure=required or kind == "member")
    if source is None or (not required and ref is None and not several):
        return
    parent = lookup.parent_field(source)
    if required and parent is not None:
        _resolve_by_parent(name, parent, source, tool, request, tools, looked, values, calls,
                           unfound)
        return
    if mine:
        pages = [e for e in mine if e.mode == "a"]  # newest first
        more = lookup.next_page(source, pages[0].result, pages[0].args) if pages else None
        if (required or several) and not pages:
            calls.append((_lookup_id(tool, name, "a"), source.name,
                          lookup.lookup_args(source, None)))
        elif (required or several) and more is not None and len(pages) < PAGES:
            calls.append((_lookup_id(tool, name, "a"), source.name, more))
        elif required:
            unfound.append(name)
        return
    if several and not required and ref is None and not re.search(r"\band\b|,", text):
        return  # (a list named by several names: "with the hero banner and the script")
    mode = "q" if ref and lookup.takes_filter(source) and not everything else "a"
    args = lookup.lookup_args(source, ref if mode == "q" else None)
    calls.append((_lookup_id(tool, name, mode), source.name, args))


def _title_without(said: str, label: str) -> str:
    """A title without the person it is for: "(task for) Lee Park to review the contract"."""
    words = said.split()
    own = {w.lower() for w in label.split()}
    while len(words) > 1 and words[0].lower().removesuffix("'s") in own:
        words.pop(0)
    if len(words) < len(said.split()) and len(words) > 1 and words[0].lower() == "to":
        words.pop(0)
    return " ".join(words)


def _chosen(name: str, required: bool, text: str, records: Sequence[Mapping[str, Any]],
            taken: Sequence[str], values: dict[str, Any]) -> bool:
    """Fill an id field from records already looked up, if they hold the one(s) meant."""
    kind, word = lookup.kind_of(name), lookup.qualifier(name)
    if name.endswith("_ids") and records:
        chosen = lookup.all_named(text, records, kind, taken)
        if chosen:
            values[name] = chosen
            return True
    # A capitalised name the record does not have is another record ("pause Lead Scout" is
    # no campaign "Lead nurture").
    match = lookup.best(text, records, kind, lookup.capitalised(text) if kind != "member" else ())
    if word is not None and records:
        whole = [m for m in lookup.ranked(text, records, kind) if m.whole and m.id not in taken]
        match = lookup.nearest(text, whole, word) or match
    if match is None or not (required or lookup.sure(match, text, kind)):
        return False
    values[name] = [match.id] if lookup.is_list(name) else match.id
    # What the record's name said is no search text ("under the Billing revamp epic") and,
    # for a member, no title either ("task for lee"; "have Lee prep the slides").
    first = match.label.split()[0] if match.label else ""
    titles = args_of.TITLE_FIELDS if kind == "member" else ()
    for key in args_of.TITLE_FIELDS if kind == "template" else ():
        # "install the Research Analyst template": the template's name, no new name
        if key in values and match.label and str(values[key]).lower() == match.label.lower():
            del values[key]
    for key in (*args_of.QUERY_FIELDS, *titles):
        said = values.get(key)
        if not isinstance(said, str):
            continue
        if lookup.names(said, match.label):
            del values[key]
        elif key in titles and first:
            values[key] = _title_without(said, match.label)
    return True


def _resolve_by_parent(name: str, parent: str, source: Tool, tool: Tool, request: Request,
                       tools: Sequence[Tool], looked: Sequence[Looked], values: dict[str, Any],
                       calls: list[tuple[str, str, dict[str, Any]]], unfound: list[str]) -> None:
    """A run named by what ran it ("the last Lead enrichment run"): find the grid or agent,
    list its runs (newest first), and take the newest one in the state the message names."""
    runs = [r for entry in looked if entry.field == name and entry.mode == "p"
            for r in entry.records]
    if any(entry.field == name and entry.mode == "p" for entry in looked):
        chosen = lookup.newest(runs, request.text)
        if chosen is None:
            unfound.append(name)
        else:
            values[name] = chosen
        return
    found: dict[str, Any] = {}
    _resolve(parent, True, tool, request, tools, looked, found, calls, unfound)
    if parent in unfound:
        unfound.remove(parent)
        unfound.append(name)
    if parent in found:
        args = {**lookup.lookup_args(source, None), parent: found[parent]}
        calls.append((_lookup_id(tool, name, "p"), source.name, args))


def _lookup_id(tool: Tool, field_name: str, mode: str) -> str:
    return f"lookup__{tool.name}__{field_name}__{mode}{uuid.uuid4().hex[:8]}"


def _payload(message: Mapping[str, Any]) -> Any:
    try:
        return json.loads(_text(message))
    except ValueError:
        return {"ok": False, "error": _text(message)}


def _trailing_results(messages: Sequence[Mapping[str, Any]]) -> list[tuple[str, Any]]:
    results = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        results.append((str(message.get("tool_call_id", "")), _payload(message)))
    return list(reversed(results))


def _named_results(messages: Sequence[Mapping[str, Any]],
                   results: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    names: dict[str, str] = {}
    for message in messages:
        for call in message.get("tool_calls") or ():
            names[str(call.get("id"))] = str(call.get("function", {}).get("name", ""))
    return [(names.get(call_id, ""), payload) for call_id, payload in results]


# -- planning helpers ---------------------------------------------------------------------
def _missing(tool: Tool, values: Mapping[str, Any], *, ids: bool) -> str | None:
    for name, info in tool.args_model.model_fields.items():
        if info.is_required() and name not in values and args_of.is_id(name) == ids:
            return name
    return None


def _question(tool: Tool, field_name: str, unfound: bool = False) -> str:
    what = tool.name.replace("_", " ")
    kind = lookup.kind_of(field_name).replace("_", " ")
    label = kind if args_of.is_id(field_name) else field_name.replace("_", " ")
    sorry = f"I couldn't find that {kind}. " if unfound else ""
    return f"{sorry}To {what}, what is the {label}?"


def _call_id() -> str:
    return f"call_{uuid.uuid4().hex[:12]}"


def describe(tool: str, payload: Any) -> str:
    """A short sentence about one tool result."""
    if not isinstance(payload, Mapping):
        return "Done."
    if payload.get("status") == "awaiting_approval":
        return "That needs your approval first; I've asked for it."
    if payload.get("status") == "rejected":
        return "Understood, I won't do that."
    if not payload.get("ok", True):
        return f"That didn't work: {payload.get('error', 'unknown error')}."
    result = payload.get("result")
    verb = tool.split("_")[0]
    if verb in ("list", "search", "query", "recall") and isinstance(result, Mapping):
        return _list_sentence(tool, lookup.items(result))
    label = _label(result) or _label(_inner(result))
    done = {"create": "Created", "add": "Added", "update": "Updated", "delete": "Deleted",
            "send": "Sent", "log": "Logged"}.get(verb)
    if done:
        return f"{done} {label}." if label else f"{done}."
    return f"Here it is: {label}." if label else "Done."


def _inner(result: Any) -> Any:
    """The one record a result wraps ({"contact": {...}, "changed": [...]})."""
    if isinstance(result, Mapping):
        return next((v for v in result.values() if isinstance(v, Mapping)), None)
    return None


def _list_sentence(tool: str, items: list[Any]) -> str:
    noun = tool.split("_", 1)[-1].replace("_", " ")
    if not items:
        return f"I found no {noun}."
    names = [n for n in (_label(i) for i in items[:5]) if n]
    more = f", and {len(items) - 5} more" if len(items) > 5 else ""
    listed = f": {', '.join(names)}{more}" if names else ""
    return f"I found {len(items)} {noun}{listed}."


def _label(result: Any) -> str | None:
    if not isinstance(result, Mapping):
        return None
    for key in ("title", "name", "subject", "description", "email"):
        if result.get(key):
            return str(result[key])
    first, last = result.get("first_name"), result.get("last_name")
    return " ".join(str(p) for p in (first, last) if p) or None
