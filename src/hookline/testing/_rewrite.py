"""Writing recorded answers into a test file: only one case's ``answers`` block changes,
as text, so that comments and key order elsewhere stay; and the file is replaced whole,
never left half written.

A rewrite that would change anything else (a YAML anchor another case aliases, a case
written as an alias) is refused before anything is sent, with the reason; and every
rewrite is read back and compared before it is written.
"""

from __future__ import annotations

import os
import stat
import tempfile
from typing import Any

import yaml

from .._errors import UsageError

__all__ = ["RewriteRefused", "check_rewritable", "replace_answers", "write_file"]


class RewriteRefused(Exception):
    """The case's answers cannot be rewritten without changing something else."""


def _case_node(root: yaml.Node | None, index: int) -> yaml.Node:
    assert isinstance(root, yaml.MappingNode)
    cases = next(v for k, v in root.value if k.value == "cases")
    return cases.value[index]  # type: ignore[no-any-return]


def _span(text: str, case: yaml.Node) -> tuple[int, int, Any, Any]:
    """(start, end) of the text that changes, the ``answers`` key node and value node
    (None when the case has none, or is a flow mapping that is rewritten whole)."""
    if not isinstance(case, yaml.MappingNode) or case.flow_style:
        return case.start_mark.index, case.end_mark.index, None, None
    found = [(k, v) for k, v in case.value if k.value == "answers"]
    if not found:
        name_value = next(v for k, v in case.value if k.value == "name")
        at = name_value.end_mark.index
        return at, at, None, None
    key, value = found[0]
    end = value.end_mark.index
    if value.start_mark.index < key.start_mark.index:
        # `answers: *shared`: the node is the anchored one, its marks are where it is
        # defined. The alias itself is the token after the key.
        try:
            for token in yaml.scan(text[key.end_mark.index :]):
                if isinstance(token, yaml.AliasToken):
                    end = key.end_mark.index + token.end_mark.index
                    break
        except yaml.YAMLError:
            pass  # a wrong span is caught when replace_answers reads its result back
    return key.start_mark.index, end, key, value


def check_rewritable(text: str, index: int, name: str) -> None:
    """Raise RewriteRefused when recording case ``index`` would break the file: an anchor
    in its answers that something outside them aliases, or a case that is an alias."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    case = _case_node(root, index)
    start, end, _, _ = _span(text, case)
    anchors: dict[str, int] = {}
    aliases: list[tuple[str, int, int]] = []
    for token in yaml.scan(text):
        at = token.start_mark.index
        if isinstance(token, yaml.AnchorToken):
            if start <= at < end:
                anchors[token.value] = at
            else:
                anchors.pop(token.value, None)  # redefined outside: later aliases mean that
        elif (
            isinstance(token, yaml.AliasToken) and token.value in anchors and not start <= at < end
        ):
            aliases.append((token.value, token.start_mark.line + 1, at))
    if aliases:
        anchor, line, _ = aliases[0]
        raise RewriteRefused(
            f"case '{name}': its answers hold the YAML anchor '&{anchor}', which line {line} "
            f"uses ('*{anchor}'): recording would break that alias, so nothing was recorded; "
            f"write the answers out where '*{anchor}' is, then record again"
        )


def replace_answers(text: str, index: int, answers: dict[str, Any]) -> str:
    """``text`` with case ``index``'s answers block replaced by ``answers`` (or added
    after its name); everything else as it was, comments included. Raises RewriteRefused
    when the result would not read back as the same file with the new answers."""
    before = yaml.safe_load(text)
    new = _replaced(text, index, answers, before)
    try:
        after = yaml.safe_load(new)
    except yaml.YAMLError:
        after = None
    expected = {**before, "cases": list(before["cases"])}
    expected["cases"][index] = {**before["cases"][index], "answers": answers}
    if after != expected:
        name = before["cases"][index].get("name", index)
        raise RewriteRefused(
            f"case '{name}': its answers cannot be rewritten without changing the rest of the "
            "file (YAML anchors or aliases?), so nothing was recorded"
        )
    return new


def _replaced(text: str, index: int, answers: dict[str, Any], data: Any) -> str:
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    case = _case_node(root, index)
    start, end, key, _ = _span(text, case)
    if not isinstance(case, yaml.MappingNode) or case.flow_style:
        # `- {name: x}`: a block cannot go inside; the case becomes one.
        lines = _dump({**data["cases"][index], "answers": answers}, 0, key=None).splitlines()
        pad = "\n" + " " * case.start_mark.column
        return text[:start] + pad.join(lines) + text[end:]
    name_key = next(k for k, v in case.value if k.value == "name")
    indent = name_key.start_mark.column
    block = _dump(answers, indent)
    if key is None:
        return text[:start] + "\n" + block.rstrip("\n") + text[end:]
    # Blank lines and comments after the old block belong to what follows: kept.
    lines = text[start:end].split("\n")
    kept: list[str] = []
    while len(lines) > 1 and (not lines[-1].strip() or lines[-1].lstrip().startswith("#")):
        kept.insert(0, lines.pop())
    tail = "\n" + "\n".join(kept) if kept else ""
    return text[:start] + block[indent:].rstrip("\n") + tail + text[end:]


def _dump(value: dict[str, Any], indent: int, key: str | None = "answers") -> str:
    """``value`` as block YAML under ``key:`` at ``indent`` (or alone, without a key)."""
    body = yaml.safe_dump(
        value, sort_keys=False, allow_unicode=True, default_flow_style=None, width=96
    )
    if key is None:
        return body
    pad = " " * (indent + 2)
    inner = "".join(pad + line + "\n" for line in body.splitlines())
    return " " * indent + f"{key}:\n" + inner


def write_file(path: os.PathLike[str] | str, text: str) -> None:
    """Replace the file at ``path`` by ``text`` atomically. A symlink is written through
    (its target changes, the link stays); the file keeps its permissions. The temporary
    file is created exclusively (``mkstemp``: a random name, O_EXCL, mode 0600) beside
    the target, so that a name planted in advance cannot redirect the write."""
    real = os.path.realpath(path)
    folder, base = os.path.split(real)
    try:
        mode = stat.S_IMODE(os.stat(real).st_mode)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{base}.", suffix=".tmp")
    except OSError as exc:
        raise UsageError(f"{path}: cannot write the recorded answers ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, real)
    except BaseException:
        os.unlink(tmp)
        raise
