"""Where values sit in JSON text, found in one pass without building a document.

A schema error in a run's input names a path (``input[3].email``); users also want the
line and column. Loading the text again with the YAML loader gave them, at about 10 s
a megabyte and with a wrong message past its value limit. JSON needs no such loader:
one regular expression finds every token, and a stack of containers knows the path of
each value. Only the paths asked for are recorded; subtrees that hold none of them are
skipped without building their paths.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

Path = tuple[str | int, ...]
Position = tuple[int, int]  # 1-based line and column (in characters)

# Valid JSON only (it was parsed first): a string, a bracket, or a bare scalar. Commas,
# colons and white space fall between tokens.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]|[^\s\[\]{},:"]+')


class _Frame:
    __slots__ = ("is_object", "key", "key_at", "next_index", "path")

    def __init__(self, path: Path, is_object: bool) -> None:
        self.path = path
        self.is_object = is_object
        self.next_index = 0
        self.key: str | None = None  # the key read, waiting for its value
        self.key_at: Position = (1, 1)


def locate(text: str, wanted: Iterable[Path]) -> tuple[dict[Path, Position], dict[Path, Position]]:
    """(value positions, key positions) of the ``wanted`` paths present in ``text``."""
    wanted = set(wanted)
    prefixes = {p[:i] for p in wanted for i in range(len(p) + 1)}
    values: dict[Path, Position] = {}
    keys: dict[Path, Position] = {}
    stack: list[_Frame] = []
    skipping = 0  # depth inside a container that holds no wanted path
    line, line_start, last = 1, 0, 0
    for match in _TOKEN.finditer(text):
        start = match.start()
        newlines = text.count("\n", last, start)  # JSON strings hold no raw newline
        if newlines:
            line += newlines
            line_start = text.rfind("\n", last, start) + 1
        last = match.end()
        token = match.group()
        first = token[0]
        if skipping:
            if first in "[{":
                skipping += 1
            elif first in "]}":
                skipping -= 1
            continue
        if first in "]}":
            stack.pop()
            continue
        at = (line, start - line_start + 1)
        frame = stack[-1] if stack else None
        if frame is not None and frame.is_object and frame.key is None:
            frame.key = json.loads(token) if "\\" in token else token[1:-1]
            frame.key_at = at
            continue
        if frame is None:
            path: Path = ()
        elif frame.is_object:
            assert frame.key is not None
            path = (*frame.path, frame.key)
            if path in wanted:
                keys[path] = frame.key_at
            frame.key = None
        else:
            path = (*frame.path, frame.next_index)
            frame.next_index += 1
        if path in wanted:
            values[path] = at
        if first in "[{":
            if path in prefixes:
                stack.append(_Frame(path, first == "{"))
            else:
                skipping = 1
    return values, keys


def too_deep(text: str, max_depth: int) -> Position:
    """The position of the first bracket that opens level ``max_depth + 1`` (or 1:1)."""
    depth = 0
    line, last = 1, 0
    for match in _TOKEN.finditer(text):
        first = match.group()[0]
        if first in "[{":
            depth += 1
            if depth > max_depth:
                start = match.start()
                line += text.count("\n", last, start)
                newline = text.rfind("\n", 0, start)
                return line, start - newline
            line += text.count("\n", last, match.start())
            last = match.start()
        elif first in "]}":
            depth -= 1
    return 1, 1
