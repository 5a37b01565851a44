"""Mistakes that pass every rule and still do the wrong thing, found where they are written.

Each is valid YAML, valid against the schema and a valid expression, and each was made by
a new user: ``"{{ input.email }}"`` without its ``$`` (sent as that very text), a number
compared with text (``status == '201'`` is never true: JMESPath converts no types), and a
``retry`` on a POST that repeats nothing. The first is an error, since the text it sends
is never what was meant; the other two are warnings (``hookline check`` prints them and
still passes, unless ``--strict``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import jmespath
from jmespath import exceptions as jexc

from .expr import TemplateSyntaxError
from .expr._refs import references
from .expr._template import split_template

__all__ = [
    "bare_braces",
    "braced_expression",
    "literal_brace_fix",
    "number_compared_with_text",
    "retry_warning",
]

# Names only hookline gives a meaning: `{{ item.id }}` or `{{ index }}` in a value is a
# forgotten `$`, while `{{firstName}}` (a mail API's own template) is not ours.
HOOKLINE_NAMES = frozenset({"input", "steps", "vars", "env", "secrets", "state", "run", "item",
                            "index", "error"})  # fmt: skip
_BRACES = re.compile(r"(?<!\$)\{\{(.*?)\}\}", re.DOTALL)
_BARE_OPEN = re.compile(r"(?<!\$)\{\{")
_SHOWN = 60  # characters of the expression quoted in a message

literal_brace_fix = "${{ '{{' }}"
"""What writes a literal ``{{`` in a template: an expression whose value is that text."""


def bare_braces(text: str, names: frozenset[str]) -> Iterator[tuple[int, str]]:
    """(offset, expression) of each ``{{ expr }}`` in the literal text of a template whose
    expression reads one of hookline's names or ``names`` (a loop's ``as``)."""
    if "{{" not in text or not _BARE_OPEN.search(text):  # most templates: none, or ${{ only
        return
    try:
        parts = list(split_template(text))
    except TemplateSyntaxError:
        return  # the template does not compile: that error is reported instead
    for part, offset in parts:
        if part[0] != "L":
            continue
        for found in _BRACES.finditer(part[1:]):
            inner = found.group(1).strip()
            if not inner:
                continue
            try:
                ast = jmespath.compile(inner).parsed
            except (jexc.JMESPathError, ValueError, TypeError, RecursionError):
                continue
            roots = {ref.root for ref in references(ast)}
            if roots & (HOOKLINE_NAMES | names):
                yield offset + found.start(), inner


def bare_braces_message(inner: str) -> str:
    shown = inner if len(inner) <= _SHOWN else inner[: _SHOWN - 3] + "..."
    return (
        f"'{{{{ {shown} }}}}' is sent as this very text, not the value: hookline "
        f"expressions are written '${{{{ {shown} }}}}' (for a literal '{{{{', write "
        f"{literal_brace_fix})"
    )


def braced_expression(source: str) -> str | None:
    """The ``x`` of a bare expression written ``{{ x }}`` (where ``x`` compiles), else None."""
    stripped = source.strip()
    if not (stripped.startswith("{{") and stripped.endswith("}}")):
        return None
    inner = stripped[2:-2].strip()
    try:
        jmespath.compile(inner)
    except (jexc.JMESPathError, ValueError, TypeError, RecursionError):
        return None
    return inner or None


def braced_expression_message(inner: str) -> str:
    shown = inner if len(inner) <= _SHOWN else inner[: _SHOWN - 3] + "..."
    return (
        f"'{{{{ {shown} }}}}' is not an expression: this key takes a bare expression, "
        f"written without braces, {shown} (or '${{{{ {shown} }}}}')"
    )


# --- a number compared with text -------------------------------------------------------

_ORDER = {"eq": "==", "ne": "!=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}


def _field_chain(node: dict[str, Any]) -> list[str] | None:
    """``a.b.c`` as ['a', 'b', 'c'], or None for anything but a plain dotted path."""
    if node.get("type") == "field":
        return [str(node["value"])]
    if node.get("type") == "subexpression":
        out: list[str] = []
        for child in node.get("children", []):
            part = _field_chain(child)
            if part is None:
                return None
            out.extend(part)
        return out
    return None


def number_compared_with_text(
    ast: dict[str, Any], is_number: Callable[[tuple[str, ...]], bool]
) -> Iterator[tuple[str, str, str]]:
    """(path as written, the text literal, the operator) for each comparison of a dotted
    path known to hold a number (``is_number``) with a text literal, either way round."""
    stack = [ast]
    while stack:
        node = stack.pop()
        children = [c for c in node.get("children", []) if isinstance(c, dict)]
        if node.get("type") == "comparator" and len(children) == 2:
            for one, other in ((children[0], children[1]), (children[1], children[0])):
                chain = _field_chain(one)
                if (
                    chain is not None
                    and is_number(tuple(chain))
                    and other.get("type") == "literal"
                    and isinstance(other.get("value"), str)
                ):
                    yield ".".join(chain), str(other["value"]), _ORDER.get(node["value"], "==")
        stack.extend(children)


def number_text_message(path: str, text: str, op: str) -> str:
    shown = text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."
    never = "never true" if op == "==" else "always true" if op == "!=" else "always null"
    fix = f"`{shown}`" if _is_number(shown) else "e.g. `201`"
    return (
        f"{path} is a number and '{shown}' is text: JMESPath does not convert types, so "
        f"this comparison is {never}; write a number in backticks, {fix}"
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --- retry that repeats nothing --------------------------------------------------------

_UNSAFE = ("POST", "PATCH")


def retry_warning(raw: dict[str, Any]) -> str | None:
    """The warning for a step whose own ``retry`` cannot repeat its request: a REST POST or
    PATCH, or a GraphQL mutation, without ``idempotent: true``. None when it can."""
    retry = raw.get("retry")
    if not isinstance(retry, dict) or retry.get("idempotent") is True:
        return None
    attempts = retry.get("attempts", 5)
    if isinstance(attempts, int) and attempts <= 1:
        return None
    rest, graphql = raw.get("rest"), raw.get("graphql")
    if isinstance(rest, dict):
        method = str(rest.get("method", "GET")).upper()
        if method not in _UNSAFE:
            return None
        what = f"a {method}"
    elif isinstance(graphql, dict) and str(graphql.get("query", "")).lstrip()[:8] == "mutation":
        what = "a GraphQL mutation"
    else:
        return None
    return (
        f"this retry repeats nothing after an error answer or a timeout: {what} is sent "
        "again only when it never reached the server or was refused with 429; add "
        "'idempotent: true' under retry if sending it twice is safe"
    )
