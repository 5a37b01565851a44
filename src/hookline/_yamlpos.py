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
from typing import Any, NamedTuple

import yaml

from ._errors import PipelineInvalid, Problem

Path = tuple[str | int, ...]


class Mark(NamedTuple):  # a tuple: tens of thousands are made per large file
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
    lines: list[str] = field(default_factory=list)  # the text, for what a value looked like

    def mark(self, path: Path) -> Mark:
        """The position of the value at ``path``, or of its nearest located ancestor."""
        while path not in self.values and path:
            path = path[:-1]
        return self.values.get(path, Mark(1, 1))

    def key_mark(self, path: Path) -> Mark:
        """The position of the key that introduces ``path`` (falls back to its value)."""
        return self.keys.get(path) or self.mark(path)

    def written(self, path: Path) -> str:
        """The plain word written for the scalar at ``path`` (``yes`` for true, say)."""
        m = self.values.get(path)
        if m is None or m.style is not None or not 0 < m.line <= len(self.lines):
            return ""
        rest = self.lines[m.line - 1][m.col - 1 :]
        return rest.split("#")[0].strip().split(",")[0].split("}")[0].split("]")[0].strip()

    def problem(self, path: Path, message: str, *, at_key: bool = False) -> Problem:
        m = self.key_mark(path) if at_key else self.mark(path)
        return Problem(self.file, m.line, m.col, message)


def _mark(node: yaml.Node) -> Mark:
    # libyaml gives plain scalars the style "", PyYAML None: one spelling here.
    style = (getattr(node, "style", None) or None) if isinstance(node, yaml.ScalarNode) else None
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1, style)


# More values than any real pipeline holds: past this, aliases are multiplying the file
# (a "billion laughs"), and building it would take all the memory there is.
MAX_VALUES = 100_000

_YAML_TAG = "tag:yaml.org,2002:"
_STR_TAG = _YAML_TAG + "str"
_COLLECTION_TAGS = {_YAML_TAG + "map", _YAML_TAG + "seq"}


class _Shared(Exception):
    """Raised on the fast path when a node is reached twice (an alias): use the slow one."""


class _TooLarge(Exception):
    """Raised by the builder when the document expands past MAX_VALUES."""


def _tag_name(tag: str) -> str:
    return "!!" + tag[len(_YAML_TAG) :] if tag.startswith(_YAML_TAG) else tag


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
    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
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
            raise _TooLarge
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
            self._problem(node, _unsupported_tag(node.tag))
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
            assert isinstance(node, yaml.MappingNode)
            return self._mapping(node, path)
        finally:
            self._active.discard(id(node))

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        if node.tag == _STR_TAG:  # most values: plain text, nothing to construct
            return node.value
        # Timestamps and binary are not JSON: keep what the author wrote (unchecked, so
        # that a date-like '2024-13-45' is text, not a crash).
        if node.tag in (_YAML_TAG + "timestamp", _YAML_TAG + "binary"):
            return node.value
        try:
            value = self.loader.construct_object(node)
        except yaml.constructor.ConstructorError:
            self._problem(node, _unsupported_tag(node.tag))
            return node.value
        except (ValueError, TypeError, AttributeError, LookupError, OverflowError):
            # Only an explicit tag (``!!int abc``) gets here: implicit ones match a regex.
            tag = _tag_name(node.tag)
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
                self._report(Problem(self.doc.file, km.line, km.col, _bad_key(key_node, key)))
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


def _unsupported_tag(tag: str) -> str:
    if not tag.startswith(_YAML_TAG) and any(c in tag for c in "(.[=&|"):  # an expression
        return (
            f"'{tag}' at the start of a value is read by YAML as a tag: if it is text or an "
            f'expression, quote the whole value, e.g. "{tag}"'
        )
    return (
        f"the YAML tag '{_tag_name(tag)}' is not supported (a pipeline is plain YAML data): "
        "remove it"
    )


# PyYAML's names for what it found, in the words of someone writing the file.
_TOKENS = {
    "<block end>": "the end of an indented block",
    "<block mapping start>": "a new indented mapping",
    "<block sequence start>": "a new indented list",
    "<scalar>": "a value",
    "<stream end>": "the end of the file",
    "<document start>": "'---'",
    "<document end>": "'...'",
    "<alias>": "an alias",
    "<anchor>": "an anchor",
    "<tag>": "a tag",
    "<flow mapping start>": "'{'",
    "<flow sequence start>": "'['",
    "'?'": "a key",
    "'-'": "a '- ' list item",
}
# What a block collection found where its indentation says it has ended.
_MISPLACED = {
    "'?'": "key",
    "<block mapping start>": "key",
    "'-'": "list item",
    "<block sequence start>": "list item",
}


