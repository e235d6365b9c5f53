"""Record ids from names: which offered tool lists a kind of record, and which listed record the
user means.

A tool's id field names its kind (`deal_id` a deal, `assignee_id` a workspace member, `post_id`
a blog post). The lookup is the offered `search_<kind>s` or `list_<kind>s` tool (the target's own
domain first), called with the name the user gave when it takes a text filter, else for a page
of records. The record meant is the one whose words the message shares most; an optional field
(an assignee, a sprint) is only filled when the match is unmistakable.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import assistant.local.extract as x
from tools.registry import Tool

MEMBER_FIELDS = frozenset({"owner_id", "assignee_id", "assigned_to", "assign_to", "manager_id",
                           "recipient_id", "member_user_id", "actor_id", "user_id",
                           "round_robin_members"})
KIND_ALIASES = {"post": "blog_post", "rule": "automation_rule", "channel": "team_channel",
                "team": "agent_team", "schedule": "agent_schedule",
                "coordinator_agent": "agent", "member_agent": "agent"}
TEXT_FILTERS = ("query", "text", "search", "q")
#: Kinds several domains keep records of, each their own: only the target's domain lists them.
SHARED_KINDS = frozenset({"template", "collection", "item"})
NOT_DISTINCT = frozenset([
    "the", "a", "an", "of", "and", "or", "to", "for", "in", "on", "at", "by", "with", "my",
    "our", "your", "this", "that", "new", "old", "please", "pls", "can", "you", "me", "it",
    "its", "is", "are", "be", "from", "about", "all", "any",
])
WORD = re.compile(r"[a-z0-9]+(?:-\d+)?")


#: Optional fields that take several members, filled only when the message shares work out.
SHARED = re.compile(r"\b(?:round[- ]robin|rotat\w+|take turns|alternat\w+|split (?:it |them )?"
                    r"(?:between|among)|spread (?:them )?(?:between|among))\b", re.IGNORECASE)


def is_list(field_name: str) -> bool:
    return field_name.endswith("_ids") or field_name == "round_robin_members"


def wanted(field_name: str, text: str, values: Mapping[str, Any]) -> bool:
    """Whether an optional id field may be looked up for this message: a round-robin of
    members only when the message asks to share the work out ("goes to Lee" is one owner);
    no record another field already names ("INV-00017" is the `invoice_number`)."""
    stem = field_name.removesuffix("_id") + "_"
    if any(k.startswith(stem) for k in values):
        return False
    if field_name == "template_id" and "slug" in values:
        return False
    return field_name != "round_robin_members" or SHARED.search(text) is not None


def kind_of(field_name: str) -> str:
    if field_name in MEMBER_FIELDS:
        return "member"
    kind = field_name.removesuffix("_ids").removesuffix("_id")
    return KIND_ALIASES.get(kind, kind)


def lookup_tool(field_name: str, target: Tool, tools: Sequence[Tool]) -> Tool | None:
    """The offered tool that lists the field's kind of record, best first by domain and search."""
    kind = kind_of(field_name)
    found = []
    for tool in tools:
        verb, _, noun = tool.name.partition("_")
        singular = noun[:-1] if noun.endswith("s") else noun
        if verb not in ("list", "search") or not _names(singular, kind):
            continue
        if kind in SHARED_KINDS and singular != kind and tool.domain != target.domain:
            continue  # a grid template is no template for a studio item
        found.append((tool.domain == target.domain, verb == "search", noun == kind + "s", tool))
    found.sort(key=lambda f: f[:3], reverse=True)
    return found[0][3] if found else None


def _names(noun: str, kind: str) -> bool:
    return noun == kind or noun.endswith("_" + kind) or kind.endswith("_" + noun)


def next_page(tool: Tool, result: Any, args: Mapping[str, Any]) -> dict[str, Any] | None:
    """The arguments for the page after this one, when the list goes on (by cursor or by
    offset); a record the user named may be further down."""
    if not isinstance(result, Mapping):
        return None
    fields = tool.args_model.model_fields
    if result.get("next_cursor") and "cursor" in fields:
        return {**args, "cursor": result["next_cursor"]}
    shown = len(items(result))
    total = result.get("total")
    if "offset" in fields and isinstance(total, int) and int(args.get("offset", 0)) + shown < total:
        return {**args, "offset": int(args.get("offset", 0)) + shown}
    return None


