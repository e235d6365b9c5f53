"""Versioned prompt templates: load them by name and version, render them strictly, and compose
the system prompt of a chat turn.

Layout: `templates/<version>/<name>.md`, where a name may contain folders (`channel/web`).
Templates use `string.Template` placeholders (`$today`); a literal dollar sign is written `$$`.

Each version is complete. A version directory must hold every template in `REQUIRED_TEMPLATES`,
and nothing falls back to another version: a prompt measured as `v2` is exactly the text in
`v2/`, so an eval result never silently mixes versions. `PromptLibrary.problems()` reports an
incomplete version (a test runs it on every shipped version; the service can run `verify()` at
startup, which also reads every template once so no turn waits on the disk).

Identity of a prompt is its content: `Prompt.sha256` hashes the template's source bytes, and
`Prompt.ref` (`name@version#sha256[:12]`) is what turns and eval reports record. Templates are
read once per library and cached (listings too); to see an edited or added file, build a new
`PromptLibrary`.
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

DEFAULT_VERSION = "v1"
TEMPLATES_DIR = Path(__file__).with_name("templates")
SUFFIX = ".md"
CHANNEL_PREFIX = "channel/"
CHANNELS = ("api", "slack", "sms", "voice", "web")

NOTHING: frozenset[str] = frozenset()
# The placeholders each template takes. They are part of the runtime's contract with the
# templates, so every version must use exactly these; a channel template takes none.
PLACEHOLDERS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "persona": frozenset({"workspace_name", "user_name", "today", "timezone"}),
        "tool_rules": NOTHING,
        "preferences": frozenset({"tone", "verbosity", "language"}),
        "page_context": frozenset({"page", "record_type", "record_id", "selection"}),
        "summarize": NOTHING,
        "title": NOTHING,
        **{f"{CHANNEL_PREFIX}{channel}": NOTHING for channel in CHANNELS},
    }
)
REQUIRED_TEMPLATES = tuple(sorted(PLACEHOLDERS))


class PromptError(Exception):
    """A prompt template is missing, malformed, or was rendered with the wrong values."""


class PromptNotFound(PromptError, LookupError):
    """No template (or version, or channel) by that name; the message lists what exists."""


class PromptRenderError(PromptError, ValueError):
    """Values do not match a template's placeholders; `missing` and `unexpected` name them."""

    def __init__(self, what: str, missing: Iterable[str], unexpected: Iterable[str]) -> None:
        self.missing = tuple(sorted(missing))
        self.unexpected = tuple(sorted(unexpected))
        reasons = []
        if self.missing:
            reasons.append(f"missing values for {_listing(self.missing)}")
        if self.unexpected:
            reasons.append(f"unexpected values {_listing(self.unexpected)}")
        super().__init__(f"{what}: {'; '.join(reasons)}")


def _listing(items: Iterable[str]) -> str:
    return ", ".join(items) or "(none)"