def _words(text: str) -> str:
    for token, words in _TOKENS.items():
        text = text.replace(f"'{token}'" if token.startswith("<") else token, words)
        text = text.replace(token, words)
    return text


def _at(mark: Any) -> tuple[int, int]:
    return mark.line + 1, mark.column + 1


def _yaml_error(file: str, exc: yaml.YAMLError, text: str) -> Problem:
    """One located problem, in plain words, for a YAML syntax error."""
    pmark = getattr(exc, "problem_mark", None)
    cmark = getattr(exc, "context_mark", None)
    mark = pmark or cmark
    line, col = _at(mark) if mark is not None else (1, 1)
    problem = (getattr(exc, "problem", None) or str(exc)).strip()
    context = (getattr(exc, "context", None) or "").strip()

    def at(where: Any, message: str) -> Problem:
        return Problem(file, *_at(where), message)

    if "'\\t'" in problem or (
        mark is not None and 0 <= mark.index < len(text) and text[mark.index] == "\t"
    ):
        return Problem(file, line, col, "tab character: YAML indentation must use spaces")
    if "quoted scalar" in context and cmark is not None:
        quote = text[cmark.index] if 0 <= cmark.index < len(text) else '"'
        if "end of stream" in problem or "document separator" in problem:
            reached = "the end of the file" if "stream" in problem else f"'---' at line {line}"
            return at(
                cmark,
                f"this quoted string is never closed: add the closing {quote} (YAML read on "
                f"to {reached} looking for it)",
            )
        if "unknown escape character" in problem and pmark is not None:
            char = problem.rsplit(" ", 1)[-1].strip("'\"")
            return Problem(
                file,
                line,
                max(col - 1, 1),
                f"'\\{char}' is not an escape sequence in a double-quoted string: write '\\\\' "
                "for a backslash, or use single quotes, where '\\' is plain text",
            )
        return Problem(
            file,
            line,
            col,
            f"bad escape sequence in a double-quoted string ({_words(problem)}): use single "
            "quotes, where '\\' is plain text",
        )
    if problem.startswith("expected <block end>") and cmark is not None:
        found = problem.split("but found ", 1)[-1]
        what = "list" if "collection" in context else "mapping"
        cline, ccol = _at(cmark)
        before = text[: pmark.index].rstrip(" ") if pmark is not None else ""
        if found == "'<scalar>'" and before.endswith(("'", '"')):
            return Problem(
                file,
                line,
                col,
                "text after a quoted value: quote the whole value (inside '...', write a "
                "quote as '', e.g. 'it''s')",
            )
        thing = _MISPLACED.get(found.strip("'") if found.startswith("'<") else found, "value")
        return Problem(
            file,
            line,
            col,
            f"bad indentation: this {thing} does not line up with the {what} that starts at "
            f"line {cline}, column {ccol} (the keys of a mapping, and the '- ' items of a "
            "list, must start in the same column)",
        )
    if "could not find expected ':'" in problem and cmark is not None:
        return at(
            cmark,
            "a ':' is missing: write 'key: value' (or, if this line continues the value "
            "above it, check its indentation)",
        )
    if problem == "mapping values are not allowed here":
        return Problem(
            file,
            line,
            col,
            "': ' is not allowed here: put the value in quotes if it contains ': ', or fix "
            "the indentation of this line",
        )
    if problem == "sequence entries are not allowed here":
        return Problem(
            file,
            line,
            col,
            "a '- ' list item is not allowed here: start the list on a new line below its "
            "key, indented",
        )
    if problem.startswith("found character") and "cannot start any token" in problem:
        char = problem.split("'")[1] if problem.count("'") >= 2 else "this character"
        return Problem(
            file, line, col, f"a plain value cannot start with '{char}': put the value in quotes"
        )
    if context.startswith("while parsing a flow") and cmark is not None and "expected" in problem:
        opener = text[cmark.index] if 0 <= cmark.index < len(text) else "{"
        closer = {"{": "}", "[": "]"}.get(opener, "")
        if "<stream end>" in problem and closer:
            return at(cmark, f"this '{opener}' is never closed: add '{closer}'")
        if closer:
            cline, ccol = _at(cmark)
            found = _words(problem.split("but got ", 1)[-1]) if "but got" in problem else ""
            return Problem(
                file,
                line,
                col,
                f"expected ',' or '{closer}' here{', found ' + found if found else ''}: is a "
                f"',' missing, or is the '{opener}' at line {cline}, column {ccol} never "
                "closed?",
            )
    if problem.startswith("found undefined alias"):
        name = problem.split("'")[1] if problem.count("'") >= 2 else "?"
        return Problem(
            file, line, col, f"unknown YAML alias '*{name}': define '&{name}' before it is used"
        )
    if context.startswith("found duplicate anchor") and cmark is not None:
        name = context.split("'")[1] if context.count("'") >= 2 else "?"
        return Problem(
            file,
            line,
            col,
            f"duplicate YAML anchor '&{name}' (first defined at line {cmark.line + 1}): give "
            "each anchor its own name",
        )
    if problem.startswith("expected '<document start>'"):
        return Problem(
            file,
            line,
            col,
            "unexpected text after the end of the YAML document (a stray closing bracket, or "
            "a wrong indentation?)",
        )
    construct = context.removeprefix("while ").split(" a ")[-1].split(" an ")[-1]
    special = _SPECIAL_STARTS.get(construct)
    if special and construct != "block scalar" and cmark is not None:
        # Point at the '*', '&' or '!' itself, and show the text quoted.
        end = text.find("\n", cmark.index)
        written = text[cmark.index : len(text) if end < 0 else end].split(" #")[0].strip()
        if written and '"' not in written and len(written) <= 60:
            special += f': "{written}"'
        return at(cmark, special)
    if special:
        return Problem(file, line, col, special)
    if problem.startswith("expected the node content"):
        found = _words(problem.split("but found ", 1)[-1])
        return Problem(
            file, line, col, f"expected a value here, found {found}: if it is text, quote it"
        )
    if problem == "mapping keys are not allowed here":
        return Problem(
            file, line, col, "'? ' (a YAML complex key) is not allowed here: put the text in quotes"
        )
    message = _words(problem)
    if context:
        message = f"{message} ({_words(context)})"
    return Problem(file, line, col, f"invalid YAML: {message}")


