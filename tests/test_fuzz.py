"""Fuzz ``hookline check``: whatever a pipeline file holds, the answer is 0 or located problems.

Each test mutates an example pipeline (``pipelines/*.yaml``) or a broken one from the
corpus (``tests/invalid/*.yaml``) in one way (a key deleted, a value of another type, two
values swapped, the text truncated, garbage inserted, a line duplicated or re-indented)
and runs ``hookline check`` in-process. It must exit 0 or 2; on 2, every line on stdout
is ``FILE:LINE:COL: message`` and stderr holds only the summary line. Never a traceback,
an internal error (exit 3), or jsonschema's "is not valid under any of the given schemas".

A crash found here is a bug in hookline: fix it, and add the file to ``tests/invalid/``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hookline.cli import main

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(ROOT.glob("pipelines/*.yaml")) + sorted(ROOT.glob("tests/invalid/*.yaml"))
TEXTS = {p.name: p.read_bytes() for p in SOURCES}
NAMES = sorted(TEXTS)

FUZZ = settings(  # HOOKLINE_FUZZ_EXAMPLES=5000 for a longer hunt
    max_examples=int(os.environ.get("HOOKLINE_FUZZ_EXAMPLES", "300")),
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,  # conftest's autouse HOOKLINE_HOME: harmless
    ],
)
FORBIDDEN = (
    "Traceback",
    "internal error",
    "is not valid under any of the given schemas",
    " object at 0x",
)
SUMMARY = re.compile(r"^1 file checked: (all valid|\d+ problems? in 1)(, \d+ warnings?)?$")


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "fuzzed.yaml"


def check(target: Path, content: bytes) -> None:
    """Run ``hookline check`` on ``content``; assert the answer keeps the promise."""
    target.write_bytes(content)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["check", str(target)])
    shown = out.getvalue() + err.getvalue()
    context = f"exit {code} for:\n{content!r}\n---\n{shown}"
    assert code in (0, 2), context
    for bad in FORBIDDEN:
        assert bad not in shown, context
    assert SUMMARY.match(err.getvalue().strip()), context
    line = re.compile(rf"^{re.escape(str(target))}:\d+:\d+: \S.*$")
    line_warning = re.compile(rf"^{re.escape(str(target))}:\d+:\d+: warning: ")
    problems = out.getvalue().splitlines()
    # Warnings (a likely mistake in a valid file, such as a retry on a POST) exit 0.
    errors = [p for p in problems if not line_warning.match(p)]
    assert (code == 2) == bool(errors), context
    for problem in problems:
        assert line.match(problem), context


# --- mutations of the YAML data -------------------------------------------------------

JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
TRICKY = st.sampled_from(
    [
        "",
        " ",
        "${{",
        "${{ }}",
        "${{ input. }}",
        "${{ steps.nope.x }}",
        "${{ secrets.NOPE }}",
        "${{ vars.nope }}",
        "${{ lenght(input) }}",
        "${{ item }}",
        "${{ error }}",
        "${{ 'a }}",
        "$${{ x }}",
        "{{ x }}",
        "input.[",
        "`foo`",
        "PUTT",
        "*/0 * * * *",
        "61 * * * *",
        "@daily",
        "Mars/Olympus",
        "5 per second",
        "10 seconds",
        "hooks/x",
        "1st",
        "API-TOKEN",
        "2024-13-45",
        "{ order(id: 1) { id ",
        "continue",
        "\u0000",
        "\ud800",
        "x" * 300,
    ]
)
VALUES = JSONISH | TRICKY


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into a JSON-like value (the root excluded)."""
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return
    for key, sub in items:
        yield (*prefix, key)
        yield from paths(sub, (*prefix, key))