def _natural_key(text: str) -> tuple[str | int, ...]:
    """Sort `v2` before `v10`. re.split with a group alternates text and digits, so the
    element types line up position by position and tuples always compare."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text))


def _visible(name: str) -> bool:
    """Hidden and private entries (`.git`, `__pycache__`, `_drafts`) are not prompts."""
    return not name.startswith((".", "_"))


@dataclass(frozen=True)
class Prompt:
    """One template of one version, identified by the hash of its source bytes."""

    name: str
    version: str
    text: str
    sha256: str

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}#{self.sha256[:12]}"

    @property
    def placeholders(self) -> frozenset[str]:
        return frozenset(string.Template(self.text).get_identifiers())

    def render(self, **values: str) -> str:
        """Fill every placeholder. Strict both ways: a missing value would leave `$x` in front
        of the model, and an unused one usually means the caller and template disagree."""
        missing = self.placeholders - values.keys()
        unexpected = values.keys() - self.placeholders
        if missing or unexpected:
            raise PromptRenderError(self.ref, missing, unexpected)
        not_text = sorted(key for key, value in values.items() if not isinstance(value, str))
        if not_text:
            raise TypeError(f"{self.ref}: values must be strings; {_listing(not_text)} are not")
        return string.Template(self.text).substitute(values)


@dataclass(frozen=True)
class SystemPrompt:
    """The rendered system prompt of a turn.

    `ref` is `system@<version>#<h[:12]>` where `h` is the sha256 of the lines
    `"<part name> <part sha256>"` (in part order, joined by "\\n"), i.e. a hash over the part
    templates' sources, never over the rendered text: the ref stays the same across turns,
    users and dates, and changes whenever any part's source changes. The eval harness groups
    results by it and can recompute it from the parts. `parts` holds each part's `Prompt.ref`.
    """

    text: str
    ref: str
    parts: tuple[str, ...]


def system_hash(parts: Iterable[Prompt]) -> str:
    """The `h` of a `SystemPrompt.ref` (full hex); see `SystemPrompt`."""
    lines = "\n".join(f"{part.name} {part.sha256}" for part in parts)
    return hashlib.sha256(lines.encode()).hexdigest()


def system_part_names(channel: str) -> tuple[str, ...]:
    """The templates a system prompt is made of, in the order they appear."""
    return ("persona", "tool_rules", f"{CHANNEL_PREFIX}{channel}", "preferences", "page_context")


# The values `compose_system` needs, whatever the channel.
SYSTEM_VALUES: frozenset[str] = frozenset().union(
    *(PLACEHOLDERS[name] for name in system_part_names(CHANNELS[0]))
)


@dataclass
class PromptLibrary:
    """The templates under one directory (`<root>/<version>/<name>.md`). Each version's listing
    and each template are read once, so composing a turn's prompt touches no disk after the
    first turn (or after `verify()`)."""

    root: Path
    _cache: dict[tuple[str, str], Prompt] = field(default_factory=dict, init=False, repr=False)
    _listings: dict[str, tuple[str, ...]] = field(default_factory=dict, init=False, repr=False)

    def versions(self) -> list[str]:
        if not self.root.is_dir():
            return []
        found = (p.name for p in self.root.iterdir() if p.is_dir() and _visible(p.name))
        return sorted(found, key=_natural_key)

    def names(self, version: str = DEFAULT_VERSION) -> list[str]:
        listing = self._listings.get(version)
        if listing is None:
            directory = self._version_dir(version)
            paths = (p.relative_to(directory) for p in directory.rglob(f"*{SUFFIX}") if p.is_file())
            visible = (p.with_suffix("").as_posix() for p in paths if all(map(_visible, p.parts)))
            listing = self._listings[version] = tuple(sorted(visible))
        return list(listing)

    def channels(self, version: str = DEFAULT_VERSION) -> list[str]:
        names = self.names(version)
        return [n.removeprefix(CHANNEL_PREFIX) for n in names if n.startswith(CHANNEL_PREFIX)]

    def load(self, name: str, version: str = DEFAULT_VERSION) -> Prompt:
        cached = self._cache.get((name, version))
        if cached is not None:
            return cached
        known = self.names(version)
        if name not in known:
            raise PromptNotFound(f"no prompt {name!r} in {version}; it has {_listing(known)}")
        prompt = self._read(name, version)
        self._cache[(name, version)] = prompt
        return prompt

    def compose_system(
        self, channel: str, *, version: str = DEFAULT_VERSION, values: Mapping[str, str]
    ) -> SystemPrompt:
        """Persona, tool rules, channel style, preferences and page context, rendered and
        joined by blank lines. `values` holds every placeholder of those parts, no more."""
        channels = self.channels(version)
        if channel not in channels:
            known = _listing(channels)
            raise PromptNotFound(f"no channel {channel!r} in {version}; channels: {known}")
        parts = [self.load(name, version) for name in system_part_names(channel)]
        wanted = frozenset().union(*(part.placeholders for part in parts))
        if wanted != set(values):
            what = f"system prompt for {channel}@{version}"
            raise PromptRenderError(what, wanted - values.keys(), values.keys() - wanted)
        rendered = (
            part.render(**{key: values[key] for key in part.placeholders}).strip() for part in parts
        )
        return SystemPrompt(
            text="\n\n".join(rendered),
            ref=f"system@{version}#{system_hash(parts)[:12]}",
            parts=tuple(part.ref for part in parts),
        )

    def problems(self) -> list[str]:
        """Everything wrong with the library, read from every template of every version."""
        versions = self.versions()
        if not versions:
            return [f"no prompt versions under {self.root}"]
        return [problem for version in versions for problem in self._version_problems(version)]

    def verify(self) -> None:
        """Raise `PromptError` listing every problem; reads (and caches) every template."""
        found = self.problems()
        if found:
            raise PromptError("prompt templates are not usable:\n- " + "\n- ".join(found))

    def _version_problems(self, version: str) -> list[str]:
        names = self.names(version)
        found = [f"{version} lacks {name}" for name in REQUIRED_TEMPLATES if name not in names]
        for name in names:
            try:
                prompt = self.load(name, version)
            except PromptError as exc:
                found.append(str(exc))
                continue
            expected = PLACEHOLDERS.get(name, NOTHING if name.startswith(CHANNEL_PREFIX) else None)
            if expected is not None and prompt.placeholders != expected:
                found.append(
                    f"{prompt.ref} takes {_listing(sorted(prompt.placeholders))}; "
                    f"expected {_listing(sorted(expected))}"
                )
        return found

    def _version_dir(self, version: str) -> Path:
        known = self.versions()
        if version not in known:
            raise PromptNotFound(f"no prompt version {version!r}; versions: {_listing(known)}")
        return self.root / version

    def _read(self, name: str, version: str) -> Prompt:
        source = (self.root / version / f"{name}{SUFFIX}").read_bytes()
        try:
            text = source.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PromptError(f"{name}@{version} is not UTF-8: {exc}") from exc
        if not string.Template(text).is_valid():
            raise PromptError(
                f"{name}@{version} has a `$` that starts no placeholder; write `$$` for a dollar"
            )
        return Prompt(name, version, text, hashlib.sha256(source).hexdigest())


DEFAULT_LIBRARY = PromptLibrary(TEMPLATES_DIR)


def load(name: str, version: str = DEFAULT_VERSION) -> Prompt:
    return DEFAULT_LIBRARY.load(name, version)


def versions() -> list[str]:
    return DEFAULT_LIBRARY.versions()


def names(version: str = DEFAULT_VERSION) -> list[str]:
    return DEFAULT_LIBRARY.names(version)


def channels(version: str = DEFAULT_VERSION) -> list[str]:
    return DEFAULT_LIBRARY.channels(version)


def compose_system(
    channel: str, *, version: str = DEFAULT_VERSION, values: Mapping[str, str]
) -> SystemPrompt:
    return DEFAULT_LIBRARY.compose_system(channel, version=version, values=values)
