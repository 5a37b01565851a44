"""Safe YAML loading that remembers where every value came from.

PyYAML's node API gives each node a start mark; we build the plain Python document
ourselves from the nodes so that every path (``("steps", 2, "rest", "method")``) maps to
the line and column of its value and, for mapping entries, of its key. Duplicate keys,
several documents, non-string keys, tabs and broken quoting become located problems
instead of exceptions or silent overwrites.
"""

from __future__ import annotations

import datetime
from typing import Any

import yaml

from ._document import Document, Mark, Path
from ._errors import PipelineInvalid, Problem
from ._yamlerrors import (
    YAML_TAG,
    bad_key,
    reader_error,
    tag_name,
    tag_text,
    unsupported_tag,
    yaml_error,
)
from ._yamlplain import load_plain


def _mark(node: yaml.Node) -> Mark:
    # libyaml gives plain scalars the style "", PyYAML None: one spelling here.
    style = (getattr(node, "style", None) or None) if isinstance(node, yaml.ScalarNode) else None
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1, style)


# More values than any real pipeline holds: past this, aliases are multiplying the file
# (a "billion laughs"), and building it would take all the memory there is.
MAX_VALUES = 100_000
# Text in keys and scalars, counted again at each alias that repeats it: a 1 MB file of
# aliases to long strings otherwise passes and then needs gigabytes to render or store.
# A file without aliases holds less than its size (MAX_PIPELINE_BYTES in _load).
MAX_TEXT = 8 * 1024 * 1024
# Nesting levels of mappings and lists. A real pipeline nests about 10; PyYAML's composer
# and the checks after it recurse once per level, so a deep '[[[[...' must stop here.
MAX_DEPTH = 64

_YAML_TAG = YAML_TAG
_STR_TAG = _YAML_TAG + "str"
_COLLECTION_TAGS = {_YAML_TAG + "map", _YAML_TAG + "seq"}


class _Shared(Exception):
    """Raised on the fast path when a node is reached twice (an alias): use the slow one."""


class _TooLarge(Exception):
    """Raised by the builder when the document expands past MAX_VALUES or MAX_TEXT."""

    def __init__(self, mark: Mark, message: str) -> None:
        super().__init__(message)
        self.mark = mark
        self.message = message


class _TooDeep(Exception):
    """Raised while composing or building when nesting passes MAX_DEPTH."""

    def __init__(self, mark: Mark) -> None:
        super().__init__("too deep")
        self.mark = mark


class _Alias(yaml.Node):
    """An alias (``*name``) where it is used; ``target`` is the anchored node it repeats.

    PyYAML hands back the anchored node itself, which would place every problem inside a
    repeated part at the anchor; keeping the alias lets them point at the alias instead.
    """

    id = "alias"

    def __init__(self, target: yaml.Node, start_mark: Any, end_mark: Any) -> None:
        super().__init__(target.tag, target.value, start_mark, end_mark)
        self.target = target


def _unalias(node: yaml.Node) -> yaml.Node:
    return node.target if isinstance(node, _Alias) else node