# The YAML syntax a character starts, and what to write when it was meant as text.
_SPECIAL_STARTS = {
    "block scalar": "after '|' or '>' only '-', '+' or an indentation digit may follow on the "
    "same line: the text itself starts on the next line",
    "alias": "'*' starts a YAML alias, written '*name': if it is text, put it in quotes",
    "anchor": "'&' starts a YAML anchor, written '&name': if it is text, put it in quotes",
    "tag": "'!' starts a YAML tag: if it is text, put it in quotes",
    "directive": "'%' at the start of a line starts a YAML directive: if it is text, put it "
    "in quotes",
}


def _position(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _reader_error(file: str, exc: yaml.reader.ReaderError, text: str) -> Problem:
    """A character YAML does not allow (a control character, U+FFFE, ...)."""
    char = exc.character
    code = char if isinstance(char, int) else ord(char)
    escape = f"\\x{code:02X}" if code <= 0xFF else f"\\u{code:04X}"
    return Problem(
        file,
        *_position(text, exc.position),
        f"character U+{code:04X} is not allowed in a YAML file: remove it, or write it as "
        f'"{escape}" inside a double-quoted string',
    )


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
    except (yaml.YAMLError, _Shared, _TooLarge, RecursionError):
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
    quick = _load_fast(file, text) if fast else None
    if quick is not None:
        return quick
    try:
        loader = _Loader(text)  # checks every character first
    except yaml.reader.ReaderError as exc:
        raise PipelineInvalid([_reader_error(file, exc, text)]) from None
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
        raise PipelineInvalid([_yaml_error(file, exc, text)]) from None
    except yaml.reader.ReaderError as exc:
        raise PipelineInvalid([_reader_error(file, exc, text)]) from None
    except yaml.YAMLError as exc:
        raise PipelineInvalid([_yaml_error(file, exc, text)]) from None
    except RecursionError:
        raise PipelineInvalid([Problem(file, 1, 1, "the YAML is nested too deeply")]) from None
    except _TooLarge:
        raise PipelineInvalid(
            [
                Problem(
                    file,
                    1,
                    1,
                    f"the file expands to more than {MAX_VALUES} values (YAML aliases "
                    "repeating large parts?): a pipeline cannot be this large",
                )
            ]
        ) from None
    finally:
        loader.dispose()
    builder.doc.problems = builder.problems
    builder.doc.lines = text.splitlines()
    return builder.doc
