"""A run's input: read from --input (JSON text, @file or - for stdin), checked against
the trigger's input_schema with located messages (exit 2)."""

from __future__ import annotations

import json
from typing import IO, Any

from ._errors import InputInvalid, Problem, UsageError
from ._load import read_source
from ._model import Pipeline
from ._yamlpos import load_yaml


def read_input(arg: str | None, stdin: IO[str]) -> tuple[str, str] | None:
    """(name for messages, JSON text) from an --input argument; None when not given."""
    if arg is None:
        return None
    if arg == "-":
        return "<stdin>", stdin.read()
    if arg.startswith("@"):
        path = arg[1:]
        if not path:
            raise UsageError("--input @FILE needs a file name after '@'")
        raw = read_source(path, "an input file")
        try:
            return path, raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise UsageError(f"{path}: the input file is not UTF-8 text") from None
    return "<input>", arg


def parse_input(name: str, text: str) -> Any:
    def no_constants(word: str) -> Any:
        raise ValueError(f"{word} is not JSON")

    try:
        return json.loads(text, parse_constant=no_constants)
    except json.JSONDecodeError as exc:
        hint = ""
        if name == "<input>" and text.strip() and " " not in text.strip():
            hint = f" (to read the file {text.strip()}, write --input @{text.strip()})"
        raise InputInvalid(
            [Problem(name, exc.lineno, exc.colno, f"the input is not valid JSON: {exc.msg}{hint}")]
        ) from None
    except ValueError as exc:
        raise InputInvalid([Problem(name, 1, 1, f"the input is not valid JSON: {exc}")]) from None


def check_input(pipeline: Pipeline, value: Any, source: tuple[str, str] | None) -> None:
    """Raise InputInvalid, with every problem located, when ``value`` breaks input_schema."""
    schema = pipeline.trigger.input_schema
    if schema is None:
        return
    from jsonschema import Draft202012Validator  # only for pipelines with an input_schema
    from jsonschema.exceptions import SchemaError

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
        validator = Draft202012Validator(dict(schema))
        errors = list(validator.iter_errors(value))
    except SchemaError as exc:  # pragma: no cover - the file's own schema is checked at load
        raise InputInvalid(
            [Problem(name, 1, 1, f"input_schema is invalid: {exc.message}")]
        ) from None
    if not errors:
        return
    # JSON is YAML: load the text again with positions to point at the offending value.
    doc = load_yaml(name, source[1])
    problems = []
    for error in errors:
        for path, message, at_key in _messages(error):
            if message.startswith("["):
                message = f"input{message}"
            elif path:
                message = f"input.{message}"
            else:
                message = f"input: {message}"
            problems.append(doc.problem(path, message, at_key=at_key))
    raise InputInvalid(problems)
