"""Parsing and chunking: heading paths, section boundaries, overlap, sizes, offsets, HTML."""

from __future__ import annotations

import itertools
import re

import pytest

from store.errors import InvalidArgument
from tests.knowledge import corpus
from tools.knowledge.ingest import (
    MAX_TOKENS,
    DocumentFormat,
    chunk_document,
    chunk_text,
    estimate_tokens,
    html_to_markdown,
    parse,
    pdf_to_markdown,
)

GUIDE = """Intro line before any heading.

# Pricing

Plans are billed per seat.

## Starter

Starter is for small teams.

## Enterprise

Enterprise adds SSO.

```python
# not a heading: code
print("hi")
```

### Contracts

Annual contracts only.

# Support

Email us.
"""


def test_chunks_carry_their_heading_path_and_never_cross_a_heading() -> None:
    text, chunks = chunk_text(GUIDE, DocumentFormat.MARKDOWN)
    assert text == GUIDE
    assert [c.heading for c in chunks] == [
        None, "Pricing", "Pricing > Starter", "Pricing > Enterprise",
        "Pricing > Enterprise > Contracts", "Support",
    ]
    enterprise = chunks[3]
    assert enterprise.content.startswith("Pricing > Enterprise\n\nEnterprise adds SSO.")
    assert "# not a heading: code" in enterprise.content  # fenced code stays in its section
    assert "Annual contracts" not in enterprise.content
    assert chunks[0].content == "Intro line before any heading."


def test_location_offsets_point_into_the_stored_text() -> None:
    text, chunks = chunk_text(GUIDE, DocumentFormat.MARKDOWN)
    for chunk in chunks:
        start, end = chunk.location["start"], chunk.location["end"]
        assert chunk.content.endswith(text[start:end])
    assert [c.location["section"] for c in chunks] == list(range(len(chunks)))


def long_section(sentences: int) -> str:
    body = " ".join(f"Fact {i} says that widget {i} weighs {i * 3} grams."
                    for i in range(sentences))
    return f"# Catalogue\n\n## Weights\n\n{body}\n"


def test_a_long_section_is_cut_into_equal_overlapping_parts_within_the_limit() -> None:
    text, chunks = chunk_text(long_section(200), DocumentFormat.MARKDOWN)
    assert len(chunks) >= 8
    assert {c.heading for c in chunks} == {"Catalogue > Weights"}
    assert all(c.token_count <= MAX_TOKENS for c in chunks)
    sizes = [c.token_count for c in chunks]
    assert min(sizes) >= 0.7 * max(sizes)  # near-equal parts, no scrap at the end
    assert [c.location["part"] for c in chunks] == list(range(len(chunks)))
    for before, after in itertools.pairwise(chunks):
        assert after.location["start"] < before.location["end"]  # they overlap...
        shared = text[after.location["start"]:before.location["end"]]
        assert 10 <= estimate_tokens(shared) <= 40  # ...by whole sentences up to the overlap
        assert shared.endswith(".")
    every_fact = " ".join(c.content for c in chunks)
    assert all(f"Fact {i} says" in every_fact for i in range(200))


def test_a_short_section_stays_whole_and_an_overlong_sentence_is_cut() -> None:
    _, [chunk] = chunk_text(long_section(3), DocumentFormat.MARKDOWN)
    assert chunk.location["part"] == 0 and "Fact 2 says" in chunk.content
    run_on = "word " * 1000
    _, chunks = chunk_text(run_on, DocumentFormat.TEXT)
    assert len(chunks) >= 4 and all(c.token_count <= MAX_TOKENS for c in chunks)
    assert all(c.heading is None for c in chunks)


def test_plain_text_is_one_section_without_headings() -> None:
    document = parse("# not markdown here\n\nJust text.", DocumentFormat.TEXT)
    [chunk] = chunk_document(document)
    assert chunk.heading is None and chunk.content.startswith("# not markdown")


def test_html_keeps_headings_and_text_and_drops_scripts_styles_navigation() -> None:
    [(_, _, raw)] = [d for d in corpus.documents() if d[0] == "release-notes"]
    markdown = html_to_markdown(raw)
    for gone in ("tracking pixel", "font-family", "Log in", "newsletter", "Copyright"):
        assert gone not in markdown
    assert ("# Release Notes\n\n## Version 4.2\n\nWorkflow runs can now pause and resume:"
            in markdown)
    assert "- Fixed: exports with more than one million rows no longer time out." in markdown
    assert "200 MB" in markdown  # entities decoded (&nbsp;)
    _, chunks = chunk_text(raw, DocumentFormat.HTML)
    assert [c.heading for c in chunks] == [
        "Release Notes > Version 4.2", "Release Notes > Version 4.1", "Release Notes > Version 4.0"]
    assert not any(re.search(r"<[a-z/]", c.content) for c in chunks)


def test_html_without_closing_head_and_with_nested_skipped_lists() -> None:
    raw = ("<html><head><title>T</title><body><nav><ul><li>Menu</li></ul></nav>"
           "<h2>Hours</h2><p>Open <b>9</b>-5.</p><pre>  keep\n  spacing</pre></body></html>")
    assert html_to_markdown(raw) == "## Hours\n\nOpen 9-5.\n\n```\n  keep\n  spacing\n```\n"


def pdf_with_pages(*texts: str) -> bytes:
    """A minimal, valid PDF with one line of Helvetica text per page (built by hand, so the
    test needs no PDF writer)."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", ""]
    kids = []
    for text in texts:
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
        page_no, content_no = len(objects) + 1, len(objects) + 2
        kids.append(f"{page_no} 0 R")
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                       f"/Contents {content_no} 0 R /Resources << /Font << /F1 "
                       f"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>")
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream.decode()}\nendstream")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"\
        .encode()
    return out


def test_a_pdf_becomes_one_section_per_page_with_text() -> None:
    text = pdf_to_markdown(pdf_with_pages("Refunds within 30 days", "Shipping is free"))
    parsed = parse(text, DocumentFormat.MARKDOWN)
    assert [s.path for s in parsed.sections] == [("Page 1",), ("Page 2",)]
    assert "Refunds within 30 days" in text and "Shipping is free" in text


@pytest.mark.parametrize("data", [b"not a pdf at all", b"%PDF-1.4\n%%EOF\n"])
def test_a_broken_pdf_is_a_clear_error(data: bytes) -> None:
    with pytest.raises(InvalidArgument, match="PDF"):
        pdf_to_markdown(data)
