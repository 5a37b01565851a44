"""What an expression refers to, read from its JMESPath syntax tree.

Used at load time to report unknown steps, later steps, undeclared secrets, unknown
names and unknown functions before anything runs.
"""

from __future__ import annotations

from typing import Any

from .._frozen import Frozen

# Node types whose first child is evaluated against the same data as the node itself,
# and whose other children against the elements it produces.
_LEFT_ONLY = {
    "subexpression",
    "index_expression",
    "projection",
    "value_projection",
    "filter_projection",
    "pipe",
}
# Node types whose children all see the same data as the node itself.
_SAME_SCOPE = {
    "function_expression",
    "comparator",
    "and_expression",
    "or_expression",
    "not_expression",
    "multi_select_list",
    "multi_select_dict",
    "key_val_pair",
    "flatten",
}


# Written out (``Frozen``) rather than ``@dataclass(frozen=True)``: every run imports this
# module, and a generated class costs about half a millisecond of start-up.
class Reference(Frozen):
    """``root`` is the top-level name; ``member`` the field right after it, if any."""

    __slots__ = _fields = ("root", "member")
    root: str
    member: str | None

    def __init__(self, root: str, member: str | None) -> None:
        self._fill(locals())


class Call(Frozen):
    """A call of the function ``name`` with ``nargs`` arguments."""

    __slots__ = _fields = ("name", "nargs")
    name: str
    nargs: int

    def __init__(self, name: str, nargs: int) -> None:
        self._fill(locals())


def _chain(node: dict[str, Any]) -> list[dict[str, Any]]:
    """The fields of ``a.b[0].c`` as a flat list, the first evaluated against the root."""
    if node["type"] == "subexpression":
        out: list[dict[str, Any]] = []
        for child in node["children"]:
            out.extend(_chain(child))
        return out
    if node["type"] == "index_expression":
        return [*_chain(node["children"][0]), node["children"][1]]
    return [node]


def references(ast: dict[str, Any]) -> list[Reference]:
    """Every top-level name the expression reads from the context, in order."""
    found: list[Reference] = []
    # A module-level walker rather than a nested function that calls itself: that would be
    # a reference cycle (the function and its closure cell) left for the garbage
    # collector once per expression, which `hookline check` of many files pays for.
    _at_root(ast, found)
    return found


def _at_root(node: dict[str, Any], found: list[Reference]) -> None:
    kind = node["type"]
    if kind == "field":
        found.append(Reference(node["value"], None))
    elif kind in ("subexpression", "index_expression"):
        chain = _chain(node)
        head = chain[0]
        if head["type"] == "field":
            second = chain[1] if len(chain) > 1 else None
            member = second["value"] if second and second["type"] == "field" else None
            found.append(Reference(head["value"], member))
        else:
            _at_root(head, found)
        # The rest of the chain is evaluated against elements, not the context: names there
        # are data fields. Only nested function calls matter, and calls() finds them.
    elif kind in _LEFT_ONLY:
        _at_root(node["children"][0], found)
    elif kind in _SAME_SCOPE:
        for child in node["children"]:
            _at_root(child, found)
    # else: literal, current, identity, slice, expref's body, ...: names inside are data
    # fields too.


def negation_traps(ast: dict[str, Any]) -> list[str]:
    """Names in ``!a.b`` forms: JMESPath reads them as ``(!a).b``, which is always null.

    Returns the name right after each ``!`` that a field access follows.
    """
    found: list[str] = []
    stack = [ast]
    while stack:
        node = stack.pop()
        children = [c for c in node.get("children", []) if isinstance(c, dict)]
        if node.get("type") in ("subexpression", "index_expression") and children:
            head = children[0]
            if head.get("type") == "not_expression":
                inner = head["children"][0]
                found.append(str(inner.get("value", "")) if inner.get("type") == "field" else "")
        stack.extend(children)
    return found


def fields_named(ast: dict[str, Any], names: set[str]) -> list[str]:
    """Field names in ``names`` anywhere in the expression (``true`` read as a field)."""
    found = []
    stack = [ast]
    while stack:
        node = stack.pop()
        if node.get("type") == "field" and node.get("value") in names:
            found.append(str(node["value"]))
        stack.extend(c for c in node.get("children", []) if isinstance(c, dict))
    return found


def compared_fields(ast: dict[str, Any]) -> list[str]:
    """Fields compared with something that is not a literal: ``x == "a"`` reads field a."""
    found = []
    stack = [ast]
    while stack:
        node = stack.pop()
        children = [c for c in node.get("children", []) if isinstance(c, dict)]
        if node.get("type") == "comparator" and len(children) == 2:
            for one, other in ((children[0], children[1]), (children[1], children[0])):
                if one.get("type") == "field" and other.get("type") != "literal":
                    found.append(str(one["value"]))
        stack.extend(children)
    return found


def calls(ast: dict[str, Any]) -> list[Call]:
    """Every function call anywhere in the expression."""
    out: list[Call] = []
    stack = [ast]
    while stack:
        node = stack.pop()
        if node.get("type") == "function_expression":
            out.append(Call(node["value"], len(node["children"])))
        stack.extend(c for c in node.get("children", []) if isinstance(c, dict))
    return out


def _path_text(node: dict[str, Any]) -> str | None:
    """``input.name`` or ``steps.get.body.items[0]`` written back from its syntax tree;
    None for anything that is not such a plain path."""
    kind = node.get("type")
    if kind == "field":
        name = str(node["value"])
        plain = name.isidentifier() and name.isascii()
        return name if plain else '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if kind == "subexpression" and len(node["children"]) == 2:
        left, right = (_path_text(c) for c in node["children"])
        return f"{left}.{right}" if left and right else None
    if kind == "index_expression" and len(node["children"]) == 2:
        left, index = node["children"]
        text = _path_text(left)
        if text and index.get("type") == "index":
            return f"{text}[{index['value']}]"
    return None


def argument_text(ast: dict[str, Any], function_name: str, position: int) -> str | None:
    """The argument ``position`` (1-based) of the call of ``function_name``, as written,
    when the expression has one such call and that argument is a plain path."""
    found = [c for c in _call_nodes(ast) if c["value"] == function_name]
    if len(found) != 1 or len(found[0]["children"]) < position:
        return None
    return _path_text(found[0]["children"][position - 1])


def _call_nodes(ast: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    stack = [ast]
    while stack:
        node = stack.pop()
        if node.get("type") == "function_expression":
            out.append(node)
        stack.extend(c for c in node.get("children", []) if isinstance(c, dict))
    return out
