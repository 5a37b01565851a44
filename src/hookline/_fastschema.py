"""A yes/no JSON Schema check, compiled once into plain Python functions.

jsonschema finds every error and says where, which is what a user needs when a file is
wrong; for a file that is right it costs far more than the answer "valid" needs (and its
import alone is a seventh of a first run). So a file is first checked here: valid, and
jsonschema is never imported; not valid (or not sure), and jsonschema looks again and
words each error. The answer here must never be "valid" where jsonschema finds an error:
every keyword is implemented as jsonschema (Draft 2020-12) reads it, a keyword not
implemented here makes ``compile_schema`` give up (None: always ask jsonschema), and a
format it cannot check says "not sure". Tests compare the two answers over the examples,
the invalid corpus and random mutations of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

Check = Callable[[Any], bool]

# Keywords that only annotate: jsonschema ignores them when validating.
_ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "$defs",
        "definitions",
        "$anchor",
        "$vocabulary",
        "title",
        "description",
        "default",
        "examples",
        "deprecated",
        "readOnly",
        "writeOnly",
        "markdownDescription",
        "contentEncoding",
        "contentMediaType",
        "contentSchema",
    }
)
EXACTLY_ONE = "x-hookline-exactly-one"


class _Unsupported(Exception):
    """A keyword or form this module does not implement: jsonschema decides."""


def _always(_: Any) -> bool:
    return True


def _never(_: Any) -> bool:
    return False


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "number": _is_number,
    # jsonschema: 1.0 is an integer, True is not.
    "integer": lambda v: (
        not isinstance(v, bool)
        and (isinstance(v, int) or (isinstance(v, float) and v.is_integer()))
    ),
}


def equal(one: Any, two: Any) -> bool:
    """jsonschema's equality for enum, const and uniqueItems: true is not 1."""
    if isinstance(one, bool) or isinstance(two, bool):
        return isinstance(one, bool) and isinstance(two, bool) and one == two
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, dict) or isinstance(two, dict):
        if not (isinstance(one, dict) and isinstance(two, dict)) or one.keys() != two.keys():
            return False
        return all(equal(one[k], two[k]) for k in one)
    if isinstance(one, list) or isinstance(two, list):
        if not (isinstance(one, list) and isinstance(two, list)) or len(one) != len(two):
            return False
        return all(equal(a, b) for a, b in zip(one, two, strict=True))
    return bool(one == two)


def _all(checks: list[Check]) -> Check:
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]

    def check(value: Any) -> bool:
        for one in checks:  # noqa: SIM110 (a plain loop: all() of a generator is slower)
            if not one(value):
                return False
        return True

    return check