def lookup_args(tool: Tool, name: str | None) -> dict[str, Any]:
    """A text filter with the name when the tool takes one, and as many records as allowed."""
    fields = tool.args_model.model_fields
    args: dict[str, Any] = {}
    text = next((f for f in TEXT_FILTERS if f in fields), None)
    if text and name:
        args[text] = name
    if "limit" in fields:
        args["limit"] = _maximum(tool.parameters.get("properties", {}).get("limit", {}))
    return args


def _maximum(schema: Mapping[str, Any]) -> int:
    for option in (schema, *schema.get("anyOf", ())):
        if "maximum" in option:
            return int(option["maximum"])
    return 50


#: Lists of runs filtered by what ran them: the run is found through its grid or agent.
PARENT_FIELDS = ("grid_id", "agent_id")
#: What a message says about the run it means, and the statuses that fit.
RUN_STATES = (
    (re.compile(r"\b(?:fail(?:ed|ing|ure)?|broke|error)", re.I), ("failed",)),
    (re.compile(r"\b(?:still (?:going|running)|running|in progress|stuck|waiting)\b", re.I),
     ("running", "queued", "waiting", "paused", "pending")),
)


#: Records no tool lists, read from the record that holds them: an agent's schedules come
#: with `get_agent` ("stop the CRM Data Cleaner's nightly schedule").
HELD_IN = {"agent_schedule": "get_agent"}


def parent_field(tool: Tool) -> str | None:
    """The filter a list of runs takes for what ran them (`grid_id`), or the id a tool that
    returns a record with what it holds takes (`get_agent`'s `agent_id`)."""
    fields = tool.args_model.model_fields
    if not tool.name.endswith("executions") and tool.name not in HELD_IN.values():
        return None
    return next((f for f in PARENT_FIELDS if f in fields), None)


def holder(field_name: str, tools: Sequence[Tool]) -> Tool | None:
    """The offered tool whose record holds records of this field's kind, when none lists them."""
    name = HELD_IN.get(kind_of(field_name))
    return next((t for t in tools if t.name == name), None)


def held(result: Any, kind: str) -> list[Mapping[str, Any]]:
    """The records of a kind inside a holder's result (an agent's `schedules`), or its list."""
    key = kind.split("_")[-1] + "s"
    inner = result.get(key) if isinstance(result, Mapping) else None
    if not isinstance(inner, list):
        return items(result)
    return [r for r in inner if isinstance(r, Mapping)]


def newest(runs: Sequence[Mapping[str, Any]], text: str) -> str | None:
    """The newest run (lists come newest first) in the state the message names, if any."""
    for pattern, states in RUN_STATES:
        if pattern.search(text):
            runs = [r for r in runs if str(r.get("status", "")) in states] or runs
            break
    return str(runs[0]["id"]) if runs and runs[0].get("id") else None


def takes_filter(tool: Tool) -> bool:
    return any(f in tool.args_model.model_fields for f in TEXT_FILTERS)


