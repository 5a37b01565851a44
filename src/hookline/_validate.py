"""JSON Schema validation, with every error in plain words at its file:line:col.

jsonschema reports what failed in schema terms; users need to know which key, where,
and what to write instead. Each validator keyword gets its own wording here; a ``oneOf``
that only says "exactly one of these keys" (a step's kind, a trigger, an auth method)
becomes "a step needs exactly one of: ...", never "is not valid under any of the given
schemas".
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

from ._document import Document, Path, where
from ._errors import Problem
from ._fastschema import EXACTLY_ONE, internal
from ._plan import did_you_mean
from ._schema import packaged

_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


@cache
def _validator() -> Draft202012Validator:
    """A validator of the published schema, with one shortcut.

    Every "exactly one of these keys" rule is written as a ``oneOf`` of ``required``
    branches, which editors understand; jsonschema checks it by trying each branch and
    making an error object for every miss (five per step). The internal copy of the
    schema states the same rule as one keyword, checked by counting keys; it reports
    the very error the ``oneOf`` would, so messages do not change.
    """
    cls = validators.extend(Draft202012Validator, {_EXACTLY_ONE: _exactly_one})
    return cls(internal(packaged()))  # type: ignore[no-any-return]


_EXACTLY_ONE = EXACTLY_ONE


def _exactly_one(
    validator: Any, branches: list[dict[str, list[str]]], instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not isinstance(instance, dict):
        return
    present = sum(1 for branch in branches if branch["required"][0] in instance)
    if present != 1:
        yield ValidationError(
            "needs exactly one of the keys", validator="oneOf", validator_value=branches
        )


def describe(value: Any) -> str:
    """How a YAML value is named in messages."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int | float):
        return f"{value} (a number)"
    text = value if len(value) <= 40 else value[:37] + "..."
    return f"'{text}' (a string)"


def _literal(value: Any) -> str:
    """A schema constant as users write it: 'text', 1, true."""
    return f"'{value}'" if isinstance(value, str) else json.dumps(value)


