"""Read a dotenv file (``--env-file FILE``): ``NAME=VALUE`` lines, nothing executed.

The syntax (docs/running.md#env-files):

- lines end at ``\\n`` (or ``\\r\\n``) and nowhere else: a form feed, U+0085 or U+2028 does
  not start a line (``str.splitlines`` would, and let one line set two variables);
- blank lines and lines starting with ``#`` are skipped;
- ``NAME=VALUE``, with an optional ``export `` before the name and spaces around ``=``;
  NAME is letters, digits and ``_``, not starting with a digit;
- an unquoted VALUE runs to the end of the line, trimmed; `` #`` (a space, then ``#``)
  starts a comment;
- ``'VALUE'`` is taken as written; ``"VALUE"`` reads ``\\n``, ``\\t``, ``\\r``, ``\\"``
  and ``\\\\`` as escapes; after the closing quote only a comment may follow;
- a quoted value may span lines (a PEM key, as python-dotenv and docker compose read
  it): it ends at its closing quote; one never closed is an error naming its key;
- a control character other than tab in a value (NUL, ESC, a lone CR, ...) is an error:
  the environment cannot hold a NUL, and the others are never meant;
- ``$`` is plain text: no ``${NAME}`` expansion and no command substitution, ever.

Any other line, or a name set twice, is a located error (``file:line:col``); every one in
the file is reported at once. An error never quotes the file's text, which may be a
secret: it says what is wrong, where, and names the key when one was read. The file must
be a regular file of at most 1 MiB, in UTF-8.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path

from ._errors import PipelineInvalid, Problem

__all__ = ["MAX_ENV_FILE_BYTES", "parse_env_text", "read_env_file"]

MAX_ENV_FILE_BYTES = 1024 * 1024
"""The largest env file read: 1 MiB (an env file holds settings, not data)."""

# Only spaces and tabs are blanks here: str.strip() would also eat form feeds and the
# like, which then pass unseen.
_BLANK = " \t"
_LINE = re.compile(r"(?P<export>export[ \t]+)?(?P<name>[^= \t]*)[ \t]*=[ \t]*")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
# Control characters (C0 but tab, DEL, C1) and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_BAD_NAME = (
    "the name before = is not a variable name: letters, digits and _, not starting with a digit"
)


def read_env_file(path: str) -> dict[str, str]:
    """The values a dotenv file sets, or PipelineInvalid with every bad line."""
    where = Problem(path, 1, 1, "")
    try:
        info = Path(path).stat()
        if not stat.S_ISREG(info.st_mode):
            raise PipelineInvalid([_at(where, "the env file is not a regular file")])
        if info.st_size > MAX_ENV_FILE_BYTES:
            raise PipelineInvalid(
                [_at(where, f"the env file is larger than {MAX_ENV_FILE_BYTES} bytes (1 MiB)")]
            )
        raw = Path(path).read_bytes()[: MAX_ENV_FILE_BYTES + 1]
    except OSError as exc:
        raise PipelineInvalid([_at(where, f"cannot read the env file: {exc.strerror}")]) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PipelineInvalid([Problem(path, line, 1, "the env file is not UTF-8 text")]) from exc
    return parse_env_text(text, path)


def _at(problem: Problem, message: str) -> Problem:
    return Problem(problem.file, problem.line, problem.col, message)


def parse_env_text(text: str, file: str = "<env>") -> dict[str, str]:
    """The values ``text`` sets, or PipelineInvalid with every bad line."""
    # "\n" alone ends a line (and "\r\n": the "\r" is dropped with it).
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    values: dict[str, str] = {}
    first: dict[str, int] = {}
    problems: list[Problem] = []
    row = 0
    while row < len(lines):
        line = lines[row]
        number = row + 1
        row += 1
        body = line.lstrip(_BLANK)
        if not body.rstrip(_BLANK) or body.startswith("#"):
            continue
        indent = len(line) - len(body)
        match = _LINE.match(body)
        if match is None:
            problems.append(
                Problem(file, number, indent + 1, "expected NAME=VALUE (or a # comment)")
            )
            continue
        name = match["name"]
        name_col = indent + match.start("name") + 1
        if not _NAME.fullmatch(name):
            problems.append(Problem(file, number, name_col, _BAD_NAME))
            continue
        start = indent + match.end()
        if line[start : start + 1] in ("'", '"'):
            value, fault, row = _quoted(lines, number - 1, start, name)
        else:
            value, fault = _unquoted(line, number - 1, start, name)
        if fault is not None:
            at_row, at_col, message = fault
            problems.append(Problem(file, at_row + 1, at_col + 1, message))
            continue
        if name in first:
            problems.append(
                Problem(
                    file, number, name_col, f"{name} is set twice (first on line {first[name]})"
                )
            )
            continue
        first[name] = number
        values[name] = value
    if problems:
        raise PipelineInvalid(problems)
    return values


_Fault = tuple[int, int, str]  # (row, column, message), both from 0


def _control(name: str, char: str) -> str:
    return (
        f"the value of {name} holds a control character (U+{ord(char):04X}): only tab is "
        "allowed; write \\n in a double-quoted value for a line break"
    )


def _unquoted(line: str, row: int, start: int, name: str) -> tuple[str, _Fault | None]:
    raw = line[start:]
    comment = re.search(r"[ \t]#", raw)
    value = (raw[: comment.start()] if comment else raw).strip(_BLANK)
    bad = _CONTROL.search(raw[: comment.start()] if comment else raw)
    if bad:
        return "", (row, start + bad.start(), _control(name, bad.group()))
    return value, None


def _quoted(lines: list[str], row: int, start: int, name: str) -> tuple[str, _Fault | None, int]:
    """The quoted value opening at ``lines[row][start]``, which may run over lines; the
    row after its last line."""
    quote = lines[row][start]
    out: list[str] = []
    r, i = row, start + 1
    while r < len(lines):
        line = lines[r]
        while i < len(line):
            ch = line[i]
            if ch == quote:
                after = line[i + 1 :]
                rest = after.strip(_BLANK)
                if rest and not rest.startswith("#"):
                    at = i + 1 + len(after) - len(after.lstrip(_BLANK))
                    return (
                        "",
                        (r, at, f"unexpected text after the closing {quote} of {name}"),
                        r + 1,
                    )
                return "".join(out), None, r + 1
            if ch == "\\" and quote == '"':
                nxt = line[i + 1 : i + 2]
                if nxt not in _ESCAPES:
                    message = (
                        f"unknown escape in the value of {name}: "
                        '\\ is followed by n, t, r, " or \\ only'
                    )
                    return "", (r, i, message), _skip(lines, r, i, quote)
                out.append(_ESCAPES[nxt])
                i += 2
                continue
            if _CONTROL.match(ch):
                return "", (r, i, _control(name, ch)), _skip(lines, r, i, quote)
            out.append(ch)
            i += 1
        out.append("\n")
        r, i = r + 1, 0
    message = (
        f"the value of {name} has no closing {quote}: a quoted value runs until its closing "
        "quote, over lines if need be"
    )
    return "", (row, start, message), len(lines)


def _skip(lines: list[str], row: int, col: int, quote: str) -> int:
    """The row after the one where the faulty value ends, so that its other lines are
    not read as settings (or the row after ``row`` if it never closes)."""
    for r in range(row, len(lines)):
        line = lines[r][col + 1 :] if r == row else lines[r]
        if quote in line:
            return r + 1
    return row + 1