def reference(text: str, kind: str, taken: Collection[object] = (),
              loose: bool = False, sure: bool = True) -> str | None:
    """The name a message gives a record: quoted, a code like INV-00042, a #channel, a person's
    or a company's name, or the words between "the" and the kind ("the Lead enrichment grid").
    Text already read as another argument (the new deal's quoted title) names nothing."""
    noun = re.escape(kind.split("_")[-1])
    written = (x.quoted(text), re.findall(r"\b[A-Z]{2,5}-\d{2,}\b", text),
               re.findall(r"#([\w-]+)", text))
    for found in written if kind != "member" else ():  # (a person is named, not quoted)
        found = [f for f in found if f not in taken or _named_as(f, noun, text)]
        if found:
            return found[0]
    # A name inside text read as another argument ("Ledger" of the title "Ledger
    # integration") names nothing either.
    rest = _without_taken(text, taken)
    # Full names and companies before a lone capitalised word ("Budget is 40k"), and no
    # command said capitalised at the start ("Notify Vic Moreau").
    found = [_without_command(n) for n in x.person_names(text)]
    found = ([n for n in found if " " in n] + x.company_names(text)
             + [n for n in found if n and " " not in n])
    names = [n for n in found if n and re.search(rf"(?<!\w){re.escape(n)}(?!\w)", rest)]
    if kind == "member":  # whom it goes to: "hand Ravi Silva's thread over to Sam"
        toward = [n for n in names if re.search(
            rf"\b(?:to|for|by|owner|assignee|assigned to|owned by)\s+{re.escape(n)}\b", text)]
        names = toward + names
    if names:
        return names[0]
    between = re.search(rf"\bthe\s+([A-Z][\w'&-]*(?:\s+[\w'&-]+){{0,4}}?)\s+{noun}s?\b", text)
    if between:
        return between[1]
    # "the failed runs for CRM Data Cleaner": a capitalised name at the end
    last = re.search(r"\b(?:for|of|from|by|on|with)\s+((?:[A-Z][\w&'-]*\s*){2,4})[?.!]*$", text)
    if last:
        return last[1].strip()
    # "check the lead enrichment grid": the kind said after the name, in lower case
    lower = re.search(rf"\bthe\s+((?:[a-z][\w'&-]*\s+){{1,4}}?){noun}s?\b", text)
    if lower and any(w not in _plain_words() for w in lower[1].split()):
        return lower[1].strip()
    return _unwritten_name(rest, kind, sure) if loose else None


def _without_taken(text: str, taken: Collection[object]) -> str:
    for value in taken:
        text = text.replace(value, " ") if isinstance(value, str) and value else text
    return text


@functools.cache
def _plain_words() -> frozenset[str]:
    """Words that are never a name written in lower case ("delete felix moreau, dupe
    contact"); built once (the other modules import this one, so not at import time)."""
    from assistant.local import arguments as a
    from assistant.local.select import VERBS
    said = {w for cues in VERBS.values() for cue in cues for w in cue.split()}
    return frozenset(a.COMMAND | a.CONNECT | a.QUESTION | a.GENERIC | a.KIND_WORDS | NOT_DISTINCT
                     | said | COMMON)


COMMON = frozenset([
    "he", "she", "they", "them", "their", "his", "her", "we", "i", "you", "it", "its", "this",
    "that", "these", "those", "was", "were", "be", "been", "being", "do", "does", "did", "done",
    "not", "no", "yes", "just", "now", "then", "there", "here", "what", "when", "where", "who",
    "why", "how", "all", "any", "some", "every", "each", "other", "new", "old", "next", "last",
    "first", "please", "thanks", "thank", "pls", "plz", "ok", "okay", "hey", "hi", "so", "also",
    "too", "very", "really", "still", "again", "back", "up", "out", "off", "over", "into",
    "onto", "about", "via", "per", "dupe", "duplicate", "stuck", "sitting", "today", "tomorrow",
    "yesterday", "week", "month", "year", "morning", "afternoon", "evening", "am", "pm", "asap",
    "urgent", "high", "low", "medium", "priority", "stage", "status", "deal", "deals", "contact",
    "contacts", "task", "tasks", "score", "scores", "run", "runs", "signups", "thread",
    "threads", "pricing", "renewal", "terms", "proposal", "note", "notes", "call", "calls",
    "email", "emails", "meeting", "meetings", "quick", "update", "updated", "change", "changed",
    "thing", "things", "wants", "want", "need", "needs", "asked", "ask", "said", "says", "told",
    "tell", "let", "lets", "get", "got", "give", "gave", "make", "made", "good", "great", "bad",
    "more", "less", "most", "least", "much", "many", "few", "one", "two", "three", "four",
    "five", "six", "seven", "eight", "nine", "ten", "hundred", "thousand", "million", "k",
])


