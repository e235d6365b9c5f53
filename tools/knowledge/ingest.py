"""Turning a document into the chunks search runs over: parse, find sections, cut chunks.

Every format becomes the same thing first: a text plus its sections (a heading path and the span
of the section's body in that text). Markdown keeps its text as it is; HTML is rendered to
Markdown (headings as `#` lines, scripts, styles, navigation and footers dropped), and that
rendering is what the item stores, so a chunk's `location` (character offsets) always points
into the item's own `content`. Plain text is one section without a heading.

Chunks never cross a heading: a citation names one section a reader can find. A section longer
than the target is cut at sentence boundaries into near-equal parts that overlap by a sentence
or two, so a fact on a cut is whole in at least one chunk. Each chunk's content starts with its
heading path ("Pricing > Enterprise"), which both full-text search and the embedding then see.

Token counts are an estimate (words plus punctuation marks, which is close to what WordPiece
and BPE tokenizers produce for English prose): `tools` may not import the runtime's tiktoken
counter, and a chunk's size only needs to be about right. A PDF (an upload's bytes) becomes
Markdown first with `pdf_to_markdown` (pypdf, pure Python): one section per page with text.
"""

from __future__ import annotations

import enum
import io
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from store.errors import InvalidArgument

#: The most (estimated) tokens a chunk holds, heading included: the local model reads 256
#: word pieces. A longer section is cut into equal parts that overlap by about `OVERLAP_TOKENS`.
MAX_TOKENS = 250
OVERLAP_TOKENS = 40
HEADING_SEPARATOR = " > "

_TOKEN = re.compile(r"\w+|[^\w\s]")
_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n+")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n(?=\s*(?:[-*+]|\d+[.)])\s)")


class DocumentFormat(enum.StrEnum):
    TEXT = "text"
    MARKDOWN = "markdown"
    HTML = "html"


MIME_TYPES = {
    DocumentFormat.TEXT: "text/plain",
    DocumentFormat.MARKDOWN: "text/markdown",
    DocumentFormat.HTML: "text/html",
}


@dataclass(frozen=True, slots=True)
class Section:
    """A heading path and the span of its body (without the heading line) in the text."""

    path: tuple[str, ...]
    start: int
    end: int

    @property
    def heading(self) -> str | None:
        return HEADING_SEPARATOR.join(self.path) or None


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    """The text an item stores and chunk offsets refer to, cut into sections."""

    text: str
    sections: tuple[Section, ...]


@dataclass(frozen=True, slots=True)
class Chunk:
    content: str
    heading: str | None
    token_count: int
    location: dict[str, Any] = field(default_factory=dict)


def estimate_tokens(text: str) -> int:
    """Words plus punctuation marks: about what a subword tokenizer makes of English prose."""
    return len(_TOKEN.findall(text))


# -- parsing ----------------------------------------------------------------------------------


def pdf_to_markdown(data: bytes, *, max_pages: int = 500) -> str:
    """A PDF's text, one `## Page N` section per page, so chunks cite their page. Pages with no
    extractable text (scans) are skipped; a file that is not a readable PDF, or has no text at
    all, is an InvalidArgument saying so."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise InvalidArgument("the PDF is encrypted; upload an unprotected copy")
        pages = [(page.extract_text() or "").strip() for page in reader.pages[:max_pages]]
    except (PdfReadError, ValueError, KeyError) as exc:
        raise InvalidArgument(f"not a readable PDF: {exc}") from exc
    sections = [f"## Page {n}\n\n{text}" for n, text in enumerate(pages, start=1) if text]
    if not sections:
        raise InvalidArgument("the PDF has no extractable text (is it a scan?)")
    return "\n\n".join(sections)


def parse(content: str, fmt: DocumentFormat) -> ParsedDocument:
    """The document's stored text and its sections, whatever the input format."""
    if fmt == DocumentFormat.HTML:
        return parse_markdown(html_to_markdown(content))
    if fmt == DocumentFormat.MARKDOWN:
        return parse_markdown(content)
    return ParsedDocument(text=content, sections=(Section((), 0, len(content)),))


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """(offset, line without its newline) for every line."""
    offset = 0
    for line in text.splitlines(keepends=True):
        yield offset, line.rstrip("\r\n")
        offset += len(line)