def get(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


def put(value: Any, path: tuple[Any, ...], new: Any) -> None:
    get(value, path[:-1])[path[-1]] = new


def loaded(name: str) -> Any:
    """The file's data when it loads as one YAML document (and is not an alias of
    itself), else None."""
    try:
        data = yaml.safe_load(TEXTS[name])
        json.dumps(data, default=str)  # ValueError on an alias that contains itself
    except (yaml.YAMLError, ValueError, RecursionError):
        return None
    return data


DATA = {name: data for name in NAMES if isinstance(data := loaded(name), dict | list)}
DATA_NAMES = sorted(DATA)


def dump(data: Any) -> bytes:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode(
        "utf-8", "surrogatepass"
    )


@st.composite
def deleted_key(draw: st.DrawFn) -> bytes:
    data = yaml.safe_load(dump(DATA[draw(st.sampled_from(DATA_NAMES))]))
    keys = [p for p in paths(data) if isinstance(get(data, p[:-1]), dict)]
    if keys:
        path = draw(st.sampled_from(keys))
        del get(data, path[:-1])[path[-1]]
    return dump(data)


@st.composite
def replaced_value(draw: st.DrawFn) -> bytes:
    data = yaml.safe_load(dump(DATA[draw(st.sampled_from(DATA_NAMES))]))
    targets = list(paths(data))
    if targets:
        put(data, draw(st.sampled_from(targets)), draw(VALUES))
    else:
        data = draw(VALUES)
    return dump(data)


@st.composite
def swapped_values(draw: st.DrawFn) -> bytes:
    data = yaml.safe_load(dump(DATA[draw(st.sampled_from(DATA_NAMES))]))
    targets = list(paths(data))
    if len(targets) >= 2:
        a, b = draw(st.lists(st.sampled_from(targets), min_size=2, max_size=2, unique=True))
        if a[: len(b)] != b and b[: len(a)] != a:  # neither inside the other
            first, second = get(data, a), get(data, b)
            put(data, a, second)
            put(data, b, first)
    return dump(data)


# --- mutations of the text --------------------------------------------------------------


def source(draw: st.DrawFn) -> bytes:
    return TEXTS[draw(st.sampled_from(NAMES))]


@st.composite
def truncated(draw: st.DrawFn) -> bytes:
    text = source(draw)
    return text[: draw(st.integers(0, len(text)))]


GARBAGE = st.binary(min_size=1, max_size=8) | st.sampled_from(
    [b"\t", b"'", b'"', b"{", b"}", b"[", b"]", b": ", b"- ", b"&a ", b"*a", b"!!int ",
     b"!x ", b"---\n", b"${{", b"}}", b"\\", b"\x00", b"\xff", b"\xef\xbb\xbf", b"#",
     b"\n  ", b"? ", b"<<: ", b"%YAML 1.1\n", b"|", b">-"]
)  # fmt: skip


@st.composite
def inserted_garbage(draw: st.DrawFn) -> bytes:
    text = source(draw)
    at = draw(st.integers(0, len(text)))
    return text[:at] + draw(GARBAGE) + text[at:]


@st.composite
def duplicated_line(draw: st.DrawFn) -> bytes:
    lines = source(draw).splitlines(keepends=True) or [b""]
    i = draw(st.integers(0, len(lines) - 1))
    j = draw(st.integers(0, len(lines)))
    line = lines[i] if lines[i].endswith(b"\n") else lines[i] + b"\n"
    return b"".join([*lines[:j], line, *lines[j:]])


@st.composite
def reindented(draw: st.DrawFn) -> bytes:
    lines = source(draw).splitlines(keepends=True) or [b""]
    i = draw(st.integers(0, len(lines) - 1))
    stripped = lines[i].lstrip(b" ")
    indent = len(lines[i]) - len(stripped)
    new = draw(st.integers(0, indent + 6))
    lines[i] = draw(st.sampled_from([b" ", b"\t"])) * new + stripped
    return b"".join(lines)


# --- the tests ----------------------------------------------------------------------------


def test_there_is_something_to_fuzz() -> None:
    assert len(DATA_NAMES) >= 2
    assert any(p.parent.name == "pipelines" for p in SOURCES)


@FUZZ
@given(content=deleted_key())
def test_deleting_a_key(target: Path, content: bytes) -> None:
    check(target, content)


@FUZZ
@given(content=replaced_value())
def test_a_value_of_another_type(target: Path, content: bytes) -> None:
    check(target, content)


@FUZZ
@given(content=swapped_values())
def test_swapping_two_values(target: Path, content: bytes) -> None:
    check(target, content)


@FUZZ
@given(content=truncated())
def test_truncating_the_text(target: Path, content: bytes) -> None:
    check(target, content)


@FUZZ
@given(content=inserted_garbage())
def test_inserting_garbage(target: Path, content: bytes) -> None:
    check(target, content)


@FUZZ
@given(content=duplicated_line())
def test_duplicating_a_line(target: Path, content: bytes) -> None:
    check(target, content)


@FUZZ
@given(content=reindented())
def test_changing_indentation(target: Path, content: bytes) -> None:
    check(target, content)