def _unwritten_name(rest: str, kind: str, sure: bool = True) -> str | None:
    """A name written in lower case: a run of words that are no command, question, kind or
    everyday word ("felix moreau"); for a member, one such word after the word that hands
    work over ("over to sam", "remind lee"). Unless a wrong guess costs only a lookup
    (`sure`), only a name right after "for"/"with" is guessed ("new project for globex:").
    `rest` is the message without the text other arguments took."""
    plain = _plain_words()
    if kind == "member":
        said = re.search(r"\b(?:to|for|assign|remind|ping|tell|notify|have|ask|with|by)\s+"
                         r"([a-z][a-z'-]+)\b", rest)
        return said[1] if said and said[1] not in plain else None
    if not sure:
        said = re.search(r"\b(?:for|with)\s+([a-z][a-z'&-]+(?:\s+[a-z][a-z'&-]+)?)\s*(?:[:,.]|$)",
                         rest)
        named = said[1].split() if said else []
        return said[1] if said and all(w not in plain for w in named) else None
    words = [w.removesuffix("'s") for w in re.findall(r"[\w'-]+", rest)]
    runs = re.findall(r"(?:\b[a-z][a-z'-]*\b\s*){2,3}", " ".join(
        w if w.isalpha() and w.lower() not in plain else "|" for w in words))
    names = [r.strip() for r in runs if r.strip()]
    return names[0] if names else None


def _without_command(name: str) -> str:
    words = name.split()
    while len(words) > 1 and words[0].lower() in _plain_words():
        words.pop(0)
    return " ".join(words)


def _named_as(name: str, noun: str, text: str) -> bool:
    """Whether the text calls `name` a record of this kind: "the 'When not to automate' idea"."""
    return re.search(rf"{re.escape(name)}['\"\u2019\u201d]?\s+{noun}s?\b", text) is not None


# -- choosing the record -------------------------------------------------------------------
@dataclass(frozen=True)
class Match:
    id: str
    shared: int  # the score: words shared, those of the record's name twice, +2 if whole
    whole: bool  # every distinctive word of the record's name is in the message
    label: str
    words: int = 0  # distinctive words the message and the record share


def items(result: Any) -> list[Mapping[str, Any]]:
    if isinstance(result, Mapping):
        for value in result.values():
            if isinstance(value, list):
                return [v for v in value if isinstance(v, Mapping)]
        return [result] if result.get("id") else []
    return [v for v in result if isinstance(v, Mapping)] if isinstance(result, list) else []


def capitalised(text: str) -> list[str]:
    """Names written as names: runs of two or more capitalised words ("Pause Lead Scout")."""
    return [m.group() for m in re.finditer(r"\b[A-Z][\w'&-]*(?:\s+[A-Z][\w'&-]*)+", text)]


def _other_named(record: Mapping[str, Any], runs: Sequence[str]) -> bool:
    """Whether the message names something else with this record's words: a capitalised name
    that shares a word with the record and has a distinctive word it lacks ("Lead Scout" is
    not the campaign "Lead nurture")."""
    words = _record_words(record)
    for run in runs:
        said = _words(re.sub(r"['\u2019]s\b", "", run)) - NOT_DISTINCT
        if said & words and said - _plain_words() - words:
            return True
    return False


def best(text: str, records: Sequence[Mapping[str, Any]], kind: str,
         named: Sequence[str] = ()) -> Match | None:
    """The record the message names; None when two fit equally, or when a name it gives
    (`named`, see `_other_named`) is something else."""
    scored = ranked(text, records, kind)
    if not scored:
        return None
    if len(scored) > 1 and scored[1].shared == scored[0].shared and not scored[0].whole:
        return None  # two records fit equally: do not guess
    top = scored[0]
    if named and not top.whole:
        record = next((r for r in records if str(r.get("id") or r.get("user_id")) == top.id), {})
        if _other_named(record, named):
            return None
    return top


