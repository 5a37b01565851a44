"""Read a dotenv file (``--env-file FILE``): ``NAME=VALUE`` lines, nothing executed.

The syntax (docs/running.md#env-files):

- blank lines and lines starting with ``#`` are skipped;
- ``NAME=VALUE``, with an optional ``export `` before the name and spaces around ``=``;
  NAME is letters, digits and ``_``, not starting with a digit;
- an unquoted VALUE runs to the end of the line, trimmed; `` #`` (a space, then ``#``)
  starts a comment;
- ``'VALUE'`` is taken as written; ``"VALUE"`` reads ``\\n``, ``\\t``, ``\\r``, ``\\"``
  and ``\\\\`` as escapes; after the closing quote only a comment may follow;
- a value is on one line;
- ``$`` is plain text: no ``${NAME}`` expansion and no command substitution, ever.

Any other line, or a name set twice, is a located error (``file:line:col``); every one in
the file is reported at once. The file must be a regular file of at most 1 MiB, in UTF-8.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path

from ._errors import PipelineInvalid, Problem

__all__ = ["MAX_ENV_FILE_BYTES", "parse_env_text", "read_env_file"]

MAX_ENV_FILE_BYTES = 1024 * 1024
"""The largest env file read: 1 MiB (an env file holds settings, not data)."""

_LINE = re.compile(r"^(?P<export>export\s+)?(?P<name>[^=\s]*)\s*=\s*(?P<value>.*)$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


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
    values: dict[str, str] = {}
    first: dict[str, int] = {}
    problems: list[Problem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        match = _LINE.match(stripped)
        if match is None:
            problems.append(
                Problem(file, number, indent + 1, "expected NAME=VALUE (or a # comment)")
            )
            continue
        name = match["name"]
        name_col = indent + match.start("name") + 1
        if not _NAME.match(name):
            problems.append(
                Problem(
                    file,
                    number,
                    name_col,
                    f"{name!r} is not a variable name: letters, digits and _, not starting "
                    "with a digit",
                )
            )
            continue
        value, error, offset = _value(match["value"])
        if error:
            problems.append(
                Problem(file, number, indent + match.start("value") + offset + 1, error)
            )
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


def _value(raw: str) -> tuple[str, str, int]:
    """(value, error message or "", offset of the error in ``raw``)."""
    if not raw or raw[0] not in "'\"":
        comment = re.search(r"\s#", raw)
        return (raw[: comment.start()] if comment else raw).strip(), "", 0
    quote = raw[0]
    out: list[str] = []
    i = 1
    while i < len(raw):
        ch = raw[i]
        if ch == quote:
            after = raw[i + 1 :]
            rest = after.strip()
            if rest and not rest.startswith("#"):
                at = i + 1 + len(after) - len(after.lstrip())
                return "", f"unexpected text after the closing {quote}", at
            return "".join(out), "", 0
        if ch == "\\" and quote == '"':
            nxt = raw[i + 1 : i + 2]
            if nxt not in _ESCAPES:
                return "", f'unknown escape \\{nxt} (known: \\n \\t \\r \\" \\\\)', i
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "", f"the value has no closing {quote} (a value is on one line)", 0
