"""Functions on objects and lists: building objects, defaults, unique, group_by, zip."""

from __future__ import annotations

from typing import Any

from jmespath.functions import signature

from ._fnbase import FunctionValueError, a_type_name, key_text

__all__ = ["CollectionFunctions"]


def _identity(value: Any) -> Any:
    """A hashable stand-in for a JSON value, equal exactly when the values are equal as
    JMESPath compares them (``1`` and ``1.0`` alike; ``true`` and ``1`` not; objects
    regardless of key order). Iterative: data may nest as deep as its parser allows."""
    kind = type(value)
    if kind is str or value is None:
        return value
    if kind is bool:
        return ("b", value)
    if kind is int or kind is float:
        return ("n", value)
    # Containers: a post-order walk that builds each one's identity from its children's.
    done: dict[int, Any] = {}
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        node, ready = stack.pop()
        children = list(node.values()) if isinstance(node, dict) else node
        if not ready:
            stack.append((node, True))
            stack.extend((c, False) for c in children if isinstance(c, dict | list))
            continue
        parts = [done[id(c)] if isinstance(c, dict | list) else _identity(c) for c in children]
        if isinstance(node, dict):
            done[id(node)] = ("o", frozenset(zip(node, parts, strict=True)))
        else:
            done[id(node)] = ("a", tuple(parts))
    return done[id(value)]


class CollectionFunctions:
    """Mixed into ``HooklineFunctions``."""

    @signature({"types": ["array"]}, {"types": ["string"]}, {"types": ["string"]})
    def _func_from_items(
        self, items: list[Any], key_field: str, value_field: str
    ) -> dict[str, Any]:
        """Build an object from a list of objects, taking each key and value from a field.

        Every item must be an object whose ``key_field`` is a string or a number (numbers
        become their ``to_string()`` text); a missing or null key is an error naming the
        item's index. A missing ``value_field`` gives null. Later duplicates win.
        """
        result: dict[str, Any] = {}
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise FunctionValueError(
                    "from_items", f"item {index} is {a_type_name(item)}, not an object"
                )
            if key_field not in item:
                raise FunctionValueError("from_items", f"item {index} has no {key_field!r} field")
            key = key_text(item[key_field])
            if key is None:
                raise FunctionValueError(
                    "from_items",
                    f"item {index} has {a_type_name(item[key_field])} {key_field!r}; "
                    "keys must be strings or numbers",
                )
            result[key] = item.get(value_field)
        return result

    @signature({"types": ["object"]})
    def _func_items(self, obj: dict[str, Any]) -> list[list[Any]]:
        """List an object's ``[key, value]`` pairs, in the object's order."""
        return [[key, value] for key, value in obj.items()]

    @signature({"types": ["array"]})
    def _func_from_entries(self, entries: list[Any]) -> dict[str, Any]:
        """Build an object from ``[key, value]`` pairs or ``{key|name, value}`` objects.

        An object entry uses ``key`` if present, otherwise ``name``; a missing ``value``
        gives null. Keys must be strings or numbers (numbers become their ``to_string()``
        text). Later duplicates win.
        """
        result: dict[str, Any] = {}
        for index, entry in enumerate(entries):
            if isinstance(entry, list):
                if len(entry) != 2:
                    raise FunctionValueError(
                        "from_entries",
                        f"entry {index} is an array of {len(entry)} elements; "
                        "expected [key, value]",
                    )
                raw_key, value = entry
            elif isinstance(entry, dict):
                if "key" in entry:
                    raw_key = entry["key"]
                elif "name" in entry:
                    raw_key = entry["name"]
                else:
                    raise FunctionValueError(
                        "from_entries", f"entry {index} has neither a 'key' nor a 'name' field"
                    )
                value = entry.get("value")
            else:
                raise FunctionValueError(
                    "from_entries",
                    f"entry {index} is {a_type_name(entry)}; "
                    "expected [key, value] or {key, value}",
                )
            key = key_text(raw_key)
            if key is None:
                raise FunctionValueError(
                    "from_entries",
                    f"entry {index} has {a_type_name(raw_key)} key; "
                    "keys must be strings or numbers",
                )
            result[key] = value
        return result

    @signature({"types": []}, {"types": []})
    def _func_default(self, value: Any, fallback: Any) -> Any:
        """Return ``value`` unless it is null, then ``fallback`` (false, 0, '' are kept)."""
        return fallback if value is None else value

    @signature({"types": ["array"]})
    def _func_unique(self, values: list[Any]) -> list[Any]:
        """The list without repeats, each value where it first appears. Values are equal
        as JMESPath's ``==`` says: ``1`` and ``1.0`` are, ``1`` and ``'1'`` are not, and
        objects are compared by content whatever their key order."""
        seen: set[Any] = set()
        out = []
        for value in values:
            identity = _identity(value)
            if identity not in seen:
                seen.add(identity)
                out.append(value)
        return out

    @signature({"types": ["array"]}, {"types": ["expref"]})
    def _func_group_by(self, values: list[Any], key: Any) -> dict[str, list[Any]]:
        """An object of lists: each element under the key ``key`` (``&field``) gives for it.

        Keys are strings, or numbers written as their ``to_string()`` text; groups keep
        the order in which their key first appears, and elements their list order. A
        null or missing key is an error naming the element: no element is dropped.
        """
        groups: dict[str, list[Any]] = {}
        for index, value in enumerate(values):
            raw = key.visit(key.expression, value)
            text = key_text(raw)
            if text is None:
                if raw is None:
                    raise FunctionValueError(
                        "group_by",
                        f"element {index} has a null key (a missing field?): give one with "
                        "default(), as in &default(status, 'none')",
                    )
                raise FunctionValueError(
                    "group_by",
                    f"element {index} has {a_type_name(raw)} key; keys must be strings or numbers",
                )
            groups.setdefault(text, []).append(value)
        return groups

    @signature({"types": ["array"], "variadic": True})
    def _func_zip(self, *arrays: list[Any]) -> list[list[Any]]:
        """Pair up lists: ``[[a0, b0], [a1, b1], ...]``, as long as the shortest list
        (as the JMESPath Community specification defines ``zip``)."""
        return [list(group) for group in zip(*arrays, strict=False)]