def all_named(text: str, records: Sequence[Mapping[str, Any]], kind: str,
              taken: Collection[str] = ()) -> list[str]:
    """Every record the message names in full ("Task Router and Meeting Notetaker are the
    members"), in the order it names them, except those another field took."""
    said = _words(text)
    lowered = text.lower()
    named = []
    for record in records:
        rid = str(record.get("id") or record.get("user_id") or "")
        words = _words(label_of(record)) - NOT_DISTINCT - set(kind.split("_"))
        if rid and rid not in taken and words and words <= said:
            first = min(lowered.find(w) for w in words)
            named.append((first, rid))
    return [rid for _, rid in sorted(set(named))]


def qualifier(field_name: str) -> str | None:
    """The word a field adds to its kind ("coordinator" of `coordinator_agent_id`), cut to a
    stem that its verb shares ("coordinates")."""
    kind = kind_of(field_name)
    words = [w for w in field_name.removesuffix("_ids").removesuffix("_id").split("_")
             if w not in kind.split("_")]
    return words[0][:6] if words and len(words[0]) > 4 else None


def nearest(text: str, matches: Sequence[Match], word: str) -> Match | None:
    """Of records named in full, the one named nearest a word ("Inbox Triage coordinates")."""
    lowered = text.lower()
    spots = [m.start() for m in re.finditer(rf"\b{re.escape(word)}", lowered)]
    if not spots:
        return None
    placed = []
    for match in matches:
        words = [w for w in _words(match.label) if w not in NOT_DISTINCT]
        at = [lowered.find(w) for w in words if lowered.find(w) >= 0]
        if match.whole and at:
            placed.append((min(abs(s - a) for s in spots for a in at), match))
    return min(placed, key=lambda p: p[0])[1] if placed else None


def ranked(text: str, records: Sequence[Mapping[str, Any]], kind: str) -> list[Match]:
    """Every record that shares a distinctive word with the message, best first."""
    said = _words(text) - NOT_DISTINCT - set(kind.split("_"))
    scored = [_match(record, said, kind) for record in records]
    return sorted((m for m in scored if m is not None and m.shared > 0),
                  key=lambda m: m.shared, reverse=True)


def _match(record: Mapping[str, Any], said: set[str], kind: str) -> Match | None:
    rid = record.get("id") or record.get("user_id")
    if not rid:
        return None
    label = label_of(record)
    name_words = _words(label) - NOT_DISTINCT - set(kind.split("_"))
    words = _record_words(record) - NOT_DISTINCT - set(kind.split("_"))
    # A word of the record's name counts twice: "Coho Winery onboarding" means the deal
    # named "Onboarding package", not another whose notes mention onboarding.
    shared = len(said & words)
    whole = bool(name_words) and name_words <= said
    return Match(str(rid), shared + len(said & name_words) + (2 if whole else 0), whole, label,
                 shared)


def names(said: str, label: str) -> bool:
    """Whether words said name this record ("Sam" names "Sam Rivera")."""
    words = _words(said) - NOT_DISTINCT
    return bool(words) and words <= _words(label)


def sure(match: Match, text: str, kind: str) -> bool:
    """Strong enough to fill an optional field the user may not have meant."""
    if match.whole or match.words >= 3:
        return True
    first = match.label.split()[0] if match.label else ""
    said = bool(first) and re.search(rf"\b{re.escape(first)}\b", text, re.IGNORECASE) is not None
    return kind == "member" and said


def label_of(record: Mapping[str, Any]) -> str:
    for key in ("name", "title", "subject", "invoice_number", "description"):
        if record.get(key):
            return str(record[key])
    first, last = record.get("first_name"), record.get("last_name")
    return " ".join(str(p) for p in (first, last) if p)


def _record_words(record: Mapping[str, Any]) -> set[str]:
    words: set[str] = set()
    for key, value in record.items():
        if isinstance(value, str) and not key.endswith(("id", "_at", "url")) and len(value) < 200:
            words |= _words(value)
        elif isinstance(value, Mapping) and key in ("contact", "customer", "agent", "grid"):
            words |= _record_words(value)
    return words


def _words(text: str) -> set[str]:
    return set(WORD.findall(text.lower()))
