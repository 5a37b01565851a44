"""docs/expressions.md: every ```example block is evaluated, every function is documented.

An example block holds YAML with ``data``, either ``expression`` (bare JMESPath) or
``template`` (a string with ``${{ }}`` in it, rendered as a pipeline renders it), and
either ``result`` (compared with ==) or ``result_matches`` (a regular expression the
whole result must match).
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jmespath
import pytest
import yaml
from jmespath.functions import Functions

from hookline.expr._functions import OPTIONS, HooklineFunctions
from hookline.expr._template import compile_string, split_template

DOC = Path(__file__).resolve().parents[2] / "docs" / "expressions.md"
TEXT = DOC.read_text(encoding="utf-8")
OWN = sorted(set(HooklineFunctions.FUNCTION_TABLE) - set(Functions.FUNCTION_TABLE))

FENCE = re.compile(r"^```example[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
HEADING = re.compile(r"^### `(\w+)\(([^)]*)\)`[ \t]*$", re.MULTILINE)


@dataclass(frozen=True)
class Example:
    line: int
    source: str

    @property
    def id(self) -> str:
        return f"expressions.md:{self.line}"


def examples(text: str, offset: int = 0) -> list[Example]:
    return [
        Example(text.count("\n", 0, offset + m.start()) + 1, m.group(1))
        for m in FENCE.finditer(text)
    ]


def load(example: Example) -> dict[str, Any]:
    block = yaml.safe_load(example.source)
    assert isinstance(block, dict), f"{example.id}: an example must be a YAML mapping"
    keys = set(block)
    assert "data" in keys, f"{example.id}: needs 'data'"
    assert len(keys & {"expression", "template"}) == 1, (
        f"{example.id}: needs exactly one of 'expression' and 'template'"
    )
    assert len(keys & {"result", "result_matches"}) == 1, (
        f"{example.id}: needs exactly one of 'result' and 'result_matches'"
    )
    unknown = keys - {"data", "expression", "template", "result", "result_matches"}
    assert not unknown, f"{example.id}: unknown keys {sorted(unknown)}"
    source = block.get("expression", block.get("template"))
    assert isinstance(source, str), f"{example.id}: expression or template must be a string"
    for key in ("data", "result"):
        _assert_json(block.get(key), f"{example.id}: {key}")
    return block


def _assert_json(value: Any, where: str) -> None:
    """YAML turns unquoted dates into datetime objects: the doc must quote them."""
    if isinstance(value, datetime.date):
        raise AssertionError(f"{where}: {value!r} is not JSON; quote it in the doc")
    if isinstance(value, dict):
        for key, item in value.items():
            assert isinstance(key, str), f"{where}: key {key!r} is not a string"
            _assert_json(item, where)
    elif isinstance(value, list):
        for item in value:
            _assert_json(item, where)
    else:
        assert value is None or isinstance(value, str | int | float | bool), where


def called(block: dict[str, Any]) -> set[str]:
    """Names of the functions an example's expression (or template) calls."""
    if "template" in block:
        parts = [p[1:] for p, _ in split_template(block["template"]) if p[0] == "E"]
    else:
        parts = [block["expression"]]
    names: set[str] = set()
    stack: list[Any] = [jmespath.compile(part).parsed for part in parts]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("type") == "function_expression":
                names.add(node["value"])
            stack.extend(node.get("children", []))
    return names


def functions_section(text: str) -> tuple[str, int]:
    """The text of '## Functions' up to the next '## ' heading, and where it starts."""
    start = text.index("\n## Functions\n") + 1
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)], start


def function_sections(text: str) -> dict[str, tuple[str, str, int]]:
    """name -> (parameter list as written in the heading, section text, offset in doc)."""
    section, base = functions_section(text)
    found: dict[str, tuple[str, str, int]] = {}
    matches = list(HEADING.finditer(section))
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(section)
        name = match.group(1)
        assert name not in found, f"{name}() is documented twice"
        found[name] = (match.group(2), section[match.start() : end], base + match.start())
    return found


ALL = examples(TEXT)


def test_the_doc_has_examples_and_every_fence_was_read() -> None:
    assert len(ALL) >= len(OWN)
    assert TEXT.count("```example") == len(ALL), "an ```example fence is malformed"


def test_the_doc_sections_are_in_order() -> None:
    headings = re.findall(r"^## (\w+)", TEXT, re.MULTILINE)
    assert headings == ["Syntax", "Context", "Functions"]


