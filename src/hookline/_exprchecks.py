"""What an expression may read, checked where it is written.

Every expression in a pipeline is compiled while the plan is built; this half of the
builder checks what it calls and reads: unknown functions and argument counts, bare
``true`` / ``null`` and double-quoted text that JMESPath reads as field names, names not
defined at that place, steps that do not exist, run later or are out of sight,
undeclared secrets and vars. Each problem points at the word itself.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from . import _mistakes
from ._document import Document
from ._document import Path as DocPath
from ._errors import Problem
from ._resultkeys import known_keys, step_fields
from .expr import OPTIONS, Expression
from .expr._refs import calls, compared_fields, fields_named, negation_traps, references

__all__ = ["CONTEXT_NAMES", "ExpressionChecks", "Scope", "StepsBefore", "did_you_mean"]

CONTEXT_NAMES = ("input", "steps", "vars", "secrets", "state", "run", "env")


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    same = [c for c in choices if c.lower() == word.lower()]  # 'get' for 'GET'
    start = [c for c in choices if len(word) >= 3 and c.startswith(word)]  # 'sig'
    import difflib  # only when a name is unknown: not on the way of every run

    close = same or difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6) or start[:1]
    return f"; did you mean '{close[0]}'?" if close else ""


class StepsBefore(AbstractSet[str]):
    """The step ids visible to the step at ``position`` of a list: those before it, and
    ``outer`` (the steps visible around the list).

    Every step of a list shares one ``first`` table (id → position of its first use), so
    a step's scope costs nothing to make; a set copied for each step made a list of n
    steps cost n²/2 (20,000 steps: 200 million copies).
    """

    __slots__ = ("first", "outer", "position")

    def __init__(self, outer: AbstractSet[str], first: dict[str, int], position: int) -> None:
        self.outer = outer
        self.first = first
        self.position = position

    def __contains__(self, item: object) -> bool:
        if item in self.outer:
            return True
        return isinstance(item, str) and self.first.get(item, self.position) < self.position

    def __iter__(self) -> Iterator[str]:  # only for messages: each is made once per problem
        yield from self.outer
        yield from (s for s, at in self.first.items() if at < self.position and s not in self.outer)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    @classmethod
    def _from_iterable(cls, it: Iterable[str]) -> frozenset[str]:  # type: ignore[override]
        return frozenset(it)  # what `|` and `&` make


@dataclass(frozen=True)
class Scope:
    """What an expression may read at one place in the file."""

    steps: AbstractSet[str] = frozenset()  # step ids whose results exist here
    names: frozenset[str] = frozenset(CONTEXT_NAMES)  # top-level names
    what: str = "here"  # for messages: "in vars", ...
    enclosing: frozenset[str] = frozenset()  # the step being built and those around it


# Past this many readable steps, a message neither lists them nor compares the unknown
# id with each: in a long list with many mistakes that made checking quadratic.
_FEW_STEPS = 50
_ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"


def _step_hint(member: str, steps: AbstractSet[str]) -> str:
    """'; did you mean ...?', or the steps that can be read, for an unknown step id."""
    few = sorted(itertools.islice(steps, _FEW_STEPS + 1))
    if len(few) <= _FEW_STEPS:
        hint = did_you_mean(member, few)
        if hint or not few:
            return hint or " (no step runs before this one)"
        return f" (steps it can read here: {', '.join(few)})"
    # Many steps: look up the ids one edit away instead (a cost set by the id's length).
    for candidate in _one_edit(member):
        if candidate in steps:
            return f"; did you mean '{candidate}'?"
    return ""


def _one_edit(word: str) -> Iterator[str]:
    """Every string one deletion, swap, change or insertion away from ``word``."""
    lower = word.lower()
    if lower != word:
        yield lower
    for i in range(len(word) + 1):
        head, tail = word[:i], word[i:]
        if tail:
            yield head + tail[1:]
        if len(tail) > 1:
            yield head + tail[1] + tail[0] + tail[2:]
        for c in _ID_CHARS:
            if tail and c != tail[0]:
                yield head + c + tail[1:]
            yield head + c + tail


DottedPath = tuple[str, ...]


def _rest_ids(data: object) -> Iterator[str]:
    """The ids of the REST steps whose result is the response (no ``extract``)."""
    if not isinstance(data, dict):
        return
    stack = [data.get("steps"), data.get("on_failure")]
    while stack:
        steps = stack.pop()
        for raw in steps if isinstance(steps, list) else ():
            if not isinstance(raw, dict):
                continue
            rest = isinstance(raw.get("rest"), dict) and "extract" not in raw
            if rest and isinstance(raw.get("id"), str):
                yield raw["id"]
            for kind in ("for_each", "on_error"):
                if isinstance(raw.get(kind), dict):
                    stack.append(raw[kind].get("steps"))


class ExpressionChecks:
    """The reference checks of ``_plan.Builder``, which provides the state below."""

    doc: Document
    secrets: frozenset[str]
    var_names: frozenset[str]
    env_names: frozenset[str]  # the names under `env:` (_env.py)
    step_lines: dict[str, int]  # every step id → its line
    reads: list[set[str]]  # step ids read, per step being built
    problems: list[Problem]  # what check reports (Builder.error adds to it)
    warnings: list[Problem]  # the file runs, but likely not as meant (check prints them)
    # (read in the trigger?, secret name or None for all of them): run-pipeline does not
    # need a secret that only the webhook's signature or token reads.
    secrets_read: set[tuple[bool, str | None]]

    def error(self, path: DocPath, message: str, *, at_key: bool = False, offset: int = 0) -> None:
        raise NotImplementedError  # Builder.error

    def get(self, path: DocPath) -> object:
        raise NotImplementedError  # Builder.get

    def warn(self, path: DocPath, message: str, *, offset: int = 0) -> None:
        """Record a warning: the file runs, but likely not as its author meant."""
        m = self.doc.mark(path)
        col = m.col
        if m.style in (None, "'", '"'):  # past the opening quote, even at offset 0
            col += offset + (1 if m.style else 0)
        self.warnings.append(Problem(self.doc.file, m.line, col, message, warning=True))

    def check_braces(self, text: str, path: DocPath, scope: Scope) -> None:
        """``{{ input.email }}`` without its ``$`` is sent as that text: an error."""
        for offset, inner in _mistakes.bare_braces(text, scope.names):
            self.error(path, _mistakes.bare_braces_message(inner), offset=offset)

    def check_expression_braces(self, source: str, path: DocPath) -> bool:
        """``if: "{{ input.vip }}"``: an expression that does not compile because it is
        wrapped in ``{{ }}``. Reports it with the fix, and says whether it did."""
        inner = _mistakes.braced_expression(source)
        if inner is None:
            return False
        self.error(path, _mistakes.braced_expression_message(inner))
        return True

    def check_retry(self, path: DocPath, raw: dict[str, object]) -> None:
        message = _mistakes.retry_warning(raw)
        if message is not None:
            self.warn((*path, "retry"), message)

    def _is_number(self, path: DocPath, scope: Scope | None) -> Callable[[DottedPath], bool]:
        """Whether a dotted path holds a number, read where the expression at ``path`` is."""
        if scope is None:  # reads a step's result: a REST step's has a numeric status
            for end in range(len(path), 0, -1):
                raw = self.get(path[:end])
                if isinstance(raw, dict) and "id" in raw:
                    rest = isinstance(raw.get("rest"), dict)
                    return lambda chain: rest and chain == ("status",)
            return lambda chain: False
        rest_ids = self.__dict__.get("_rest_ids")
        if rest_ids is None:
            rest_ids = self.__dict__["_rest_ids"] = frozenset(_rest_ids(self.get(())))
        loop = "index" in scope.names

        def is_number(chain: DottedPath) -> bool:
            if len(chain) == 3 and chain[0] == "steps" and chain[2] == "status":
                return chain[1] in rest_ids
            return loop and chain == ("index",)

        return is_number

    def check_expression(self, expr: Expression, path: DocPath, scope: Scope | None) -> None:
        ast = expr.parsed.parsed
        table = OPTIONS.custom_functions.FUNCTION_TABLE
        source = expr.source
        # Each walk below looks for a form that cannot be written without some text (a
        # call without "(", a comparison without "=", "<" or ">"): most expressions are
        # plain paths like steps.get.body, and skip all four walks.
        for call in calls(ast) if "(" in source else ():
            entry = table.get(call.name)
            if entry is None:
                hint = did_you_mean(call.name, sorted(table))
                self.error(
                    path,
                    f"unknown function '{call.name}()'{hint} (see docs/expressions.md)",
                    offset=expr.offset + max(expr.source.find(call.name), 0),
                )
                continue
            sig = entry["signature"]
            least = sum(1 for arg in sig if not arg.get("optional"))
            most = None if any(a.get("variadic") for a in sig) else len(sig)
            if call.nargs < least or (most is not None and call.nargs > most):
                wanted = str(least) if most == least else f"{least} to {most or 'any'}"
                self.error(
                    path,
                    f"function '{call.name}()' takes {wanted} argument"
                    f"{'' if wanted == '1' else 's'}, got {call.nargs}",
                    offset=expr.offset + max(expr.source.find(call.name), 0),
                )
        literal_words = [w for w in ("true", "false", "null") if w in source]
        for word in sorted(set(fields_named(ast, set(literal_words)))) if literal_words else ():
            bare = re.search(r"(?<![\w\"'`.])" + word + r"(?![\w\"'`])", expr.source)
            if bare:
                self.error(
                    path,
                    f"'{word}' here is a field name, not the JSON value: JMESPath writes "
                    f"literals in backticks, `{word}`",
                    offset=expr.offset + bare.start(),
                )
        compares = "=" in source or "<" in source or ">" in source
        for name in compared_fields(ast) if compares else ():
            quoted = expr.source.find(f'"{name}"')
            if quoted >= 0:
                self.error(
                    path,
                    f'"{name}" in double quotes is a field name in JMESPath, so this compares '
                    f"with the field {name}: write text in single quotes, '{name}'",
                    offset=expr.offset + quoted,
                )
        for name in negation_traps(ast) if "!" in source else ():
            found = re.search(
                r"!\s*(" + re.escape(name) + r"(?:\.[A-Za-z_]\w*|\[[^\]]*\])+)", expr.source
            )
            whole = found.group(1) if found else f"{name}..."
            self.error(
                path,
                f"'!{whole}' negates '{name}' before the rest is read, so it is always "
                f"null: write '!({whole})'",
                offset=expr.offset + (found.start() if found else 0),
            )
        # A text literal is written '201' or `"201"`: without a quote there is none.
        texts = "'" in source or '"' in source
        if compares and texts and ("status" in source or "index" in source):
            numbers = self._is_number(path, scope)
            for name, text, op in _mistakes.number_compared_with_text(ast, numbers):
                self.warn(
                    path,
                    _mistakes.number_text_message(name, text, op),
                    offset=expr.offset + max(expr.source.find(name), 0),
                )
        if scope is None:
            return
        before = len(self.problems)
        for ref in references(ast):
            if ref.root == "secrets":
                self.secrets_read.add((path[:1] == ("trigger",), ref.member))
            self._check_reference(expr, path, scope, ref.root, ref.member)
        if "steps" in source and len(self.problems) == before:
            self._check_result_keys(expr, path, scope)

    def _check_result_keys(self, expr: Expression, path: DocPath, scope: Scope) -> None:
        """``steps.fetch.itmes`` where fetch's result has only ``items``: an error, since
        the read gives null and a loop over it runs zero times without a word."""
        known = self.__dict__.get("_result_keys")
        if known is None:
            known = self.__dict__["_result_keys"] = known_keys(self.get(()))
        for sid, key in step_fields(expr.parsed.parsed):
            fixed = known.get(sid)
            if fixed is None or key in fixed[0] or sid not in scope.steps:
                continue
            keys, source = fixed
            found = re.search(
                r"steps\s*\.\s*" + re.escape(sid) + r"\s*\.\s*(" + re.escape(key) + ")",
                expr.source,
            )
            hint = did_you_mean(key, sorted(keys))
            self.error(
                path,
                f"step '{sid}' has no '{key}' in its result{hint} ({source}: "
                f"{', '.join(sorted(keys))})",
                offset=expr.offset + (found.start(1) if found else 0),
            )

    def _check_reference(
        self, expr: Expression, path: DocPath, scope: Scope, root: str, member: str | None
    ) -> None:
        def at(word: str) -> int:
            return expr.offset + max(expr.source.find(word), 0)

        if root not in scope.names:
            if root in ("null", "true", "false") or f'"{root}"' in expr.source:
                pass  # reported by check_expression, with the fix
            elif root in CONTEXT_NAMES:
                self.error(path, f"'{root}' cannot be used {scope.what}", offset=at(root))
            elif root == "item" and "index" in scope.names:  # in a loop that renamed it
                loop = sorted(scope.names - set(CONTEXT_NAMES) - {"index", "error"})
                self.error(
                    path,
                    f"'item' is not defined here: this for_each calls its element "
                    f"'{loop[0] if loop else '?'}' (as: {loop[0] if loop else '?'})",
                    offset=at(root),
                )
            elif root in ("item", "index"):
                self.error(
                    path,
                    f"'{root}' exists only inside the steps of a for_each (the current "
                    f"{'element' if root == 'item' else 'position'})",
                    offset=at(root),
                )
            elif root == "error":
                self.error(
                    path,
                    "'error' exists only in the steps of an on_error or on_failure (the "
                    "failure being handled)",
                    offset=at(root),
                )
            else:
                names = sorted(scope.names)
                self.error(
                    path,
                    f"unknown name '{root}'{did_you_mean(root, names)} "
                    f"(expressions read: {', '.join(names)})",
                    offset=at(root),
                )
            return
        if member is None:
            return
        if root == "steps":
            self.reads[-1].add(member)
        if root == "steps" and member not in scope.steps:
            line = self.step_lines.get(member)
            pos = at(f"{root}.{member}") + len(root) + 1
            if member in scope.enclosing:
                self.error(
                    path,
                    f"step '{member}' cannot read its own result (it does not exist yet)",
                    offset=pos,
                )
            elif line is None:
                hint = _step_hint(member, scope.steps)
                self.error(path, f"unknown step '{member}'{hint}", offset=pos)
            elif line >= self.doc.mark(path).line:
                self.error(
                    path,
                    f"step '{member}' runs later (line {line}): a step can only read the "
                    "results of steps before it",
                    offset=pos,
                )
            else:
                self.error(
                    path,
                    f"step '{member}' (line {line}) is not visible here: steps inside a "
                    "for_each or on_error are visible only within it",
                    offset=pos,
                )
        elif root == "secrets" and member not in self.secrets:
            close = did_you_mean(member, sorted(self.secrets))
            add = "add it to 'secrets:' at the top of the file"
            hint = f"{close} (or {add})" if close else f": {add}"
            self.error(
                path,
                f"secret '{member}' is not declared{hint}",
                offset=at(f"secrets.{member}") + len("secrets."),
            )
        elif root == "env" and member not in self.env_names:
            hint = did_you_mean(member, sorted(self.env_names)) or (
                ": add it under 'env:' at the top of the file (with a default if it may be unset)"
            )
            self.error(
                path,
                f"env '{member}' is not declared{hint}",
                offset=at(f"env.{member}") + len("env."),
            )
        elif root == "vars" and member not in self.var_names:
            hint = did_you_mean(member, sorted(self.var_names))
            if not hint:
                defined = ", ".join(sorted(self.var_names))
                hint = (
                    f" (defined: {defined})"
                    if defined
                    else ": no vars are defined; add it under 'vars:'"
                )
            self.error(
                path,
                f"unknown var '{member}'{hint}",
                offset=at(f"vars.{member}") + len("vars."),
            )