class _Loader(yaml.SafeLoader):
    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        # Stop before PyYAML's composer, which recurses per level, exhausts the stack.
        if self.check_event(yaml.CollectionStartEvent):
            if self._depth >= MAX_DEPTH:
                at = self.peek_event().start_mark
                raise _TooDeep(Mark(at.line + 1, at.column + 1))
            self._depth += 1
            try:
                return self._compose(parent, index)
            finally:
                self._depth -= 1
        return self._compose(parent, index)

    def _compose(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            node = super().compose_node(parent, index)  # reports an undefined alias
            assert node is not None
            return _Alias(node, event.start_mark, event.end_mark)
        node = super().compose_node(parent, index)
        assert node is not None
        return node

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        # '<<' takes the anchored mappings themselves (also in the mappings it merges).
        merge = _YAML_TAG + "merge"
        for i, (key, value) in enumerate(node.value):
            if key.tag == merge:
                if isinstance(value, yaml.SequenceNode):
                    value.value = [_unalias(v) for v in value.value]
                node.value[i] = (key, _unalias(value))
        super().flatten_mapping(node)


class _Builder:
    def __init__(self, file: str, loader: Any, *, fast: bool = False) -> None:
        self.doc = Document(file, None)
        self.loader = loader
        self.fast = fast  # composed by libyaml, which hands aliases back as shared nodes
        self._seen: set[int] = set()
        self.problems: list[Problem] = []
        self._active: set[int] = set()
        self._count = 0
        self._text = 0  # characters of keys and scalars built so far (aliases repeat them)
        self._own: dict[int, set[int]] = {}  # per mapping node: its pairs before '<<' merges
        self._alias_mark: Mark | None = None  # set while building what an alias repeats

    def _report(self, problem: Problem) -> None:
        # What an alias repeats was checked where its anchor is: report YAML problems once.
        if self._alias_mark is None:
            self.problems.append(problem)

    def _problem(self, node: yaml.Node, message: str) -> None:
        m = _mark(node)
        self._report(Problem(self.doc.file, m.line, m.col, message))

    def build(self, node: yaml.Node, path: Path) -> Any:
        self._count += 1
        if self._count > MAX_VALUES:
            raise _TooLarge(
                self._alias_mark or _mark(node),
                f"the file expands to more than {MAX_VALUES} values (YAML aliases repeating "
                "large parts?): a pipeline cannot be this large",
            )
        # A collection at path length MAX_DEPTH is one level too many (the top is level
        # 1). The composer stops deep text first; this stops aliases nested in aliases.
        if len(path) >= MAX_DEPTH and not isinstance(_unalias(node), yaml.ScalarNode):
            raise _TooDeep(self._alias_mark or _mark(node))
        if isinstance(node, _Alias):
            if id(node.target) in self._active:
                self._problem(node, "a YAML alias refers to itself")
                return None
            # Everything an alias repeats is located at the alias ("*" keeps column
            # offsets, which count in the anchored text, from being added to it).
            outer = self._alias_mark
            alias = _mark(node)
            self._alias_mark = outer or Mark(alias.line, alias.col, "*")
            try:
                return self.build(node.target, path)
            finally:
                self._alias_mark = outer
        if self.fast:
            if id(node) in self._seen:
                raise _Shared
            self._seen.add(id(node))
        self.doc.values.setdefault(path, self._alias_mark or _mark(node))
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        if node.tag not in _COLLECTION_TAGS:
            self._problem(node, unsupported_tag(node.tag))
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
            assert isinstance(node, yaml.MappingNode)
            return self._mapping(node, path)
        finally:
            self._active.discard(id(node))

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        self._text += len(node.value)
        if self._text > MAX_TEXT:
            raise _TooLarge(
                self._alias_mark or _mark(node),
                f"the file expands to more than {MAX_TEXT // (1024 * 1024)} MiB of text (YAML "
                "aliases repeating long values?): a pipeline cannot be this large",
            )
        if node.tag == _STR_TAG:  # most values: plain text, nothing to construct
            return node.value
        # Timestamps and binary are not JSON: keep what the author wrote (unchecked, so
        # that a date-like '2024-13-45' is text, not a crash).
        if node.tag in (_YAML_TAG + "timestamp", _YAML_TAG + "binary"):
            return node.value
        try:
            value = self.loader.construct_object(node)
        except yaml.constructor.ConstructorError:
            self._problem(node, unsupported_tag(node.tag))
            return tag_text(node.tag, node.value)
        except (ValueError, TypeError, AttributeError, LookupError, OverflowError):
            # Only an explicit tag (``!!int abc``) gets here: implicit ones match a regex.
            tag = tag_name(node.tag)
            self._problem(
                node, f"'{node.value}' is not a valid {tag} value: fix it or remove the tag {tag}"
            )
            return node.value
        if isinstance(value, datetime.date | bytes):
            return node.value
        return value

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        own = self._own.setdefault(id(node), {id(pair) for pair in node.value})
        try:
            self.loader.flatten_mapping(node)  # resolves "<<" merge keys
        except yaml.constructor.ConstructorError as exc:
            at = exc.problem_mark
            m = _mark(node) if at is None else Mark(at.line + 1, at.column + 1)
            self._report(
                Problem(
                    self.doc.file,
                    m.line,
                    m.col,
                    "'<<' (a YAML merge key) takes an alias of a mapping, or a list of them: "
                    "write '<<: *name'",
                )
            )
            node.value = [(k, v) for k, v in node.value if k.tag != _YAML_TAG + "merge"]
        result: dict[str, Any] = {}
        merged: set[str] = set()  # keys that came in through '<<': later keys override them
        for pair in node.value:
            key_node, value_node = _unalias(pair[0]), pair[1]
            km = self._alias_mark or _mark(key_node)
            key = self._scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                self._report(Problem(self.doc.file, km.line, km.col, bad_key(key_node, key)))
                continue
            if key in result and key not in merged:
                first = self.doc.keys[(*path, key)]
                self._report(
                    Problem(
                        self.doc.file,
                        km.line,
                        km.col,
                        f"duplicate key '{key}' (first defined at line {first.line})",
                    )
                )
                continue
            if key in result:  # overrides a merged key: forget where the merged one was
                for located in (self.doc.values, self.doc.keys):
                    for stale in [p for p in located if p[: len(path) + 1] == (*path, key)]:
                        del located[stale]
            if id(pair) in own:
                merged.discard(key)
            else:
                merged.add(key)
            self.doc.keys[(*path, key)] = km
            result[key] = self.build(value_node, (*path, key))
        return result


def _load_fast(file: str, text: str) -> Document | None:
    """Compose with libyaml (about 6 times faster than PyYAML's Python parser).

    Only for the common case: one well-formed document without aliases. Anything else
    (an error, an alias, no libyaml) returns None, and the Python loader, whose messages
    and positions the rest of this module is written for, does the work.
    """
    c_loader = getattr(yaml, "CSafeLoader", None)
    if c_loader is None:
        return None
    loader = c_loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        builder = _Builder(file, loader, fast=True)
        builder.doc.data = builder.build(node, ())
    except (yaml.YAMLError, _Shared, _TooLarge, _TooDeep, RecursionError):
        return None
    finally:
        loader.dispose()
    builder.doc.problems = builder.problems
    builder.doc.lines = text.splitlines()
    return builder.doc


def load_yaml(file: str, raw: bytes | str, *, fast: bool = True) -> Document:
    """Load one YAML document safely.

    Raises PipelineInvalid when the text cannot be read as YAML at all; problems that
    still leave a usable document (duplicate keys, non-string keys) are kept in
    ``Document.problems`` so that later checks can report theirs too.
    """
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            before = raw[: exc.start]
            line = before.count(b"\n") + 1
            col = exc.start - (before.rfind(b"\n") + 1) + 1
            byte = raw[exc.start]
            raise PipelineInvalid(
                [Problem(file, line, col, f"the file is not UTF-8 text (byte 0x{byte:02x})")]
            ) from None
    else:
        text = raw
    if not text.strip():
        raise PipelineInvalid([Problem(file, 1, 1, "the file is empty")])
    if fast:
        # The common case first: data now, positions when a problem or a line needs one.
        plain = load_plain(text, max_values=MAX_VALUES, max_depth=MAX_DEPTH, max_text=MAX_TEXT)
        if plain is not None:
            return Document(file, plain[0], lines=text.splitlines(), locator=plain[1])
    quick = _load_fast(file, text) if fast else None
    if quick is not None:
        return quick
    try:
        loader = _Loader(text)  # checks every character first
    except yaml.reader.ReaderError as exc:
        raise PipelineInvalid([reader_error(file, exc, text)]) from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise PipelineInvalid(
                [Problem(file, 1, 1, "the file holds no YAML document (only comments?)")]
            )
        builder = _Builder(file, loader)
        builder.doc.data = builder.build(node, ())
    except yaml.composer.ComposerError as exc:
        if "single document" in f"{exc.problem} {exc.context}":
            m = exc.problem_mark
            assert m is not None
            raise PipelineInvalid(
                [
                    Problem(
                        file,
                        m.line + 1,
                        m.column + 1,
                        "the file holds several YAML documents: put one pipeline in each file",
                    )
                ]
            ) from None
        raise PipelineInvalid([yaml_error(file, exc, text)]) from None
    except yaml.reader.ReaderError as exc:
        raise PipelineInvalid([reader_error(file, exc, text)]) from None
    except yaml.YAMLError as exc:
        raise PipelineInvalid([yaml_error(file, exc, text)]) from None
    except RecursionError:  # not expected past the depth check; kept as a last guard
        raise PipelineInvalid([Problem(file, 1, 1, "the YAML is nested too deeply")]) from None
    except _TooDeep as exc:
        raise PipelineInvalid(
            [
                Problem(
                    file,
                    exc.mark.line,
                    exc.mark.col,
                    f"the YAML is nested more than {MAX_DEPTH} levels deep here: a pipeline "
                    "cannot nest this deep",
                )
            ]
        ) from None
    except _TooLarge as exc:
        raise PipelineInvalid([Problem(file, exc.mark.line, exc.mark.col, exc.message)]) from None
    finally:
        loader.dispose()
    builder.doc.problems = builder.problems
    builder.doc.lines = text.splitlines()
    return builder.doc
