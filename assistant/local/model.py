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

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from assistant.local import arguments as args_of
from assistant.local.select import Choice, Profile, profile, rank
from tools.registry import Tool, ToolRegistry

NAME = "neptune-local"
MIN_SCORE = 0.45
SELF = ("I'm Neptune's built-in offline assistant: not a large language model, but rules and a "
        "small local embedding model that map what you ask to Neptune's tools. I can list, find, "
        "create and update records, and ask when something is missing. For open-ended "
        "questions, configure a hosted model (set NEPTUNE_MODEL and a provider key).")
UNSURE = ("I'm not sure which action you mean. I'm the built-in offline model, so I work best "
          "with direct requests like \"show my open deals\" or \"add a task to call Ada on "
          "Friday\". For free-form conversation, configure a hosted model (NEPTUNE_MODEL plus a "
          "provider key in the workspace settings or the environment).")
ASKING = re.compile(r"^To (?P<what>.+?), what (?:is|should be) the (?P<field>[\w ]+)\?$")
ABOUT_ME = re.compile(r"\b(are you|who are you|what are you)\b.*\b(llm|language model|ai|gpt|"
                      r"human|bot|model|real)\b|\bwho are you\b|\bwhat can you do\b", re.I)
LOOKUP_ID = re.compile(r"^lookup__(?P<tool>[a-z_]+)__(?P<field>[a-z_]+)__")


@dataclass
class Reply:
    text: str = ""
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # id, name, args


class LocalModel:
    def __init__(self, registry: ToolRegistry, embed: Any = None) -> None:
        self.registry = registry
        self.embed = embed  # callable: list[str] -> array of unit vectors, or None (lexical only)
        self._profiles: dict[str, Profile] = {}

    # -- the protocol ------------------------------------------------------------------------
    def respond(self, messages: Sequence[Mapping[str, Any]], offered: Sequence[str],
                now: datetime | None = None) -> Reply:
        now = now or datetime.now(UTC)
        tools = [t for name in offered if (t := self.registry.get(name)) is not None]
        last = messages[-1] if messages else {"role": "user", "content": ""}
        if last.get("role") == "tool":
            return self._after_tools(messages, tools, now)
        text = _text(last)
        if ABOUT_ME.search(text):
            return Reply(SELF)
        asked = _asked(messages)
        if asked is not None:
            return self._answered(asked, text, tools, now)
        return self._request(text, tools, now)

    # -- a new request -----------------------------------------------------------------------
    def _request(self, text: str, tools: list[Tool], now: datetime) -> Reply:
        choice = self.choose(text, tools)
        if choice is None:
            return Reply(UNSURE)
        return self._plan(choice.tool, text, tools, now)

    def choose(self, text: str, tools: Sequence[Tool]) -> Choice | None:
        if not tools or not text.strip():
            return None
        query = self._embed_one(text)
        ranked = rank(text, [self._profile(t) for t in tools], query)
        return ranked[0] if ranked and ranked[0].score >= MIN_SCORE else None

    def _plan(self, tool: Tool, text: str, tools: Sequence[Tool], now: datetime,
              known: Mapping[str, Any] | None = None) -> Reply:
        values = {**args_of.extract(tool.args_model, text, now), **(known or {})}
        missing_id = _missing(tool, values, ids=True)
        if missing_id:
            lookup = _lookup_tool(missing_id, tools)
            query = args_of.query_text(text)
            if lookup is not None and query:
                call_id = f"lookup__{tool.name}__{missing_id}__{uuid.uuid4().hex[:8]}"
                return Reply(calls=[(call_id, lookup.name, {"query": query})])
        missing = _missing(tool, values, ids=False) or missing_id
        if missing:
            return Reply(_question(tool, missing))
        return Reply(calls=[(_call_id(), tool.name, values)])

    def _answered(self, asked: tuple[str, str], answer: str, tools: list[Tool],
                  now: datetime) -> Reply:
        request, field_label = asked
        choice = self.choose(request, tools)
        if choice is None:
            return self._request(answer, tools, now)
        tool, field_name = choice.tool, field_label.replace(" ", "_")
        values = args_of.extract(tool.args_model, f"{request} {answer}", now)
        if field_name in tool.args_model.model_fields and field_name not in values:
            values[field_name] = answer.strip()
        return self._plan(tool, request, tools, now, values)

    # -- after tool results ------------------------------------------------------------------
    def _after_tools(self, messages: Sequence[Mapping[str, Any]], tools: list[Tool],
                     now: datetime) -> Reply:
        results = _trailing_results(messages)
        for call_id, payload in results:
            plan = LOOKUP_ID.match(call_id)
            if plan is None:
                continue
            found = _first_id(payload)
            target = self.registry.get(plan["tool"])
            if found is None or target is None:
                return Reply("I couldn't find that record. Could you give me its exact name?")
            request = _last_user_text(messages)
            return self._plan(target, request, tools, now, {plan["field"]: found})
        return Reply(" ".join(describe(name, payload) for name, payload in
                              _named_results(messages, results)))

    # -- embeddings --------------------------------------------------------------------------
    def _profile(self, tool: Tool) -> Profile:
        cached = self._profiles.get(tool.schema_hash)
        if cached is None:
            cached = profile(tool)
            if self.embed is not None and tool.examples:
                cached.examples = np.asarray(self.embed(list(tool.examples)), dtype=np.float32)
            self._profiles[tool.schema_hash] = cached
        return cached

    def _embed_one(self, text: str) -> np.ndarray | None:
        if self.embed is None:
            return None
        return np.asarray(self.embed([text])[0], dtype=np.float32)


