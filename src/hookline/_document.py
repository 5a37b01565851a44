"""A loaded pipeline document: its data, and where each value sits in the file.

Kept apart from the YAML loader (``_yamlpos``) so that what only reads a document (the
plan, the checks) does not import PyYAML: a run of a file that passed before takes its
document from the validated-file cache (``to_json`` / ``from_json``) and never parses
YAML at all.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple, Protocol

from ._errors import Problem

Path = tuple[str | int, ...]

# Bumped whenever what ``to_json`` writes changes: older entries are then ignored.
_FORMAT = 1


class Mark(NamedTuple):  # a tuple: tens of thousands are made per large file
    """A 1-based position, plus what the scalar looked like in the file."""

    line: int
    col: int
    style: str | None = None  # YAML scalar style: None plain, "'" or '"' quoted, "|" ">" block


class Locator(Protocol):
    """Where the values of a document sit, found when asked (``_yamlplain``)."""

    def nearest(self, path: Path) -> Mark: ...
    def value(self, path: Path) -> Mark | None: ...
    def key(self, path: Path) -> Mark | None: ...
    def every(self) -> tuple[dict[Path, Mark], dict[Path, Mark]]: ...


class Document:
    """A loaded YAML document: the data, and where each path sits in the file.

    The positions are in ``values`` and ``keys``, or, for a document loaded the quick
    way, in its ``locator`` until the whole map is read: ``mark``, ``key_mark`` and
    ``written`` then ask the locator for one path, which is all a valid file needs.
    """

    def __init__(
        self,
        file: str,
        data: Any,
        values: dict[Path, Mark] | None = None,
        keys: dict[Path, Mark] | None = None,
        problems: list[Problem] | None = None,
        lines: list[str] | None = None,
        *,
        locator: Locator | None = None,
    ) -> None:
        self.file = file
        self.data = data
        self._values = {} if values is None else values
        self._keys = {} if keys is None else keys
        self.problems = [] if problems is None else problems  # found while loading, not fatal
        self.lines = [] if lines is None else lines  # the text, for what a value looked like
        self._locator = locator

    def __repr__(self) -> str:
        return f"Document({self.file!r}, {self.data!r})"

    def _mapped(self) -> None:
        if self._locator is not None:
            self._values, self._keys = self._locator.every()
            self._locator = None

    @property
    def values(self) -> dict[Path, Mark]:
        """Every value's position, by path."""
        self._mapped()
        return self._values

    @property
    def keys(self) -> dict[Path, Mark]:
        """Every mapping key's position, by the path of its value."""
        self._mapped()
        return self._keys

    def mark(self, path: Path) -> Mark:
        """The position of the value at ``path``, or of its nearest located ancestor."""
        if self._locator is not None:
            return self._locator.nearest(path)
        while path not in self._values and path:
            path = path[:-1]
        return self._values.get(path, Mark(1, 1))

    def key_mark(self, path: Path) -> Mark:
        """The position of the key that introduces ``path`` (falls back to its value)."""
        if self._locator is not None:
            return self._locator.key(path) or self._locator.nearest(path)
        return self._keys.get(path) or self.mark(path)

    def written(self, path: Path) -> str:
        """The plain word written for the scalar at ``path`` (``yes`` for true, say)."""
        m = self._locator.value(path) if self._locator is not None else self._values.get(path)
        if m is None or m.style is not None or not 0 < m.line <= len(self.lines):
            return ""
        rest = self.lines[m.line - 1][m.col - 1 :]
        return rest.split("#")[0].strip().split(",")[0].split("}")[0].split("]")[0].strip()

    def problem(self, path: Path, message: str, *, at_key: bool = False) -> Problem:
        m = self.key_mark(path) if at_key else self.mark(path)
        return Problem(self.file, m.line, m.col, message)


def where(path: tuple[str | int, ...] | list[str | int]) -> str:
    """``steps[2].rest.method``: the path as users write it."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def to_json(doc: Document) -> str:
    """The document of a file without problems, as the validated-file cache keeps it."""
    return json.dumps(
        {
            "format": _FORMAT,
            "data": doc.data,
            "values": [[list(p), *m] for p, m in doc.values.items()],
            "keys": [[list(p), *m] for p, m in doc.keys.items()],
        },
        separators=(",", ":"),
    )


def from_json(file: str, text: str, cached: bytes) -> Document | None:
    """The document ``to_json`` wrote (``text`` is the file's text), or None when the
    entry is of another format or damaged: the caller then loads the YAML again."""
    try:
        entry = json.loads(cached)
        if entry.get("format") != _FORMAT:
            return None
        values = {tuple(p): Mark(line, col, style) for p, line, col, style in entry["values"]}
        keys = {tuple(p): Mark(line, col, style) for p, line, col, style in entry["keys"]}
        return Document(file, entry["data"], values, keys, [], text.splitlines())
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
