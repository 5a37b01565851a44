"""The keys of a step's result, where the file fixes them, and the keys expressions read.

``extract: {items: body.items}`` makes the step's result ``{items: ...}``; a loop over
``steps.fetch.itmes`` then reads null and runs zero times without a word. When the file
fixes a step's keys, the checker reports a key the result cannot have, with a "did you
mean". The keys are fixed by:

- ``extract``: its names, whatever the kind;
- a REST step without it: ``status``, ``headers`` and ``body`` (paginated: ``items``,
  ``pages`` and ``warning`` too);
- a ``set`` step whose value is a mapping: its keys (they are never templates).

``on_error: continue`` adds ``error`` (the result of a step that failed); an ``on_error``
with steps makes the result that of its last step, which is not known, nor is the result
of any other kind (SOAP, GraphQL, code, ...). A skipped step's result is null, which
every key reads as null, as meant.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .expr._refs import _LEFT_ONLY, _SAME_SCOPE, _chain

__all__ = ["known_keys", "result_keys", "step_fields"]

_REST = ("body", "headers", "status")
_PAGED = ("items", "pages", "warning")


def result_keys(raw: dict[str, Any]) -> tuple[frozenset[str], str] | None:
    """The keys the result of the step written as ``raw`` can have, and where they come
    from (for the message); None when the file does not fix them."""
    handler = raw.get("on_error")
    if isinstance(handler, dict):
        return None  # the last on_error step's result: unknown here
    extra = ("error",) if handler == "continue" else ()
    extract = raw.get("extract")
    if isinstance(extract, dict):
        return frozenset((*map(str, extract), *extra)), "its extract gives"
    rest = raw.get("rest")
    if isinstance(rest, dict):
        keys = _REST + (_PAGED if "paginate" in rest else ())
        return frozenset((*keys, *extra)), "a rest step's result has"
    value = raw.get("set")
    if "set" in raw and isinstance(value, dict):
        return frozenset((*map(str, value), *extra)), "its value has"
    return None


def known_keys(data: object) -> dict[str, tuple[frozenset[str], str]]:
    """Step id → (keys, wording) for every step of the file whose result keys are fixed."""
    found: dict[str, tuple[frozenset[str], str]] = {}
    if not isinstance(data, dict):
        return found
    stack = [data.get("steps"), data.get("on_failure")]
    while stack:
        steps = stack.pop()
        for raw in steps if isinstance(steps, list) else ():
            if not isinstance(raw, dict):
                continue
            sid = raw.get("id")
            keys = result_keys(raw)
            if isinstance(sid, str) and keys is not None:
                found.setdefault(sid, keys)  # a duplicate id is reported elsewhere
            for kind in ("for_each", "on_error"):
                if isinstance(raw.get(kind), dict):
                    stack.append(raw[kind].get("steps"))
    return found


def step_fields(ast: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(step id, key) for every ``steps.ID.KEY`` the expression reads from the context.

    Walks the tree as ``_refs.references`` does: names under a projection or a filter
    are fields of the elements, not of the context, and are left alone.
    """
    stack = [ast]
    while stack:
        node = stack.pop()
        kind = node["type"]
        if kind in ("subexpression", "index_expression"):
            chain = _chain(node)
            head = chain[0]
            if head["type"] != "field":
                stack.append(head)
            elif head["value"] == "steps" and len(chain) >= 3:
                sid, key = chain[1], chain[2]
                if sid["type"] == "field" and key["type"] == "field":
                    yield str(sid["value"]), str(key["value"])
        elif kind in _LEFT_ONLY:
            stack.append(node["children"][0])
        elif kind in _SAME_SCOPE:
            stack.extend(c for c in node["children"] if isinstance(c, dict))
