"""The corpus of broken pipelines: each gets exactly the problems it should, where it should.

``tests/invalid/NAME.yaml`` holds one broken pipeline. Its leading ``# expect: LINE:COL:
message`` comments are what ``hookline check`` must print for it, every line, in order
(line numbers count the comment lines too); the exit code must be 2. What cannot follow a
comment line (an empty file, bytes that are not UTF-8 from the first line, a file that
expands past the size limit) is generated in ``GENERATED`` below.

To add a case: write the file, run ``hookline check`` on it, read every message as a user
would (does it say where, what is wrong and what to write instead?), then paste the
lines, without the file name, as ``# expect:`` comments at the top.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support import ROOT

CORPUS = ROOT / "tests" / "invalid"
FILES = sorted(CORPUS.glob("*.yaml"))
EXPECT = b"# expect: "


def expected(raw: bytes) -> list[str]:
    """The ``# expect:`` lines at the top of a corpus file."""
    out = []
    for line in raw.splitlines():
        if not line.startswith(EXPECT):
            break
        out.append(line[len(EXPECT) :].decode("utf-8"))
    return out


def problems(result_out: str, path: Path | str) -> list[str]:
    prefix = f"{path}:"
    lines = result_out.splitlines()
    assert all(line.startswith(prefix) for line in lines), result_out
    return [line[len(prefix) :] for line in lines]


def test_the_corpus_is_large() -> None:
    assert len(FILES) >= 70


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_broken_pipeline(cli, path: Path) -> None:
    want = expected(path.read_bytes())
    assert want, f"{path.name} has no '# expect:' lines"
    result = cli("check", str(path))
    assert problems(result.out, path) == want
    assert result.code == 2
    count = len(want)
    assert result.err == f"1 file checked: {count} problem{'s' if count > 1 else ''} in 1\n"


def _alias_bomb() -> bytes:
    lines = ["version: 1", "name: laughs", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 7):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    lines.append("steps: [{id: a, set: *a6}]")
    return "\n".join(lines).encode() + b"\n"


VALID = b"version: 1\nname: ok\nsteps:\n  - id: a\n    set: 1\n"
CONTROL = "is not allowed in a YAML file: remove it, or write it as"

GENERATED: dict[str, tuple[bytes, list[str]]] = {
    "empty-file": (b"", ["1:1: the file is empty"]),
    "only-blank-lines": (b"\n  \n\n", ["1:1: the file is empty"]),
    "only-a-bom": (b"\xef\xbb\xbf", ["1:1: the file is empty"]),
    "latin-1-bytes": (
        b"version: 1\nname: caf\xe9\nsteps:\n  - id: a\n    set: 1\n",
        ["2:10: the file is not UTF-8 text (byte 0xe9)"],
    ),
    "utf-16": (
        "version: 1\n".encode("utf-16"),
        ["1:1: the file is not UTF-8 text (byte 0xff)"],
    ),
    "non-utf-8-on-the-first-line": (
        b"\x80version: 1\n",
        ["1:1: the file is not UTF-8 text (byte 0x80)"],
    ),
    "nul-byte": (
        b"version: 1\nname: nul\x00\nsteps:\n  - id: a\n    set: 1\n",
        [f'2:10: character U+0000 {CONTROL} "\\x00" inside a double-quoted string'],
    ),
    "escape-character": (
        b"version: 1\nname: ok\nsteps:\n  - id: a\n    set: \x1b[31mred\n",
        [f'5:10: character U+001B {CONTROL} "\\x1B" inside a double-quoted string'],
    ),
    "non-character-u-fffe": (
        "version: 1\nname: ok\nsteps:\n  - id: a\n    set: \ufffe\n".encode(),
        [f'5:10: character U+FFFE {CONTROL} "\\uFFFE" inside a double-quoted string'],
    ),
    "bom-then-a-mistake": (
        b"\xef\xbb\xbf" + VALID.replace(b"version: 1", b"version: 2"),
        ["1:10: version: must be 1, got 2 (a number)"],
    ),
    "nul-in-a-quoted-escape-is-fine-but-the-name-is-not": (
        b'version: 1\nname: "a\\0b"\nsteps:\n  - id: a\n    set: 1\n',
        ["2:7: name: 'a\\x00b' (a string) is not a valid name: use letters, digits, '_', '.', '-'"],
    ),
    "value-on-several-lines-in-a-message": (
        b'version: "1\\n2"\nname: ok\nsteps:\n  - id: a\n    set: 1\n',
        ["1:10: version: must be 1, got '1\\n2' (a string)"],
    ),
    "alias-bomb": (
        _alias_bomb(),
        [
            "7:45: the file expands to more than 100000 values (YAML aliases repeating large "
            "parts?): a pipeline cannot be this large"
        ],
    ),
    "deeply-nested": (
        b"version: 1\nname: deep\nsteps:\n  - id: a\n    set: " + b"[" * 5000 + b"]" * 5000 + b"\n",
        [
            "5:71: the YAML is nested more than 64 levels deep here: a pipeline cannot nest this deep"
        ],
    ),
}


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_broken_pipeline(cli, tmp_path: Path, name: str) -> None:
    content, want = GENERATED[name]
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(content)
    result = cli("check", str(path))
    assert problems(result.out, path) == want
    assert result.code == 2
