"""Safe YAML loading that remembers where every value came from.

PyYAML's node API gives each node a start mark; we build the plain Python document
ourselves from the nodes so that every path (``("steps", 2, "rest", "method")``) maps to
the line and column of its value and, for mapping entries, of its key. Duplicate keys,
several documents, non-string keys, tabs and broken quoting become located problems
instead of exceptions or silent overwrites.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

import yaml

from ._errors import PipelineInvalid, Problem

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Mark:
    """A 1-based position, plus what the scalar looked like in the file."""

    line: int
    col: int
    style: str | None = None  # YAML scalar style: None plain, "'" or '"' quoted, "|" ">" block


@dataclass
class Document:
    """A loaded YAML document: the data, and where each path sits in the file."""

    file: str
    data: Any
    values: dict[Path, Mark] = field(default_factory=dict)
    keys: dict[Path, Mark] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)  # found while loading, not fatal

    def mark(self, path: Path) -> Mark:
        """The position of the value at ``path``, or of its nearest located ancestor."""
        while path not in self.values and path:
            path = path[:-1]
        return self.values.get(path, Mark(1, 1))

    def key_mark(self, path: Path) -> Mark:
        """The position of the key that introduces ``path`` (falls back to its value)."""
        return self.keys.get(path) or self.mark(path)

    def problem(self, path: Path, message: str, *, at_key: bool = False) -> Problem:
        m = self.key_mark(path) if at_key else self.mark(path)
        return Problem(self.file, m.line, m.col, message)


def _mark(node: yaml.Node) -> Mark:
    style = getattr(node, "style", None) if isinstance(node, yaml.ScalarNode) else None
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1, style)


class _Builder:
    def __init__(self, file: str, loader: yaml.SafeLoader) -> None:
        self.doc = Document(file, None)
        self.loader = loader
        self.problems: list[Problem] = []
        self._active: set[int] = set()

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.doc.values.setdefault(path, _mark(node))
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        if id(node) in self._active:  # an alias that contains itself
            m = _mark(node)
            self.problems.append(
                Problem(self.doc.file, m.line, m.col, "a YAML alias refers to itself")
            )
            return None
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
            assert isinstance(node, yaml.MappingNode)
            return self._mapping(node, path)
        finally:
            self._active.discard(id(node))

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        value = self.loader.construct_object(node)
        # Timestamps and binary are not JSON: keep what the author wrote.
        if isinstance(value, datetime.date | bytes):
            return node.value
        return value

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        self.loader.flatten_mapping(node)  # resolves "<<" merge keys
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            km = _mark(key_node)
            key = self._scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                self.problems.append(
                    Problem(self.doc.file, km.line, km.col, _bad_key(key_node, key))
                )
                continue
            if key in result:
                first = self.doc.keys[(*path, key)]
                self.problems.append(
                    Problem(
                        self.doc.file,
                        km.line,
                        km.col,
                        f"duplicate key '{key}' (first defined at line {first.line})",
                    )
                )
                continue
            self.doc.keys[(*path, key)] = km
            result[key] = self.build(value_node, (*path, key))
        return result


def _bad_key(node: yaml.Node, key: Any) -> str:
    mustache = _mustache(node)
    if mustache is not None:
        return (
            f"'{{{{ {mustache} }}}}' is read by YAML as a mapping, not an expression: "
            f'write "${{{{ {mustache} }}}}" (in quotes)'
        )
    if isinstance(node, yaml.ScalarNode):
        if isinstance(key, bool):
            return f"key {node.value} is read by YAML as a boolean: quote it, '{node.value}'"
        return f"keys must be strings, got {node.value}: quote it, '{node.value}'"
    return "keys must be strings, not a list or a mapping"


def _mustache(node: yaml.Node) -> str | None:
    """The ``x`` of a ``{{ x }}`` that YAML read as a mapping inside a mapping, if it is one."""
    if isinstance(node, yaml.MappingNode) and len(node.value) == 1:
        inner_key, inner_value = node.value[0]
        if (
            isinstance(inner_key, yaml.ScalarNode)
            and isinstance(inner_value, yaml.ScalarNode)
            and inner_value.value == ""
        ):
            return str(inner_key.value)
    return None


def _yaml_error(file: str, exc: yaml.YAMLError, text: str) -> Problem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None) or ""
    if isinstance(exc, yaml.reader.ReaderError):
        return Problem(
            file, line, col, f"character {exc.character!r} is not allowed in a YAML file"
        )
    if "'\\t'" in problem or (
        mark is not None and 0 <= mark.index < len(text) and text[mark.index] == "\t"
    ):
        return Problem(file, line, col, "tab character: YAML indentation must use spaces")
    if "quoted scalar" in context:
        start = getattr(exc, "context_mark", None)
        where = f" that starts at line {start.line + 1}, column {start.column + 1}" if start else ""
        return Problem(file, line, col, f"unterminated or broken quoted string{where}")
    message = problem.strip()
    if context:
        message = f"{message} ({context.strip()})"
    return Problem(file, line, col, f"invalid YAML: {message}")


def load_yaml(file: str, raw: bytes | str) -> Document:
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
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise PipelineInvalid(
                [Problem(file, 1, 1, "the file holds no YAML document (only comments?)")]
            )
        builder = _Builder(file, loader)
        builder.doc.data = builder.build(node, ())
    except yaml.composer.ComposerError as exc:
        if "single document" in str(exc.problem):
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
        raise PipelineInvalid([_yaml_error(file, exc, text)]) from None
    except yaml.YAMLError as exc:
        raise PipelineInvalid([_yaml_error(file, exc, text)]) from None
    except RecursionError:
        raise PipelineInvalid([Problem(file, 1, 1, "the YAML is nested too deeply")]) from None
    finally:
        loader.dispose()
    builder.doc.problems = builder.problems
    return builder.doc
