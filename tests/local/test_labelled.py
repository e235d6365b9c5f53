"""Validates the labelled evaluation set itself, so the offline model is measured on sound labels.

Each check returns the problems it finds (empty when the set is sound); the set must have none,
and deliberately broken cases must be caught, so a check cannot silently pass everything.
"""

from __future__ import annotations

import difflib
import pathlib
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from tests.local.labelled import REF_KINDS_BY_FIELD, Case, Ref, load_cases
from tools.catalog import DOMAINS, load_catalog
from tools.registry import Tool, ToolRegistry

MIN_CASES = 170
MIN_PER_DOMAIN = 8
#: The busiest domains get more cases than the floor.
MIN_BUSY_DOMAIN = 14
BUSY_DOMAINS = ("crm", "tasks", "finance", "marketing")
MAX_EXAMPLE_SIMILARITY = 0.8
Path = tuple[str | int, ...]


@pytest.fixture(scope="module")
def catalog() -> ToolRegistry:
    return load_catalog()


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    return load_cases()


def _normal(text: str) -> str:
    """Lower case, punctuation dropped, spaces collapsed: how 'the same text' is judged."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def _ref_paths(value: Any, path: Path = ()) -> Iterator[tuple[Path, Ref]]:
    if isinstance(value, Ref):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _ref_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _ref_paths(item, (*path, index))


def _at(value: Any, path: Path) -> Any:
    for step in path:
        value = value[step]
    return value


def _placeheld(case: Case) -> dict[str, Any]:
    return case.resolved_args(Ref.placeholder)


def _is_id_schema(schema: dict[str, Any]) -> bool:
    """A field that takes a UUID, a list of UUIDs, or either of those or null."""
    options = schema.get("anyOf", [schema])
    return any(
        option.get("format") == "uuid" or option.get("items", {}).get("format") == "uuid"
        for option in options
    )


def shape_problems(cases: list[Case]) -> list[str]:
    problems = [f"duplicate id {i}" for i, n in Counter(c.id for c in cases).items() if n > 1]
    texts = Counter(_normal(c.text) for c in cases)
    problems += [f"duplicate text {t!r}" for t, n in texts.items() if n > 1]
    per_domain = Counter(c.domain for c in cases)
    if len(cases) < MIN_CASES:
        problems.append(f"only {len(cases)} cases, want {MIN_CASES}")
    for domain in DOMAINS:
        floor = MIN_BUSY_DOMAIN if domain in BUSY_DOMAINS else MIN_PER_DOMAIN
        if per_domain[domain] < floor:
            problems.append(f"domain {domain} has {per_domain[domain]} cases, want {floor}")
    problems += [f"{c.id}: id does not start with its domain" for c in cases
                 if c.id.split("-")[0] != c.domain]
    return problems


def tool_problems(case: Case, catalog: ToolRegistry) -> list[str]:
    tool = catalog.get(case.tool)
    if tool is None:
        return [f"{case.id}: unknown tool {case.tool}"]
    if tool.domain != case.domain:
        return [f"{case.id}: {case.tool} is in {tool.domain}, not {case.domain}"]
    return []


def arg_problems(case: Case, tool: Tool) -> list[str]:
    fields = tool.args_model.model_fields
    problems = [f"{case.id}: {name} is not an argument of {tool.name}"
                for name in case.args if name not in fields]
    problems += [f"{case.id}: missing {name} is not an argument" for name in case.missing
                 if name not in fields]
    problems += [f"{case.id}: missing {name} is not in the completed args" for name in case.missing
                 if name not in case.args]
    required = [name for name, field in fields.items() if field.is_required()]
    problems += [f"{case.id}: required {name} is neither given nor missing" for name in required
                 if name not in case.args and name not in case.missing]
    values = _placeheld(case)
    for name, field in fields.items():
        if name in values:
            adapter: TypeAdapter[Any] = TypeAdapter(field.rebuild_annotation())
            try:
                adapter.validate_python(values[name])
            except ValidationError as error:
                problems.append(f"{case.id}: {name}={values[name]!r}: {error.errors()[0]['msg']}")
    return problems


def model_problems(case: Case, tool: Tool) -> list[str]:
    """The whole argument model must accept the args (its own cross-field rules included)."""
    try:
        model = tool.args_model.model_validate(_placeheld(case))
    except ValidationError as error:
        return [f"{case.id}: {tool.name} refuses the args: {error.errors()[0]['msg']}"]
    dumped = model.model_dump()
    return [f"{case.id}: {'.'.join(map(str, path))} holds a ref but is not an id"
            for path, _ in _ref_paths(case.args) if not isinstance(_at(dumped, path), uuid.UUID)]


def ref_problems(case: Case, tool: Tool) -> list[str]:
    properties = tool.parameters["properties"]
    problems = []
    for path, ref in _ref_paths(case.args):
        field = str(next(step for step in reversed(path) if isinstance(step, str)))
        if len(path) <= 2 and not _is_id_schema(properties.get(path[0], {})):
            problems.append(f"{case.id}: {path[0]} is not an id field but holds a ref")
        if ref.ref not in REF_KINDS_BY_FIELD.get(field, frozenset()):
            problems.append(f"{case.id}: {field} cannot refer to a {ref.ref}")
    if case.chain != any(True for _ in case.refs()):
        problems.append(f"{case.id}: chain must be true exactly when the args hold a ref")
    return problems


def text_problems(case: Case, catalog: ToolRegistry) -> list[str]:
    text = _normal(case.text)
    published = {_normal(s) for t in catalog for s in (t.description, *t.examples)}
    problems = [f"{case.id}: text copies a tool example or description"] * (text in published)
    tool = catalog.get(case.tool)
    for example in tool.examples if tool else ():
        ratio = difflib.SequenceMatcher(None, text, _normal(example)).ratio()
        if ratio >= MAX_EXAMPLE_SIMILARITY:
            problems.append(f"{case.id}: text is {ratio:.2f} like the example {example!r}")
    return problems


def case_problems(case: Case, catalog: ToolRegistry) -> list[str]:
    problems = tool_problems(case, catalog)
    tool = catalog.get(case.tool)
    if problems or tool is None:
        return problems
    problems = arg_problems(case, tool) + ref_problems(case, tool) + text_problems(case, catalog)
    return problems or model_problems(case, tool)


def test_the_set_has_enough_varied_cases(cases: list[Case]) -> None:
    assert shape_problems(cases) == []


def test_every_case_is_sound(cases: list[Case], catalog: ToolRegistry) -> None:
    problems = [p for case in cases for p in case_problems(case, catalog)]
    assert problems == []


@pytest.mark.parametrize("path", sorted(pathlib.Path(__file__).parent.glob("heldout*.yaml")),
                         ids=lambda p: p.stem)
def test_every_held_out_case_is_sound(path: pathlib.Path, catalog: ToolRegistry) -> None:
    """The held-out sets (written apart, used to measure) hold the same kind of labels."""
    cases = load_cases(path)
    problems = [p for case in cases for p in case_problems(case, catalog)]
    problems += [p for p in shape_problems(cases) if p.startswith("duplicate")]
    assert problems == []


def test_the_set_mixes_plain_lists_missing_fields_and_lookups(cases: list[Case]) -> None:
    assert sum(1 for c in cases if not c.args) >= 15
    assert sum(1 for c in cases if c.missing) >= 12
    assert sum(1 for c in cases if c.chain) >= 40


def test_an_unfiltered_list_is_labelled_with_no_args(
    cases: list[Case], catalog: ToolRegistry,
) -> None:
    """`args: {}` must only label tools that can run with nothing: no required argument."""
    needing = [c.id for c in cases if not c.args and any(
        f.is_required() for f in catalog.get(c.tool).args_model.model_fields.values()  # type: ignore[union-attr]
    )]
    assert needing == []


def _case(**overrides: Any) -> Case:
    base: dict[str, Any] = {
        "id": "crm-900", "domain": "crm", "tool": "create_deal",
        "text": "open a deal called Harbor pilot worth 9k dollars",
        "args": {"title": "Harbor pilot", "value": 9000, "currency": "USD"},
    }
    return Case.model_validate(base | overrides)


BROKEN = [
    ({"tool": "make_coffee"}, "unknown tool"),
    ({"domain": "finance", "id": "finance-900"}, "is in crm"),
    ({"args": {"title": "x", "colour": "red"}}, "not an argument"),
    ({"args": {"value": 10}}, "required title"),
    ({"args": {"title": "x", "stage": "won"}}, "stage="),
    ({"args": {"title": "x", "expected_close_date": "next friday"}}, "expected_close_date="),
    ({"args": {"title": "x", "notes": {"ref": "deal", "name": "Acme"}}, "chain": True},
     "not an id field"),
    ({"args": {"title": "x", "contact_id": {"ref": "invoice", "name": "INV-00001"}},
      "chain": True}, "cannot refer to a invoice"),
    ({"args": {"title": "x", "contact_id": {"ref": "contact", "name": "Ava Kim"}}},
     "chain must be true"),
    ({"text": "open a 12k deal with Acme!"}, "copies a tool example"),
    ({"text": "open a 12k deal with Acme corp"}, "like the example"),
    ({"missing": ["title"], "followup": "Harbor pilot", "args": {"value": 9000}},
     "not in the completed args"),
    ({"tool": "create_contact", "args": {"source": "web"}}, "refuses the args"),
]


@pytest.mark.parametrize(("overrides", "expected"), BROKEN)
def test_a_broken_case_is_caught(
    overrides: dict[str, Any], expected: str, catalog: ToolRegistry,
) -> None:
    problems = case_problems(_case(**overrides), catalog)
    assert any(expected in p for p in problems), problems


def test_a_sound_case_passes(catalog: ToolRegistry) -> None:
    assert case_problems(_case(), catalog) == []


def test_the_loader_refuses_malformed_cases() -> None:
    with pytest.raises(ValidationError):
        _case(surprise=True)
    with pytest.raises(ValidationError):
        _case(missing=["title"])
    with pytest.raises(ValidationError):
        _case(args={"contact_id": {"ref": "planet", "name": "Mars"}})


def test_refs_resolve_to_ids_in_place() -> None:
    case = _case(args={"title": "x", "contact_id": {"ref": "contact", "name": "Ava Kim"}},
                 chain=True)
    assert [(name, ref.name) for name, ref in case.refs()] == [("contact_id", "Ava Kim")]
    assert case.resolved_args(lambda ref: f"id-of-{ref.name}") == {
        "title": "x", "contact_id": "id-of-Ava Kim",
    }


def test_duplicates_and_thin_domains_are_caught(cases: list[Case]) -> None:
    problems = shape_problems([*cases[:20], cases[0]])
    assert any("duplicate id" in p for p in problems)
    assert any("duplicate text" in p for p in problems)
    assert any("domain knowledge has" in p for p in problems)
