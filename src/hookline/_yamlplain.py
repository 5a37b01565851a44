"""The quickest load of a well-formed YAML document: its data now, its positions when asked.

Most files that ``hookline check`` reads are valid, and a valid file needs a dozen
positions (its step ids, its secrets), not one for each of its values and keys: making a
position for every node, and a path to file it under, cost twice what libyaml's parse
did. So libyaml composes the nodes, the data is built from them here without positions,
and the nodes are kept: ``NodeLocator`` finds a path's position by walking them, when a
problem is located or a step's line is asked for, and maps every position at once only
when the whole map is needed (the validated-file cache keeps it).

Only the common case is taken: one document, no alias, no merge key, no duplicate or
non-string key, no tag that needs a word of its own, within the limits of ``_yamlpos``.
Anything else returns None and ``_yamlpos`` loads the file again, with its messages. The
data and the positions are those ``_yamlpos`` gives, which the tests compare over the
examples, the invalid corpus and mutations of them.
"""

from __future__ import annotations

import datetime
from typing import Any

import yaml

from ._document import Mark, Path
from ._yamlerrors import YAML_TAG

_STR = YAML_TAG + "str"
_AS_WRITTEN = frozenset({YAML_TAG + "timestamp", YAML_TAG + "binary"})  # kept as text
_MAP = YAML_TAG + "map"
_SEQ = YAML_TAG + "seq"
_MERGE = YAML_TAG + "merge"


# The tag of a plain scalar, by its text: the loader asks for every scalar, and the same
# keys and words recur in every file (``id``, ``rest``, ``true``); the answer depends on
# the text alone. Emptied when it holds this many.
_TAGS_KEPT = 20_000
_tags: dict[str, str] = {}


def _loader_class() -> Any:
    """libyaml's loader, remembering the tag of each plain scalar's text."""
    c_loader = getattr(yaml, "CSafeLoader", None)
    if c_loader is None or c_loader.yaml_path_resolvers or None in c_loader.yaml_implicit_resolvers:
        return c_loader  # resolved by more than the text: ask every time

    class Loader(c_loader):  # type: ignore[misc, valid-type]
        def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
            if kind is not yaml.ScalarNode or not implicit[0]:
                return super().resolve(kind, value, implicit)
            tag = _tags.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(_tags) >= _TAGS_KEPT:
                    _tags.clear()
                _tags[value] = tag
            return tag

        # Only for path resolvers, which this loader has none of.
        def descend_resolver(self, current_node: Any, current_index: Any) -> None:
            return None

        def ascend_resolver(self) -> None:
            return None

    return Loader


_LOADER = _loader_class()


class _Irregular(Exception):
    """Something only ``_yamlpos`` handles (or words): load the file there."""


class _Plain:
    """Builds the data of a composed document, as ``_yamlpos._Builder`` does."""

    def __init__(self, loader: Any, max_values: int, max_depth: int, shared: bool) -> None:
        self.loader = loader
        self.left = max_values  # values still allowed
        self.max_depth = max_depth
        # Without an '&' in the text there is no anchor, so no node can be reached twice.
        self.seen: set[int] | None = set() if shared else None

    def build(self, node: yaml.Node, depth: int) -> Any:
        self.left -= 1
        if self.left < 0:
            raise _Irregular
        if self.seen is not None:
            if id(node) in self.seen:
                raise _Irregular  # an alias: positions at the alias need _yamlpos
            self.seen.add(id(node))
        tag = node.tag
        if isinstance(node, yaml.ScalarNode):
            return node.value if tag == _STR else self.scalar(node)  # mostly plain text
        if depth >= self.max_depth:
            raise _Irregular  # _yamlpos says where it is too deep
        if isinstance(node, yaml.CollectionNode) and node.flow_style and _question_in_flow(node):
            raise _Irregular
        if tag == _SEQ:
            return [self.build(child, depth + 1) for child in node.value]
        if tag != _MAP:
            raise _Irregular  # an unsupported tag (!!set, !!omap, !custom)
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE or not isinstance(key_node, yaml.ScalarNode):
                raise _Irregular
            key = key_node.value if key_node.tag == _STR else self.scalar(key_node)
            if not isinstance(key, str) or key in result:
                raise _Irregular  # a non-string or duplicate key: a located problem
            result[key] = self.build(value_node, depth + 1)
        return result

    def scalar(self, node: yaml.ScalarNode) -> Any:
        if node.tag == _STR or node.tag in _AS_WRITTEN:
            return node.value
        try:
            value = self.loader.construct_object(node)
        except Exception:
            raise _Irregular from None
        if isinstance(value, datetime.date | bytes):
            return node.value
        return value