def _one_or_list(names: list[str], last: str = "or") -> str:
    """'a', 'a or b', 'a, b or c' (or with another word before the last)."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {last} {names[-1]}"


def _homes(key: str, schema: dict[str, Any]) -> list[str]:
    """The properties of ``schema`` whose own mapping accepts ``key``: where it belongs."""
    return [
        name
        for name, sub in schema.get("properties", {}).items()
        if isinstance(sub, dict) and key in sub.get("properties", {})
    ]


# Keys of a step itself, which users put inside the kind's mapping (`rest: {retry: ...}`).
_STEP_KEYS = frozenset({"retry", "timeout", "if", "extract", "on_error", "name", "description"})
_REQUESTS = frozenset({"rest", "soap", "graphql"})  # kinds whose connection has these two


def _step_key_hint(path: Path, key: str) -> str:
    """Where a step's own key goes when it is written inside the step's kind."""
    step = len(path) >= 3 and path[-3] in ("steps", "on_failure") and isinstance(path[-2], int)
    if not step or key not in _STEP_KEYS or not isinstance(path[-1], str):
        return ""
    kind = path[-1]
    if kind in _REQUESTS and key in ("retry", "timeout"):
        return f": it goes on the step (beside '{kind}:') or on its connection, not in the request"
    inside = "the request" if kind in _REQUESTS else f"'{kind}:'"
    return f": it goes on the step (beside '{kind}:'), not in {inside}"


def _kind_keys(error: ValidationError) -> list[str] | None:
    """The keys of an exactly-one-of ``oneOf``, or None for any other oneOf."""
    keys = []
    for sub in error.validator_value:
        if set(sub) != {"required"} or len(sub["required"]) != 1:
            return None
        keys.append(sub["required"][0])
    return keys


def _what(path: Path) -> str:
    """A name for the object at ``path`` in 'X needs exactly one of' messages."""
    if len(path) >= 2 and path[-2] in ("steps", "on_failure") and isinstance(path[-1], int):
        return "a step"
    names = {"trigger": "the trigger", "auth": "auth", "paginate": "paginate", "api_key": "api_key"}
    if path and path[-1] in names:
        return str(names[path[-1]])
    if len(path) >= 2 and path[-2] == "connections":
        return f"connection '{path[-1]}'"
    return where(path) or "the pipeline"


def _messages(error: ValidationError) -> Iterator[tuple[Path, str, bool]]:
    """Yield (path, message, point at the key) for one jsonschema error."""
    path: Path = tuple(error.absolute_path)
    name = where(path)
    prefix = f"{name}: " if name else ""
    keyword = error.validator
    value = error.instance
    if keyword == "additionalProperties" and isinstance(value, dict):
        allowed = sorted(error.schema.get("properties", {}))
        for key in value:
            if key in allowed:
                continue
            homes = _homes(key, error.schema)
            homes = [h for h in homes if h in value] or homes  # the kind the object has
            hint = _step_key_hint(path, key) or did_you_mean(key, allowed)
            if not hint and homes:
                inside = _one_or_list([f"'{h}'" for h in homes])
                hint = f": it belongs inside {'one of ' if len(homes) > 1 else ''}{inside}"
            if not hint and allowed:
                hint = f" (allowed here: {', '.join(allowed)})"
            yield (*path, key), f"{prefix}unknown key '{key}'{hint}", True
    elif keyword == "required":
        missing = [k for k in error.validator_value if k not in value]
        for key in missing:
            yield path, f"{prefix}missing required key '{key}'", bool(path)
    elif keyword == "oneOf" and _kind_keys(error) is not None and not isinstance(value, dict):
        return  # not a mapping at all: its "type" error says so
    elif keyword == "oneOf" and _kind_keys(error) is not None and isinstance(value, dict):
        keys = _kind_keys(error) or []
        present = [k for k in keys if k in value]
        what = _what(path)
        allowed = error.schema.get("properties", {})
        unknown = [k for k in value if k not in allowed]
        misplaced = [k for k in unknown if did_you_mean(k, keys) or _homes(k, error.schema)]
        if not present and (misplaced or (unknown and set(allowed) <= set(keys))):
            return  # the unknown-key message says what to write instead
        if not present:
            yield path, f"{prefix}{what} needs exactly one of: {', '.join(keys)}", bool(path)
        else:
            yield (
                path,
                f"{prefix}{what} needs exactly one of: {', '.join(keys)}; this one has "
                + _one_or_list(present, "and"),
                bool(path),
            )
    elif keyword == "type":
        wanted = error.validator_value
        wanted = wanted if isinstance(wanted, list) else [wanted]
        names = _one_or_list(
            [
                "a boolean" if w == "boolean" and len(wanted) > 1 else _TYPE_NAMES.get(w, w)
                for w in map(str, wanted)
            ]
        )
        yield path, f"{prefix}expected {names}, got {describe(value)}", False
    elif keyword == "enum":
        choices = ", ".join(c if isinstance(c, str) else _literal(c) for c in error.validator_value)
        if isinstance(value, dict | list):
            yield path, f"{prefix}expected one of {choices}, got {describe(value)}", False
        else:
            hint = did_you_mean(str(value), [str(c) for c in error.validator_value])
            yield path, f"{prefix}{describe(value)} is not one of {choices}{hint}", False
    elif keyword == "const":
        const = error.validator_value
        hint = "; write it without quotes" if isinstance(value, str) and value == str(const) else ""
        yield path, f"{prefix}must be {_literal(const)}, got {describe(value)}{hint}", False
    elif keyword == "pattern" and "propertyNames" in error.absolute_schema_path:
        words = _PATTERN_WORDS["id"].replace("step id", "name")
        yield (*path, str(value)), f"{prefix}'{value}' {words}", True
    elif keyword == "pattern":
        yield (
            path,
            f"{prefix}{describe(value)} {_pattern_words(path, error.validator_value)}",
            False,
        )
    elif keyword in ("minItems", "minLength", "minProperties") and not value:
        yield path, f"{prefix}must not be empty", False
    elif keyword in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        sign = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}[
            keyword
        ]
        yield path, f"{prefix}must be {sign} {error.validator_value}, got {value}", False
    elif keyword == "uniqueItems" and isinstance(value, list):
        seen: list[Any] = []
        for i, item in enumerate(value):
            if item in seen:
                first = where((*path, seen.index(item)))
                yield (*path, i), f"{prefix}{describe(item)} is already listed ({first})", False
            seen.append(item)
    elif keyword == "propertyNames":
        yield path, f"{prefix}invalid name {describe(value)}", False
    elif keyword == "maxLength":
        yield path, f"{prefix}is longer than {error.validator_value} characters", False
    elif keyword == "not":
        groups = _conflicts(error, value) if isinstance(value, dict) else []
        for group in groups:
            listed = _one_or_list([f"'{k}'" for k in group], "and")
            yield (*path, group[1]), f"{prefix}use only one of {listed}", True
        if not groups:
            yield path, f"{prefix}{_not_words(error, value)}", False
    elif keyword in ("oneOf", "anyOf"):
        yield from _one_of(error, path, prefix)
    elif keyword == "format":
        from ._formats import WORDS  # the formats of an input_schema

        name = str(error.validator_value)
        what = _FORMAT_WORDS.get(name) or WORDS.get(name) or f"'{name}' value"
        yield path, f"{prefix}{describe(value)} is not a valid {what}", False
    else:
        yield path, f"{prefix}{error.message}", False


_PATTERN_WORDS = {
    "id": "is not a valid step id: use letters, digits and _, not starting with a digit",
    "name": "is not a valid name: use letters, digits, '_', '.', '-'",
    "path": "is not a valid path: it must start with '/'",
    "rate_limit": "is not a rate: write it as N/s, N/min or N/h, e.g. '5/s'",
}


def _pattern_words(path: Path, pattern: str) -> str:
    last = path[-1] if path else ""
    if isinstance(last, int) and len(path) >= 2 and path[-2] == "secrets":
        return "is not a valid secret name: use capital letters, digits and _ (e.g. API_TOKEN)"
    if isinstance(last, str) and last in _PATTERN_WORDS:
        return _PATTERN_WORDS[last]
    if "ms|s|m|h" in pattern:
        return "is not a duration: write seconds as a number, or e.g. '500ms', '30s', '2m'"
    if "xx" in pattern:
        return "is not a status: write a number such as 200 or a class such as '2xx'"
    return f"does not match the pattern {pattern}"


_FORMAT_WORDS = {"regex": "regular expression", "uri": "URI", "email": "email address"}


def _conflicts(error: ValidationError, value: dict[str, Any]) -> list[list[str]]:
    """Keys present together that a ``not: {anyOf: [{required: [a, b]}, ...]}`` forbids.

    Pairs that share a key are merged ('json', 'form' and 'body': one request body), and
    each group lists its keys in the order of the file.
    """
    groups: list[set[str]] = []
    for sub in error.validator_value.get("anyOf", []):
        keys = sub.get("required", [])
        if len(keys) == 2 and all(k in value for k in keys):
            joined = {*keys}.union(*[g for g in groups if g & {*keys}])
            groups = [g for g in groups if not g & {*keys}] + [joined]
    order = list(value)
    return sorted((sorted(g, key=order.index) for g in groups), key=lambda g: order.index(g[1]))


def _not_words(error: ValidationError, value: Any) -> str:
    if "enum" in error.validator_value:
        return f"{describe(value)} is a reserved name: choose another"
    return "is not allowed here"


def _one_of(error: ValidationError, path: Path, prefix: str) -> Iterator[tuple[Path, str, bool]]:
    """A oneOf between shapes (a string or a mapping, say): report the closest branch."""
    value = error.instance
    # Prefer the branch of the value's own type: its errors are the useful ones. A branch
    # that wants another type altogether fails right at the value, with "type" (or with
    # "enum" when it lists words and the value is a mapping or list).
    same_type = [
        e
        for e in error.context or []
        if e.relative_path
        or (
            e.validator != "type"
            and not (e.validator in ("enum", "const") and isinstance(e.instance, dict | list))
        )
    ]
    if same_type:
        deepest = max(same_type, key=lambda e: len(e.absolute_path))
        branch = deepest.relative_schema_path[0]
        for e in same_type:
            if e.relative_schema_path[0] == branch:
                yield from _messages(e)
        return
    kinds: list[str] = []
    for sub in error.validator_value:
        if "type" in sub:  # one type, or a list of them (["string", "number"])
            types = sub["type"] if isinstance(sub["type"], list) else [sub["type"]]
            kinds += [str(_TYPE_NAMES.get(t, t)) for t in types]
        elif "enum" in sub:
            kinds.append(" or ".join(_literal(c) for c in sub["enum"]))
    if not kinds:  # branches without a type of their own (say, only $refs)
        from jsonschema.exceptions import best_match

        best = best_match(error.context or [])
        if best is not None and best is not error:
            yield from _messages(best)
            return
        yield path, f"{prefix}{describe(value)} is not allowed here", False
        return
    yield path, f"{prefix}expected {' or '.join(kinds)}, got {describe(value)}", False


def schema_problems(doc: Document) -> list[Problem]:
    """Every schema error in ``doc``, located and in plain words."""
    problems: list[Problem] = []
    found = [m for error in _validator().iter_errors(doc.data) for m in _messages(error)]
    for path, message, at_key in _one_per_misspelling(found):
        word = doc.written(path) if "(a boolean)" in message else ""
        if word and word.lower() not in ("true", "false"):  # yes, no, on, off
            read = "true" if word.lower() in ("yes", "on", "y") else "false"
            message = message.replace(
                f"{read} (a boolean)",
                f"{read} (YAML reads {word} as {read}: write '{word}' in quotes for the text)",
            )
        problems.append(doc.problem(path, message, at_key=at_key))
    return problems


_MISSPELT = re.compile(r"unknown key '(.*)'; did you mean '(.*)'\?$", re.DOTALL)


def misspelt_keys(found: list[tuple[Path, str, bool]]) -> dict[Path, set[str]]:
    """Mapping path → the keys its misspelt keys were meant to be (``itmes`` → ``items``),
    from the unknown-key messages (path of the key itself, message, at key)."""
    meant: dict[Path, set[str]] = {}
    for path, message, _ in found:
        match = _MISSPELT.search(message)
        if match and path and path[-1] == match.group(1):
            meant.setdefault(path[:-1], set()).add(match.group(2))
    return meant


def _one_per_misspelling(found: list[tuple[Path, str, bool]]) -> list[tuple[Path, str, bool]]:
    """One message for one misspelt key: ``itmes:`` for a required ``items`` gave "missing
    required key 'items'" beside "unknown key 'itmes'; did you mean 'items'?"; the second
    says all, so the first goes."""
    meant = misspelt_keys(found)
    if not meant:
        return found
    kept = []
    for path, message, at_key in found:
        missing = re.search(r"missing required key '(.*)'$", message)
        if missing and missing.group(1) in meant.get(path, ()):
            continue
        kept.append((path, message, at_key))
    return kept
