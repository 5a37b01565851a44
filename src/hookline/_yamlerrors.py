"""YAML problems in the words of someone writing the file.

PyYAML reports what its scanner and parser expected (``expected <block end>, but found
'<scalar>'``); users need to know what to write instead. Every YAML error, bad
character, unsupported tag and non-string key is worded here, at its line and column.
"""

from __future__ import annotations

from typing import Any

import yaml

from ._errors import Problem

YAML_TAG = "tag:yaml.org,2002:"


def tag_name(tag: str) -> str:
    return "!!" + tag[len(YAML_TAG) :] if tag.startswith(YAML_TAG) else tag


def bad_key(node: yaml.Node, key: Any) -> str:
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


def _looks_like_expression(tag: str) -> bool:
    return not tag.startswith(YAML_TAG) and any(c in tag for c in "(.[=&|")


def tag_text(tag: str, value: str) -> str:
    """The value a scalar with an unsupported tag stands for: the text as written when the
    tag is an expression (``if: !a.b``), so later checks read what the author meant
    instead of an empty value ("must not be empty" was a second, bogus message)."""
    if _looks_like_expression(tag):
        return f"{tag} {value}" if value else tag
    return value


def unsupported_tag(tag: str) -> str:
    if _looks_like_expression(tag):
        return (
            f"'{tag}' at the start of a value is read by YAML as a tag: if it is text or an "
            f'expression, quote the whole value, e.g. "{tag}"'
        )
    return (
        f"the YAML tag '{tag_name(tag)}' is not supported (a pipeline is plain YAML data): "
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


def yaml_error(file: str, exc: yaml.YAMLError, text: str) -> Problem:
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
        blamed = _deindented_above(file, text, line)
        if blamed is not None:
            return blamed
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


def _key_column(line: str) -> int:
    """1-based column of the first key on ``line``, after any '- ' list markers."""
    col = len(line) - len(line.lstrip(" "))
    while line[col : col + 2] == "- ":
        col += 2
        while line[col : col + 1] == " ":
            col += 1
    return col + 1


def _indent_step(lines: list[str]) -> int:
    """The indentation the file uses most: the commonest step from a line ending with
    ':' to the key column of the line after it."""
    steps: dict[int, int] = {}
    last: int | None = None
    for line in lines:
        stripped = line.split(" #")[0].rstrip()
        if not stripped.strip() or stripped.lstrip().startswith("#"):
            continue
        col = _key_column(line)
        if last is not None and col > last:
            steps[col - last] = steps.get(col - last, 0) + 1
        last = col if stripped.endswith(":") else None
    return max(steps, key=lambda k: (steps[k], -k)) if steps else 2


def _deindented_above(file: str, text: str, line: int) -> Problem | None:
    """The line above ``line`` when it, not ``line``, is the mistake: a mapping's first
    key written left of the keys after it. YAML starts the mapping at that first key and
    then finds a deeper ``key: value`` on the next line, which it reports there."""
    lines = text.split("\n")
    if not 2 <= line <= len(lines):
        return None

    def content(i: int) -> bool:
        stripped = lines[i].strip()
        return bool(stripped) and not stripped.startswith("#")

    here = line - 1
    above = next((i for i in range(here - 1, -1, -1) if content(i)), None)
    if above is None:
        return None
    opener = next((i for i in range(above - 1, -1, -1) if content(i)), None)
    col_here, col_above = _key_column(lines[here]), _key_column(lines[above])
    if col_above >= col_here or ": " not in lines[above].split(" #")[0] + " ":
        return None
    # Either the line above is the first of its block (the line before it opens the block,
    # ending with ':', left of ``line``), or the keys before it start where ``line`` does.
    if opener is None:
        return None
    head = lines[opener].split(" #")[0].rstrip()
    col_opener = _key_column(lines[opener])
    if col_opener != col_here:
        # The first key of a block, or the one after it, is misplaced: the one whose
        # indentation is not the file's usual step (2 spaces, say) is the mistake.
        # A list item's keys sit two columns right of its '- '.
        item = 2 if lines[above].lstrip()[:2] == "- " else 0
        expected = col_opener + _indent_step(lines) + item
        if not head.endswith(":") or col_here != expected or col_above == expected:
            return None
    key = lines[here].strip().split(":", 1)[0]
    return Problem(
        file,
        above + 1,
        col_above,
        f"bad indentation: this key starts at column {col_above}, left of the key after it "
        f"('{key}', line {line}, column {col_here}): the keys of a mapping must start in the "
        "same column",
    )


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


def reader_error(file: str, exc: yaml.reader.ReaderError, text: str) -> Problem:
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