@pytest.mark.parametrize("example", ALL, ids=[e.id for e in ALL])
def test_example(example: Example) -> None:
    block = load(example)
    if "template" in block:
        render, _ = compile_string(block["template"])
        result = render(block["data"])
    else:
        result = jmespath.search(block["expression"], block["data"], options=OPTIONS)
    if "result" in block:
        assert result == block["result"], (
            f"{example.id}: {block.get('expression', block.get('template'))}"
        )
        assert type(result) is type(block["result"]), f"{example.id}: type differs"
    else:
        assert isinstance(result, str), f"{example.id}: result_matches needs a string result"
        assert re.fullmatch(block["result_matches"], result), f"{example.id}: {result!r}"


@pytest.mark.parametrize("name", OWN)
def test_every_function_has_a_section_with_an_example(name: str) -> None:
    sections = function_sections(TEXT)
    assert name in sections, f"docs/expressions.md has no '### `{name}(...)`' section"
    _, body, offset = sections[name]
    own = [load(e) for e in examples(body, offset)]
    assert any(name in called(block) for block in own), (
        f"the section of {name}() has no example that calls it"
    )


@pytest.mark.parametrize("name", OWN)
def test_documented_signature_matches_the_code(name: str) -> None:
    params, _, _ = function_sections(TEXT)[name]
    written = [p.strip() for p in params.split(",") if p.strip()]
    signature = HooklineFunctions.FUNCTION_TABLE[name]["signature"]
    assert len(written) == len(signature), f"{name}({params}): arity differs from the code"
    for text, spec in zip(written, signature, strict=True):
        assert text.endswith("?") == bool(spec.get("optional")), (
            f"{name}({params}): '{text}' optional marker differs from the code"
        )


def test_every_documented_function_exists() -> None:
    unknown = set(function_sections(TEXT)) - set(OWN)
    assert not unknown, f"documented but not in HooklineFunctions: {sorted(unknown)}"


def test_example_checker_can_fail() -> None:
    """The checker itself must notice a wrong result and a malformed block."""
    wrong = Example(1, "data: 'A'\nexpression: lower(@)\nresult: 'A'\n")
    with pytest.raises(AssertionError):
        test_example(wrong)
    unquoted_date = Example(1, "data: 2024-05-01\nexpression: '@'\nresult: null\n")
    with pytest.raises(AssertionError):
        load(unquoted_date)
    typo = Example(1, "data: 1\nexpression: '@'\nresults: 1\n")
    with pytest.raises(AssertionError):
        load(typo)
    undocumented = "## Functions\n\n### `lower(string)`\n\nNo example here.\n"
    sections = function_sections("intro\n" + undocumented)
    assert list(sections) == ["lower"]
    assert examples(sections["lower"][1]) == []


def slug(heading: str) -> str:
    """The anchor a Markdown renderer (GitHub's rules) gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_every_link_within_the_page_leads_to_a_heading() -> None:
    anchors = {slug(h) for h in re.findall(r"^#{2,4} (.+)$", TEXT, re.MULTILINE)}
    links = set(re.findall(r"\]\(#([^)]+)\)", TEXT))
    assert links, "the page has no links to check"
    assert not links - anchors, sorted(links - anchors)
    assert slug("### `zip(arrays...)`".lstrip("# ")) == "ziparrays"


QUOTE_ROW = re.compile(r"^\| `'(\w+)'` +\|[^|]*\| `(.+?)` +\|$", re.MULTILINE)


def test_the_quote_table_shows_what_quote_writes() -> None:
    rows = QUOTE_ROW.findall(TEXT)
    value = re.search(r"\| `(O'Neil[^`]*)` becomes", TEXT)
    assert value and len(rows) == 7
    for target, written in rows:
        data = {"v": value.group(1), "t": target}
        assert jmespath.search("quote(v, t)", data, options=OPTIONS) == written, target


YAML_FENCE = re.compile(r"^```yaml[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return []


@pytest.mark.parametrize("block", YAML_FENCE.findall(TEXT))
def test_yaml_snippets_parse_and_their_expressions_compile(block: str) -> None:
    """The pipeline pieces shown (the safe filterByFormula, quoted keys) compile as
    templates, literal arguments checked, as ``hookline check`` would compile them."""
    for text in strings(yaml.safe_load(block)):
        compile_string(text)