def parse_markdown(text: str) -> ParsedDocument:
    """Sections under ATX headings (`## Title`); `#` lines inside code fences are code."""
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    body_start, fence = 0, None
    for offset, line in _lines(text):
        fence_mark = _FENCE.match(line)
        if fence_mark and (fence is None or fence_mark.group(1)[0] == fence):
            fence = fence_mark.group(1)[0] if fence is None else None
            continue
        heading = None if fence else _ATX_HEADING.match(line)
        if heading is None:
            continue
        sections.append(Section(tuple(title for _, title in path), body_start, offset))
        level = len(heading.group(1))
        path = [(lvl, title) for lvl, title in path if lvl < level]
        path.append((level, heading.group(2).strip()))
        body_start = offset + len(line) + 1
    sections.append(Section(tuple(title for _, title in path), body_start, len(text)))
    kept = tuple(s for s in sections if s.start < s.end and text[s.start:s.end].strip())
    return ParsedDocument(text=text, sections=kept)


# -- HTML -------------------------------------------------------------------------------------

_SKIPPED = frozenset({"script", "style", "nav", "noscript", "template", "svg", "iframe",
                      "footer", "head", "button", "select"})
_BLOCKS = frozenset({"p", "div", "section", "article", "main", "header", "aside", "table", "tr",
                     "ul", "ol", "dl", "dd", "dt", "blockquote", "pre", "figure", "figcaption",
                     "form", "fieldset", "address", "details", "summary", "hr", "body"})
_HEADINGS = {f"h{n}": n for n in range(1, 7)}