def _question_in_flow(node: yaml.CollectionNode) -> bool:
    """A plain scalar holding '?' inside a flow collection (``{b: c? 1}``): libyaml reads
    it as text, the pure-Python scanner ends the scalar there and reports an error. The
    file is taken by ``_yamlpos`` so that both loads agree. (libyaml gives a plain
    scalar the style '', PyYAML None.)"""
    children = (
        node.value if isinstance(node, yaml.SequenceNode) else [n for kv in node.value for n in kv]
    )
    return any(
        isinstance(child, yaml.ScalarNode) and not child.style and "?" in child.value
        for child in children
    )


def _mark(node: yaml.Node) -> Mark:
    # libyaml gives plain scalars the style "": None, as _yamlpos spells it.
    style = (node.style or None) if isinstance(node, yaml.ScalarNode) else None
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1, style)


def _child(node: yaml.Node, part: str | int) -> tuple[yaml.Node, yaml.Node | None] | None:
    """The node at ``part`` under ``node``, with its key node (None in a list)."""
    if isinstance(node, yaml.MappingNode):
        if isinstance(part, str):
            for key_node, value_node in node.value:
                if key_node.value == part:  # keys are unique strings (else _Irregular)
                    return value_node, key_node
    elif (
        isinstance(node, yaml.SequenceNode)
        and isinstance(part, int)
        and 0 <= part < len(node.value)
    ):
        return node.value[part], None
    return None


class NodeLocator:
    """Positions in a document loaded by ``load_plain``, found in its nodes on demand."""

    def __init__(self, root: yaml.Node) -> None:
        self.root = root
        # Every path walked, with what _walk found: the paths asked for share most of
        # their parts (a step's id, its template's position), so each part is found once.
        self._walked: dict[Path, tuple[int, yaml.Node, yaml.Node | None]] = {(): (0, root, None)}

    def _walk(self, path: Path) -> tuple[int, yaml.Node, yaml.Node | None]:
        """How many parts of ``path`` lead to a node, that node, and its key node."""
        found = self._walked.get(path)
        if found is None:
            found = above = self._walk(path[:-1])
            if above[0] == len(path) - 1:
                child = _child(above[1], path[-1])
                if child is not None:
                    found = (len(path), *child)
            self._walked[path] = found
        return found

    def nearest(self, path: Path) -> Mark:
        """The position of the value at ``path``, or of its nearest ancestor."""
        return _mark(self._walk(path)[1])

    def value(self, path: Path) -> Mark | None:
        """The position of the value at ``path``, if there is one."""
        depth, node, _ = self._walk(path)
        return _mark(node) if depth == len(path) else None

    def key(self, path: Path) -> Mark | None:
        """The position of the key that introduces ``path``, if there is one."""
        depth, _, key = self._walk(path)
        return _mark(key) if depth == len(path) and key is not None else None

    def every(self) -> tuple[dict[Path, Mark], dict[Path, Mark]]:
        """Every value's and every key's position, in the order ``_yamlpos`` lists them."""
        values: dict[Path, Mark] = {}
        keys: dict[Path, Mark] = {}

        def visit(node: yaml.Node, path: Path) -> None:
            values[path] = _mark(node)
            if isinstance(node, yaml.SequenceNode):
                for i, child in enumerate(node.value):
                    visit(child, (*path, i))
            elif isinstance(node, yaml.MappingNode):
                for key_node, value_node in node.value:
                    keys[(*path, key_node.value)] = _mark(key_node)
                    visit(value_node, (*path, key_node.value))

        visit(self.root, ())
        return values, keys


def load_plain(
    text: str, *, max_values: int, max_depth: int, max_text: int
) -> tuple[Any, NodeLocator] | None:
    """The data of ``text`` and the locator of its positions; None when the file is not
    in the common case (or libyaml is missing): ``_yamlpos`` then loads it."""
    if _LOADER is None or len(text) > max_text:
        return None  # longer: _yamlpos counts its text
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        data = _Plain(loader, max_values, max_depth, "&" in text).build(node, 0)
    except (yaml.YAMLError, _Irregular, RecursionError):
        return None
    finally:
        loader.dispose()
    return data, NodeLocator(node)