class _Compiler:
    def __init__(self, root: Any, formats: bool) -> None:
        self.root = root
        self.formats = formats  # asserted (the metaschema) or mere annotations
        self.refs: dict[str, list[Check]] = {}

    def ref(self, target: Any) -> Check:
        if not isinstance(target, str):
            raise _Unsupported("$ref")
        cell = self.refs.get(target)
        if cell is None:
            cell = self.refs[target] = []
            cell.append(self.schema(self._resolve(target)))
        return lambda value: cell[0](value)  # filled in after a recursive reference

    def _resolve(self, target: str) -> Any:
        if target == "#":
            return self.root
        if not target.startswith("#/"):
            raise _Unsupported(f"$ref {target}")
        node = self.root
        for part in target[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise _Unsupported(f"$ref {target}")
            node = node[part]
        return node

    def schema(self, schema: Any) -> Check:
        if schema is True:
            return _always
        if schema is False:
            return _never
        if not isinstance(schema, dict):
            raise _Unsupported("a schema that is not an object")
        checks: list[Check] = []
        for key, value in schema.items():
            if key in _ANNOTATIONS or (key.startswith("x-") and key != EXACTLY_ONE):
                continue
            if key in ("additionalProperties", "patternProperties", "then", "else"):
                continue  # read with "properties" and "if"
            checks.append(self.keyword(key, value, schema))
        extras = "additionalProperties" in schema or "patternProperties" in schema
        if extras and "properties" not in schema:
            checks.append(self.keyword("properties", {}, schema))
        return _all(checks)

    def keyword(self, key: str, value: Any, schema: dict[str, Any]) -> Check:
        method = getattr(self, "k_" + key.replace("$", "").replace("-", "_"), None)
        if method is None:
            raise _Unsupported(key)
        check: Check = method(value, schema)
        return check

    # -- applicators ----------------------------------------------------------------------

    def k_ref(self, value: Any, schema: dict[str, Any]) -> Check:
        return self.ref(value)

    def k_allOf(self, value: Any, schema: dict[str, Any]) -> Check:
        return _all([self.schema(s) for s in value])

    def k_anyOf(self, value: Any, schema: dict[str, Any]) -> Check:
        branches = [self.schema(s) for s in value]
        return lambda v: any(b(v) for b in branches)

    def k_oneOf(self, value: Any, schema: dict[str, Any]) -> Check:
        branches = [self.schema(s) for s in value]
        return lambda v: sum(1 for b in branches if b(v)) == 1

    def k_not(self, value: Any, schema: dict[str, Any]) -> Check:
        inner = self.schema(value)
        return lambda v: not inner(v)

    def k_if(self, value: Any, schema: dict[str, Any]) -> Check:
        test = self.schema(value)
        then = self.schema(schema.get("then", True))
        other = self.schema(schema.get("else", True))
        return lambda v: then(v) if test(v) else other(v)

    def k_properties(self, value: Any, schema: dict[str, Any]) -> Check:
        props = {name: self.schema(s) for name, s in value.items()}
        patterns = [
            (re.compile(p), self.schema(s)) for p, s in schema.get("patternProperties", {}).items()
        ]
        extra = schema.get("additionalProperties")
        rest = None if extra is None else self.schema(extra)

        def check(v: Any) -> bool:
            if not isinstance(v, dict):
                return True
            for key, item in v.items():
                sub = props.get(key)
                if sub is not None and not sub(item):
                    return False
                matched = False
                for pattern, pattern_check in patterns:
                    if pattern.search(key):
                        matched = True
                        if not pattern_check(item):
                            return False
                if rest is not None and sub is None and not matched and not rest(item):
                    return False
            return True

        return check

    def k_propertyNames(self, value: Any, schema: dict[str, Any]) -> Check:
        inner = self.schema(value)
        return lambda v: not isinstance(v, dict) or all(inner(k) for k in v)

    def k_dependentSchemas(self, value: Any, schema: dict[str, Any]) -> Check:
        deps = {name: self.schema(s) for name, s in value.items()}
        return lambda v: (
            not isinstance(v, dict) or all(check(v) for name, check in deps.items() if name in v)
        )

    def k_items(self, value: Any, schema: dict[str, Any]) -> Check:
        if isinstance(value, list):
            raise _Unsupported("items as a list")
        inner = self.schema(value)
        skip = len(schema.get("prefixItems", ()))
        return lambda v: not isinstance(v, list) or all(inner(item) for item in v[skip:])

    def k_prefixItems(self, value: Any, schema: dict[str, Any]) -> Check:
        checks = [self.schema(s) for s in value]
        return lambda v: (
            not isinstance(v, list) or all(c(item) for c, item in zip(checks, v, strict=False))
        )

    # -- assertions -----------------------------------------------------------------------

    def k_type(self, value: Any, schema: dict[str, Any]) -> Check:
        names = value if isinstance(value, list) else [value]
        if not all(isinstance(n, str) and n in _TYPES for n in names):
            raise _Unsupported("type")
        tests = [_TYPES[n] for n in names]
        if len(tests) == 1:
            return tests[0]
        return lambda v: any(t(v) for t in tests)

    def k_enum(self, value: Any, schema: dict[str, Any]) -> Check:
        choices = list(value)
        hashable = [c for c in choices if isinstance(c, str)]
        if len(hashable) == len(choices):  # only text: a set lookup
            allowed = frozenset(hashable)
            return lambda v: isinstance(v, str) and v in allowed
        return lambda v: any(equal(v, c) for c in choices)

    def k_const(self, value: Any, schema: dict[str, Any]) -> Check:
        return lambda v: equal(v, value)

    def k_required(self, value: Any, schema: dict[str, Any]) -> Check:
        names = list(value)
        return lambda v: not isinstance(v, dict) or all(n in v for n in names)

    def k_dependentRequired(self, value: Any, schema: dict[str, Any]) -> Check:
        deps = dict(value)
        return lambda v: (
            not isinstance(v, dict)
            or all(all(other in v for other in needs) for name, needs in deps.items() if name in v)
        )

    def k_pattern(self, value: Any, schema: dict[str, Any]) -> Check:
        pattern = re.compile(value)
        return lambda v: not isinstance(v, str) or pattern.search(v) is not None

    def k_format(self, value: Any, schema: dict[str, Any]) -> Check:
        if not self.formats:
            return _always
        if value == "regex":
            return lambda v: not isinstance(v, str) or _compiles(v)
        return lambda v: not isinstance(v, str)  # a format checked elsewhere: not sure

    def k_minLength(self, value: Any, schema: dict[str, Any]) -> Check:
        return lambda v: not isinstance(v, str) or len(v) >= value

    def k_maxLength(self, value: Any, schema: dict[str, Any]) -> Check:
        return lambda v: not isinstance(v, str) or len(v) <= value

    def k_minItems(self, value: Any, schema: dict[str, Any]) -> Check:
        return lambda v: not isinstance(v, list) or len(v) >= value

    def k_maxItems(self, value: Any, schema: dict[str, Any]) -> Check:
        return lambda v: not isinstance(v, list) or len(v) <= value

    def k_minProperties(self, value: Any, schema: dict[str, Any]) -> Check:
        return lambda v: not isinstance(v, dict) or len(v) >= value

    def k_maxProperties(self, value: Any, schema: dict[str, Any]) -> Check:
        return lambda v: not isinstance(v, dict) or len(v) <= value

    def k_uniqueItems(self, value: Any, schema: dict[str, Any]) -> Check:
        if not value:
            return _always

        def check(v: Any) -> bool:
            if not isinstance(v, list):
                return True
            return not any(equal(v[i], v[j]) for i in range(len(v)) for j in range(i))

        return check

    def k_minimum(self, value: Any, schema: dict[str, Any]) -> Check:
        return lambda v: not _is_number(v) or v >= value

    def k_maximum(self, value: Any, schema: dict[str, Any]) -> Check:
        return lambda v: not _is_number(v) or v <= value

    def k_exclusiveMinimum(self, value: Any, schema: dict[str, Any]) -> Check:
        return lambda v: not _is_number(v) or v > value

    def k_exclusiveMaximum(self, value: Any, schema: dict[str, Any]) -> Check:
        return lambda v: not _is_number(v) or v < value

    def k_x_hookline_exactly_one(self, value: Any, schema: dict[str, Any]) -> Check:
        keys = [branch["required"][0] for branch in value]
        return lambda v: not isinstance(v, dict) or sum(1 for k in keys if k in v) == 1


def _compiles(text: str) -> bool:
    try:
        re.compile(text)
    except (re.error, RecursionError, OverflowError, ValueError):
        return False
    return True


def compile_schema(schema: Any, *, formats: bool = False) -> Check | None:
    """A function telling whether a value is valid against ``schema`` (with ``format``
    asserted as jsonschema's FORMAT_CHECKER does, or not at all), or None when the schema
    uses what is not implemented here."""
    try:
        return _Compiler(schema, formats).schema(schema)
    except (_Unsupported, re.error, TypeError, AttributeError, KeyError, IndexError):
        return None


def internal(node: Any) -> Any:
    """The schema as hookline validates it: every "exactly one of these keys" ``oneOf``
    (a ``oneOf`` of single ``required`` branches) as one counting keyword, which reports
    the very error the ``oneOf`` would (``_validate``) and costs one pass, not five."""
    if isinstance(node, list):
        return [internal(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: internal(value) for key, value in node.items()}
    branches = node.get("oneOf")
    if isinstance(branches, list) and all(
        isinstance(b, dict) and set(b) == {"required"} and len(b["required"]) == 1 for b in branches
    ):
        del out["oneOf"]
        out[EXACTLY_ONE] = branches
    return out


@cache
def _pipeline_check() -> Check | None:
    from ._schema import packaged

    return compile_schema(internal(packaged()))


def pipeline_valid(data: Any) -> bool:
    """True when ``data`` passes the pipeline schema; False when it does not, or when
    only jsonschema can tell (``_validate.schema_problems`` then says what is wrong)."""
    check = _pipeline_check()
    return check is not None and check(data)


@cache
def _metaschema_check() -> Check | None:
    from ._metaschema import merged_metaschema  # imports jsonschema_specifications

    return compile_schema(merged_metaschema(), formats=True)


def metaschema_valid(schema: Any) -> bool:
    """True when ``schema`` (a user's JSON Schema) passes the 2020-12 metaschema, its
    formats checked; False when it does not, or when only jsonschema can tell."""
    check = _metaschema_check()
    return check is not None and check(schema)
