"""A run's input: read from --input (JSON text, @file or - for stdin), checked against
the trigger's input_schema with located messages (exit 2).

The input is untrusted: its size is capped (MAX_INPUT_BYTES), it is parsed with the
depth limit and surrogate repair of ``_jsonsafe``, its schema's patterns run on a time
budget (``_patterns``), and errors are located in the JSON text in one pass
(``_jsonpos``), never by loading it again as YAML.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from typing import IO, Any

from . import _jsonsafe
from ._errors import InputInvalid, Problem, UsageError
from ._jsonpos import locate, too_deep
from ._load import read_source, size_words
from ._model import Pipeline

# 10 MiB: a webhook batch or an export of a few thousand records fits many times over;
# past this an input is a mistake (a wrong file) or an attack on memory.
MAX_INPUT_BYTES = 10 * 1024 * 1024
# Problems reported for one input: past this the rest are counted, not located (and the
# validation of a hostile input that breaks the schema everywhere stops early).
MAX_INPUT_PROBLEMS = 50


def _too_large(name: str) -> UsageError:
    return UsageError(f"{name}: the input is larger than {size_words(MAX_INPUT_BYTES)}, the limit")


def read_input(arg: str | None, stdin: IO[str]) -> tuple[str, str] | None:
    """(name for messages, JSON text) from an --input argument; None when not given."""
    if arg is None:
        return None
    if arg == "-":
        binary = getattr(stdin, "buffer", None)
        if binary is None:  # a text stream without bytes under it: count characters
            text = stdin.read(MAX_INPUT_BYTES + 1)
            if len(text) > MAX_INPUT_BYTES:
                raise _too_large("<stdin>")
            return "<stdin>", text
        raw = binary.read(MAX_INPUT_BYTES + 1)
        if len(raw) > MAX_INPUT_BYTES:
            raise _too_large("<stdin>")
        try:
            return "<stdin>", raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise UsageError("<stdin>: the input is not UTF-8 text") from None
    if arg.startswith("@"):
        path = arg[1:]
        if not path:
            raise UsageError("--input @FILE needs a file name after '@'")
        # Not only regular files: `--input @<(command)` reads a pipe, up to the limit.
        raw = read_source(path, "an input file", limit=MAX_INPUT_BYTES, regular_only=False)
        try:
            return path, raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise UsageError(f"{path}: the input file is not UTF-8 text") from None
    if len(arg) > MAX_INPUT_BYTES:
        raise _too_large("<input>")
    return "<input>", arg


_PAIR = re.compile(r"^([A-Za-z_][\w.-]*)=(.*)$", re.DOTALL)
_HINTED = 2000  # characters of an --input text turned into a suggestion (past it: none)


def input_hint(text: str) -> str:
    """What to write instead of an --input text that is not JSON: ``email=a`` (the form
    of --var) and ``{'email': 'a'}`` (Python's quotes) become the JSON that works, a file
    name its ``@`` form; the @file form is always offered."""
    stripped = text.strip()
    at_file = "or put the JSON in a file and pass --input @FILE"
    pair = _PAIR.match(stripped) if len(stripped) <= _HINTED else None
    if pair:
        suggested = json.dumps({pair.group(1): pair.group(2)}, ensure_ascii=False)
        return f" (the input is JSON: write --input {shlex.quote(suggested)}, {at_file})"
    if stripped[:1] in ("{", "["):
        fixed = _requoted(stripped)
        if fixed is not None:
            return f" (JSON writes text in double quotes: --input {shlex.quote(fixed)}, {at_file})"
        return f" (keys and text in JSON are written in double quotes, {at_file})"
    if stripped and not any(c in stripped for c in " \t{}[]\"'") and _is_file(stripped):
        return f" (to read the file {stripped}, write --input @{stripped})"
    return f""" (write JSON, e.g. --input '{{"email": "a@example.com"}}', {at_file})"""


def _is_file(name: str) -> bool:
    """Whether ``name`` is a file that ``@`` could read: the hint is offered only then."""
    try:
        return os.path.isfile(name) or name.startswith("/dev/fd/")
    except (OSError, ValueError):  # a name too long, or with a NUL
        return False


def _requoted(text: str) -> str | None:
    """``text`` as JSON when it is a Python literal ({'a': 1}): what was meant, or None."""
    if len(text) > _HINTED or "'" not in text:
        return None
    import ast

    try:
        value = ast.literal_eval(text)
        return json.dumps(value, ensure_ascii=False)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def check_var_names(items: list[str], known: list[str], env: tuple[str, ...] = ()) -> None:
    """Raise UsageError, with a "did you mean", for a --var NAME the pipeline lacks; a
    name declared under ``env:`` is said to be an env setting."""
    from ._exprchecks import did_you_mean

    for item in items:
        name, sep, _ = item.partition("=")
        if sep and name not in known and name in env:
            raise UsageError(
                f"--var {name}: {name} is declared under 'env:', not 'vars:': set it in the "
                f"environment ({name}=... hookline run ...) or in an env file (--env-file)"
            )
        if sep and name not in known:
            hint = did_you_mean(name, known)
            defined = f"its vars: {', '.join(known)}" if known else "it defines no vars"
            raise UsageError(f"--var {name}: the pipeline has no var {name!r}{hint} ({defined})")


def parse_input(name: str, text: str) -> Any:
    """The input's value: JSON, at most ``_jsonsafe.MAX_DEPTH`` levels deep, with lone
    surrogates (which no output could encode) replaced by U+FFFD."""

    def no_constants(word: str) -> Any:
        raise ValueError(f"{word} is not JSON")

    def deep() -> InputInvalid:
        line, col = too_deep(text, _jsonsafe.MAX_DEPTH)
        return InputInvalid(
            [
                Problem(
                    name,
                    line,
                    col,
                    f"the input is nested more than {_jsonsafe.MAX_DEPTH} levels deep (the "
                    "limit for an input)",
                )
            ]
        )

    try:
        # Counted before parsing: ten MiB of '{},' would otherwise cost half a GiB.
        _jsonsafe.check_values(text, max(_jsonsafe.MAX_VALUES, MAX_INPUT_BYTES // 10))
    except _jsonsafe.UntrustedJSONError as exc:
        raise InputInvalid([Problem(name, 1, 1, f"the input {exc.verb} {exc}")]) from None
    try:
        value = json.loads(text, parse_constant=no_constants, parse_float=_jsonsafe.parse_float)
    except json.JSONDecodeError as exc:
        hint = input_hint(text) if name == "<input>" else ""
        raise InputInvalid(
            [Problem(name, exc.lineno, exc.colno, f"the input is not valid JSON: {exc.msg}{hint}")]
        ) from None
    except RecursionError:
        raise deep() from None
    except _jsonsafe.UntrustedJSONError as exc:  # a float that overflows to infinity
        raise InputInvalid([Problem(name, 1, 1, f"the input {exc.verb} {exc}")]) from None
    except ValueError as exc:
        if "digits" in str(exc):  # int() refuses more than sys.get_int_max_str_digits()
            most = sys.get_int_max_str_digits()
            message = f"the input holds a number with more than {most} digits"
        else:
            message = f"the input is not valid JSON: {exc}"
        raise InputInvalid([Problem(name, 1, 1, message)]) from None
    try:
        return _jsonsafe.sanitize(value)
    except _jsonsafe.UntrustedJSONError:
        raise deep() from None


def check_input(pipeline: Pipeline, value: Any, source: tuple[str, str] | None) -> None:
    """Raise InputInvalid, with every problem located, when ``value`` breaks input_schema."""
    schema = pipeline.trigger.input_schema
    if schema is None:
        return
    from jsonschema.exceptions import SchemaError  # only for pipelines with an input_schema

    from ._formats import format_checker, has_format
    from ._patterns import TIMEOUT, input_validator
    from ._validate import _messages

    name = source[0] if source else "<input>"
    if source is None:
        raise InputInvalid(
            [
                Problem(
                    name,
                    1,
                    1,
                    "this pipeline needs an input: pass --input JSON, "
                    "--input @file.json or --input - (stdin)",
                )
            ]
        )
    try:
        validator = input_validator(dict(schema))
        if has_format(schema):  # only then: a schema without one pays nothing for it
            validator = validator.evolve(format_checker=format_checker())
        errors = []
        for error in validator.iter_errors(value):
            errors.append(error)
            if error.validator == TIMEOUT or len(errors) > MAX_INPUT_PROBLEMS:
                break
    except RecursionError:  # a schema that recurses ($ref) over deep input
        raise InputInvalid(
            [Problem(name, 1, 1, "the input is nested too deeply for its input_schema")]
        ) from None
    except SchemaError as exc:  # pragma: no cover - the file's own schema is checked at load
        raise InputInvalid(
            [Problem(name, 1, 1, f"input_schema is invalid: {exc.message}")]
        ) from None
    if not errors:
        return
    found: list[tuple[tuple[str | int, ...], str, bool]] = []
    for error in errors[:MAX_INPUT_PROBLEMS]:
        for path, message, at_key in _messages(error):
            if message.startswith("["):
                message = f"input{message}"
            elif path:
                message = f"input.{message}"
            else:
                message = f"input: {message}"
            found.append((path, message, at_key))
    # Each path, and its ancestors for a value not written (a missing key's object).
    wanted = {path[:i] for path, _, _ in found for i in range(len(path) + 1)}
    values, keys = locate(source[1], wanted)
    problems = []
    for path, message, at_key in found:
        at = keys.get(path) if at_key else None
        while at is None:
            at = values.get(path)
            if at is None and not path:
                at = (1, 1)
            path = path[:-1]
        problems.append(Problem(name, at[0], at[1], message))
    if len(errors) > MAX_INPUT_PROBLEMS:
        problems.append(
            Problem(
                name,
                1,
                1,
                f"more problems in the input: only the first {MAX_INPUT_PROBLEMS} are shown",
            )
        )
    raise InputInvalid(problems)