# -- reading the conversation -------------------------------------------------------------
def _text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return str(content or "")


def _asked(messages: Sequence[Mapping[str, Any]]) -> tuple[str, str] | None:
    """(the request, the field) when our last message asked for a missing field."""
    if len(messages) < 3 or messages[-2].get("role") != "assistant":
        return None
    match = ASKING.match(_text(messages[-2]).strip())
    if match is None:
        return None
    earlier = [m for m in messages[:-2] if m.get("role") == "user"]
    return (_text(earlier[-1]), match["field"]) if earlier else None


def _last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return _text(message)
    return ""


def _trailing_results(messages: Sequence[Mapping[str, Any]]) -> list[tuple[str, Any]]:
    results = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        try:
            payload = json.loads(_text(message))
        except ValueError:
            payload = {"ok": False, "error": _text(message)}
        results.append((str(message.get("tool_call_id", "")), payload))
    return list(reversed(results))


def _named_results(messages: Sequence[Mapping[str, Any]],
                   results: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    names: dict[str, str] = {}
    for message in messages:
        for call in message.get("tool_calls") or ():
            names[str(call.get("id"))] = str(call.get("function", {}).get("name", ""))
    return [(names.get(call_id, ""), payload) for call_id, payload in results]


def _first_id(payload: Any) -> str | None:
    result = payload.get("result") if isinstance(payload, Mapping) else None
    for item in _items(result):
        if isinstance(item, Mapping) and item.get("id"):
            return str(item["id"])
    return None


def _items(result: Any) -> list[Any]:
    if isinstance(result, Mapping):
        for value in result.values():
            if isinstance(value, list):
                return value
        return [result] if result.get("id") else []
    return result if isinstance(result, list) else []


# -- planning helpers ---------------------------------------------------------------------
def _missing(tool: Tool, values: Mapping[str, Any], *, ids: bool) -> str | None:
    for name, info in tool.args_model.model_fields.items():
        if info.is_required() and name not in values and args_of.is_id(name) == ids:
            return name
    return None


def _lookup_tool(id_field: str, tools: Sequence[Tool]) -> Tool | None:
    kind = id_field.removesuffix("_ids").removesuffix("_id")
    offered = {t.name: t for t in tools}
    for name in (f"search_{kind}s", f"list_{kind}s", f"search_{kind}es", f"list_{kind}es"):
        tool = offered.get(name)
        if tool is not None and "query" in tool.args_model.model_fields:
            return tool
    return None


def _question(tool: Tool, field_name: str) -> str:
    what = tool.name.replace("_", " ")
    return f"To {what}, what is the {field_name.replace('_', ' ')}?"


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
    items = _items(result) if isinstance(result, Mapping) and not result.get("id") else None
    if items is not None:
        return _list_sentence(tool, items)
    label = _label(result)
    verb = tool.split("_")[0]
    done = {"create": "Created", "add": "Added", "update": "Updated", "delete": "Deleted",
            "send": "Sent", "log": "Logged"}.get(verb)
    if done:
        return f"{done} {label}." if label else f"{done}."
    return f"Here it is: {label}." if label else "Done."


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
