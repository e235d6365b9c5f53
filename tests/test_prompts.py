"""Prompt templates and their loader: content identity, strict rendering, complete versions, and
the rules the templates must really state."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest

import prompts
from prompts import (
    CHANNELS,
    DEFAULT_LIBRARY,
    REQUIRED_TEMPLATES,
    SYSTEM_VALUES,
    TEMPLATES_DIR,
    PromptError,
    PromptLibrary,
    PromptNotFound,
    PromptRenderError,
    compose_system,
    load,
    system_hash,
    system_part_names,
)

LEFTOVER = re.compile(r"\$\{?[A-Za-z_]")


def sentinels(keys: frozenset[str] | set[str]) -> dict[str, str]:
    """Values that cannot occur in a template by accident, so each can be found in the output."""
    return {key: f"<<{key}>>" for key in keys}


def system_values(**overrides: str) -> dict[str, str]:
    return sentinels(SYSTEM_VALUES) | overrides


def flat(text: str) -> str:
    """Lower-case with runs of whitespace folded, so phrase checks survive re-wrapping."""
    return " ".join(text.split()).lower()


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    """A private copy of the shipped templates, free to edit."""
    root = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, root)
    return root


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# --- the shipped library -------------------------------------------------------------------


def test_shipped_library_is_complete_and_consistent() -> None:
    assert prompts.DEFAULT_VERSION in prompts.versions()
    assert DEFAULT_LIBRARY.problems() == []
    DEFAULT_LIBRARY.verify()


@pytest.mark.parametrize("version", prompts.versions())
def test_every_version_has_every_template_and_channel(version: str) -> None:
    assert set(REQUIRED_TEMPLATES) <= set(prompts.names(version))
    assert set(CHANNELS) <= set(prompts.channels(version))


@pytest.mark.parametrize("version", prompts.versions())
def test_every_template_renders_with_no_placeholder_left(version: str) -> None:
    for name in prompts.names(version):
        prompt = load(name, version)
        values = sentinels(prompt.placeholders)
        text = prompt.render(**values)
        assert not LEFTOVER.search(text), f"{prompt.ref} left a placeholder"
        assert all(value in text for value in values.values())


@pytest.mark.parametrize("channel", CHANNELS)
def test_every_channel_composes_a_full_system_prompt(channel: str) -> None:
    values = system_values()
    system = compose_system(channel, values=values)

    assert not LEFTOVER.search(system.text)
    assert all(value in system.text for value in values.values())
    assert [ref.split("@")[0] for ref in system.parts] == list(system_part_names(channel))
    rendered = [
        load(name).render(**sentinels(load(name).placeholders)).strip()
        for name in system_part_names(channel)
    ]
    assert system.text == "\n\n".join(rendered)


def test_module_functions_use_the_default_library_and_cache() -> None:
    assert load("persona") is DEFAULT_LIBRARY.load("persona")
    assert load("persona") is load("persona", prompts.DEFAULT_VERSION)


# --- identity: sha256, refs ----------------------------------------------------------------


def test_prompt_sha_is_the_hash_of_the_source_bytes() -> None:
    prompt = load("tool_rules")
    source = (TEMPLATES_DIR / prompt.version / "tool_rules.md").read_bytes()
    assert prompt.sha256 == hashlib.sha256(source).hexdigest()
    assert prompt.ref == f"tool_rules@v1#{prompt.sha256[:12]}"
    assert prompt.text == source.decode("utf-8")


def test_system_ref_hashes_the_sources_not_the_rendered_text() -> None:
    monday = compose_system("web", values=system_values(today="2025-03-03", user_name="Ada"))
    tuesday = compose_system("web", values=system_values(today="2025-03-04", user_name="Bo"))

    assert monday.text != tuesday.text
    assert monday.ref == tuesday.ref
    assert monday.parts == tuesday.parts


def test_system_ref_follows_the_documented_recipe() -> None:
    parts = [load(name) for name in system_part_names("slack")]
    lines = "\n".join(f"{part.name} {part.sha256}" for part in parts)
    expected = hashlib.sha256(lines.encode()).hexdigest()

    system = compose_system("slack", values=system_values())
    assert system_hash(parts) == expected
    assert system.ref == f"system@v1#{expected[:12]}"
    assert system.parts == tuple(part.ref for part in parts)


def test_each_channel_has_its_own_system_ref() -> None:
    refs = {compose_system(channel, values=system_values()).ref for channel in CHANNELS}
    assert len(refs) == len(CHANNELS)


def test_refs_are_stable_across_libraries_and_change_with_the_source(templates: Path) -> None:
    before = PromptLibrary(templates)
    assert before.load("persona").ref == load("persona").ref
    system_before = before.compose_system("web", values=system_values())
    assert system_before.ref == compose_system("web", values=system_values()).ref

    edit(templates / "v1" / "tool_rules.md", "Never invent ids", "Never make up ids")
    after = PromptLibrary(templates)
    system_after = after.compose_system("web", values=system_values())

    assert after.load("tool_rules").sha256 != before.load("tool_rules").sha256
    assert after.load("persona").sha256 == before.load("persona").sha256
    assert system_after.ref != system_before.ref
    changed = [
        i
        for i, (a, b) in enumerate(zip(system_before.parts, system_after.parts, strict=True))
        if a != b
    ]
    assert changed == [system_part_names("web").index("tool_rules")]
    # A library reads each template once: the first one keeps what it measured.
    assert "Never invent ids" in before.load("tool_rules").text


def test_a_verified_library_composes_without_touching_the_disk(templates: Path) -> None:
    library = PromptLibrary(templates)
    library.verify()
    expected = library.compose_system("voice", values=system_values())
    shutil.rmtree(templates)
    assert library.compose_system("voice", values=system_values()) == expected


# --- strict rendering ----------------------------------------------------------------------


def test_render_names_a_missing_placeholder() -> None:
    persona = load("persona")
    values = sentinels(persona.placeholders)
    del values["timezone"]
    with pytest.raises(PromptRenderError, match=r"persona@v1#\w+: missing values for timezone"):
        persona.render(**values)


def test_render_rejects_an_extra_value() -> None:
    with pytest.raises(PromptRenderError) as caught:
        load("title").render(topic="deals")
    assert caught.value.unexpected == ("topic",)
    assert caught.value.missing == ()
    assert "unexpected values topic" in str(caught.value)


def test_render_rejects_values_that_are_not_text() -> None:
    preferences = load("preferences")
    values: dict[str, object] = dict(sentinels(preferences.placeholders), tone=None)
    with pytest.raises(TypeError, match="tone"):
        preferences.render(**values)  # type: ignore[arg-type]


def test_compose_names_missing_and_extra_values() -> None:
    values = system_values(mood="cheerful")
    del values["record_id"]
    with pytest.raises(PromptRenderError) as caught:
        compose_system("sms", values=values)
    assert caught.value.missing == ("record_id",)
    assert caught.value.unexpected == ("mood",)
    assert "record_id" in str(caught.value) and "mood" in str(caught.value)


def test_a_literal_dollar_is_written_twice(templates: Path) -> None:
    edit(templates / "v1" / "channel" / "sms.md", "Plain text only", "Amounts like $$12k; plain")
    sms = PromptLibrary(templates).load("channel/sms")
    assert "Amounts like $12k; plain" in sms.render()


# --- missing things, no fallback -----------------------------------------------------------


def test_unknown_name_version_and_channel_list_what_exists() -> None:
    with pytest.raises(PromptNotFound, match=r"'welcome' in v1; it has channel/api, .*title"):
        load("welcome")
    with pytest.raises(PromptNotFound, match=r"'v9'; versions: v1"):
        load("persona", "v9")
    with pytest.raises(PromptNotFound, match=r"'fax' in v1; channels: api, slack, sms, voice"):
        compose_system("fax", values=system_values())


def test_paths_are_not_names() -> None:
    with pytest.raises(PromptNotFound):
        load("../v1/persona")
    with pytest.raises(PromptNotFound):
        load("persona.md")


def test_an_incomplete_version_is_reported_and_never_falls_back(templates: Path) -> None:
    shutil.copytree(templates / "v1", templates / "v2")
    (templates / "v2" / "title.md").unlink()
    (templates / "v2" / "channel" / "voice.md").unlink()
    library = PromptLibrary(templates)

    assert library.problems() == ["v2 lacks channel/voice", "v2 lacks title"]
    with pytest.raises(PromptError, match="v2 lacks title"):
        library.verify()
    with pytest.raises(PromptNotFound, match="'title' in v2"):
        library.load("title", "v2")
    with pytest.raises(PromptNotFound, match="'voice' in v2"):
        library.compose_system("voice", version="v2", values=system_values())
    assert library.load("title", "v1").version == "v1"


def test_a_template_that_breaks_the_placeholder_contract_is_reported(templates: Path) -> None:
    edit(templates / "v1" / "persona.md", "Today is $today", "Today is $date")
    problems = PromptLibrary(templates).problems()
    assert len(problems) == 1
    assert re.fullmatch(
        r"persona@v1#\w{12} takes date, timezone, user_name, workspace_name; "
        r"expected timezone, today, user_name, workspace_name",
        problems[0],
    )


def test_a_stray_dollar_is_reported(templates: Path) -> None:
    edit(templates / "v1" / "channel" / "web.md", "Be concise.", "Deals over $5k first.")
    library = PromptLibrary(templates)
    assert library.problems() == [
        "channel/web@v1 has a `$` that starts no placeholder; write `$$` for a dollar"
    ]
    with pytest.raises(PromptError, match="write `\\$\\$`"):
        library.load("channel/web")


def test_versions_sort_naturally_and_skip_private_entries(templates: Path) -> None:
    for version in ("v2", "v10", "_drafts", ".git"):
        shutil.copytree(templates / "v1", templates / version)
    (templates / "v2" / "channel" / ".persona.md").write_text("hidden", encoding="utf-8")
    (templates / "v2" / "notes.txt").write_text("not a template", encoding="utf-8")
    library = PromptLibrary(templates)

    assert library.versions() == ["v1", "v2", "v10"]
    assert library.names("v2") == library.names("v1")
    assert library.problems() == []


def test_an_empty_root_has_no_versions(tmp_path: Path) -> None:
    library = PromptLibrary(tmp_path / "absent")
    assert library.versions() == []
    assert library.problems() == [f"no prompt versions under {tmp_path / 'absent'}"]


# --- the text says what it must --------------------------------------------------------------


def test_tool_rules_state_the_rules() -> None:
    rules = flat(load("tool_rules").text)
    for phrase in (
        "never invent ids",
        "find it with a search or list tool first",
        "ask one clear question instead of guessing",
        "never claim an action happened unless a tool result says it did",
        "waiting for their approval and has not been done",
        "correct those arguments and call again",
        "report it honestly",
        "may be made in parallel",
    ):
        assert phrase in rules, phrase
    assert "has NOT been done" in load("tool_rules").text


def test_persona_names_the_domains_and_the_workspace_binding() -> None:
    persona = flat(load("persona").text)
    for domain in (
        "crm",
        "finance",
        "marketing",
        "communications",
        "knowledge",
        "agents",
        "workflow grids",
        "content",
        "tasks",
    ):
        assert f"- {domain}:" in persona, domain
    assert "bound to this workspace" in persona


def test_channel_styles_fit_their_medium() -> None:
    slack = flat(load("channel/slack").text)
    assert "*bold* (single asterisks)" in slack and "<https://example.com|link text>" in slack
    assert "never use markdown headings (#), tables" in slack
    voice = flat(load("channel/voice").text)
    assert "never read out urls, ids" in voice and "no markup" in voice
    assert "twelve thousand dollars" in voice
    assert "plain text only" in flat(load("channel/sms").text)
    assert "table" in flat(load("channel/web").text)
    assert "neutral markdown" in flat(load("channel/api").text)


def test_summary_and_title_instructions() -> None:
    summary = flat(load("summarize").text)
    for kept in (
        "every id",
        "amounts with their currency",
        "decisions",
        "actions taken",
        "open questions",
        "waiting for approval",
    ):
        assert kept in summary, kept
    title = flat(load("title").text)
    assert "at most 6 words" in title and "no quotes, no trailing period" in title


def test_page_context_fills_the_screen_and_explains_none() -> None:
    text = load("page_context").render(
        page="Deals", record_type="deal", record_id="9f1c", selection="none"
    )
    assert "- Record type: deal\n- Record id: 9f1c\n- Selection: none" in text
    assert '"none" means there is nothing of that kind on screen' in text