class _MarkdownRenderer(HTMLParser):
    """HTML to Markdown text: headings, paragraphs and list items; everything else is text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping: list[str] = []
        self.in_pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body" and "head" in self.skipping:  # an unclosed <head> ends at <body>
            self.skipping = [t for t in self.skipping if t != "head"]
        if tag in _SKIPPED:
            self.skipping.append(tag)
        elif self.skipping:
            return
        elif tag in _HEADINGS:
            self.parts.append("\n\n" + "#" * _HEADINGS[tag] + " ")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in ("br", "td", "th"):
            self.parts.append("\n" if tag == "br" else " ")
        elif tag == "pre":
            self.in_pre += 1
            self.parts.append("\n\n```\n")
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            if tag in self.skipping:
                del self.skipping[len(self.skipping) - 1 - self.skipping[::-1].index(tag)]
        elif self.skipping:
            return
        elif tag == "pre" and self.in_pre:
            self.in_pre -= 1
            self.parts.append("\n```\n\n")
        elif tag in _HEADINGS or tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        self.parts.append(data if self.in_pre else re.sub(r"\s+", " ", data))

    def markdown(self) -> str:
        """The collected text with lines trimmed (inside code fences only on the right) and
        runs of blank lines reduced to one."""
        lines, fenced = [], False
        for line in "".join(self.parts).split("\n"):
            if line.strip() == "```":
                fenced = not fenced
            lines.append(line.rstrip() if fenced and line.strip() != "```" else line.strip())
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def html_to_markdown(html: str) -> str:
    """The readable text of an HTML page as Markdown, without scripts, styles and navigation."""
    renderer = _MarkdownRenderer()
    renderer.feed(html)
    renderer.close()
    return renderer.markdown()


# -- chunking ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Unit:
    """A sentence (or a piece of an over-long one): a span of the text and its token count."""

    start: int
    end: int
    tokens: int


def _units(text: str, start: int, end: int, limit: int) -> list[_Unit]:
    """The sentences of `text[start:end]` as spans; sentences over `limit` tokens are cut."""
    units: list[_Unit] = []
    for p_start, p_end in _spans(_PARAGRAPH_BREAK, text, start, end):
        for s_start, s_end in _spans(_SENTENCE_END, text, p_start, p_end):
            units.extend(_split_long(text, s_start, s_end, limit))
    return units


def _spans(
    separator: re.Pattern[str], text: str, start: int, end: int
) -> Iterator[tuple[int, int]]:
    """Non-blank pieces of `text[start:end]` between matches of `separator`, stripped."""
    position = start
    for match in separator.finditer(text, start, end):
        yield from _stripped(text, position, match.start())
        position = match.end()
    yield from _stripped(text, position, end)


def _stripped(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    piece = text[start:end]
    if piece.strip():
        yield start + len(piece) - len(piece.lstrip()), end - (len(piece) - len(piece.rstrip()))


def _split_long(text: str, start: int, end: int, limit: int) -> list[_Unit]:
    """A sentence as one unit, or cut between words into pieces of about `limit` tokens."""
    tokens = estimate_tokens(text[start:end])
    if tokens <= limit:
        return [_Unit(start, end, tokens)]
    words = [(start + m.start(), start + m.end()) for m in re.finditer(r"\S+", text[start:end])]
    step = max(1, limit * len(words) // tokens)
    pieces = [(words[i][0], words[min(i + step, len(words)) - 1][1])
              for i in range(0, len(words), step)]
    return [_Unit(a, b, estimate_tokens(text[a:b])) for a, b in pieces]


def _pack(units: list[_Unit], budget: int, overlap: int) -> list[list[_Unit]]:
    """Consecutive units in groups of at most `budget` tokens, of about equal size (never a
    full group and a scrap); a group repeats up to `overlap` tokens from the end of the one
    before it. A unit joins the group when that leaves it nearer the goal size than without."""
    total = sum(u.tokens for u in units)
    if total <= budget:
        return [units]
    parts = math.ceil((total - overlap) / (budget - overlap))
    goal = min(budget, (total - overlap) / parts + overlap)
    groups: list[list[_Unit]] = []
    current: list[_Unit] = []
    for unit in units:
        size = sum(u.tokens for u in current)
        if current and (size + unit.tokens > budget or size + unit.tokens - goal > goal - size):
            groups.append(current)
            current = _tail(current, overlap)
            if sum(u.tokens for u in current) + unit.tokens > budget:
                current = []
        current.append(unit)
    groups.append(current)
    return groups


def _tail(units: list[_Unit], overlap: int) -> list[_Unit]:
    """The last units of a group that fit in `overlap` tokens, never the whole group."""
    kept: list[_Unit] = []
    for unit in reversed(units[1:]):
        if sum(u.tokens for u in kept) + unit.tokens > overlap:
            break
        kept.insert(0, unit)
    return kept


def chunk_document(
    document: ParsedDocument, *, max_tokens: int = MAX_TOKENS, overlap: int = OVERLAP_TOKENS,
) -> list[Chunk]:
    """Chunks of every section in order; each starts with its heading path and stays within
    `max_tokens` (estimated) when its sentences allow."""
    chunks: list[Chunk] = []
    for index, section in enumerate(document.sections):
        prefix = f"{section.heading}\n\n" if section.heading else ""
        room = max(max_tokens - estimate_tokens(prefix), overlap * 3)
        units = _units(document.text, section.start, section.end, room - overlap)
        for part, group in enumerate(_pack(units, room, overlap)):
            start, end = group[0].start, group[-1].end
            content = prefix + document.text[start:end]
            chunks.append(Chunk(
                content=content, heading=section.heading, token_count=estimate_tokens(content),
                location={"start": start, "end": end, "section": index, "part": part},
            ))
    return chunks


def chunk_text(content: str, fmt: DocumentFormat, **sizes: int) -> tuple[str, list[Chunk]]:
    """(the text to store as the item's content, its chunks) for raw input in `fmt`."""
    document = parse(content, fmt)
    return document.text, chunk_document(document, **sizes)
