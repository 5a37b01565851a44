"""Templates: JSON-like values whose strings may hold ``${{ jmespath }}`` expressions.

A template is compiled once, when the pipeline is loaded, into a tree of small render
functions; a run only evaluates the compiled JMESPath. Rules (docs/expressions.md):

- a string that is exactly one ``${{ expr }}`` renders to the expression's JSON value;
- otherwise each expression is interpolated as text (null as "", strings as they are,
  everything else as compact JSON);
- ``$${{`` writes a literal ``${{``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import jmespath
from jmespath import exceptions as jexc
from jmespath.parser import ParsedResult

from .._frozen import Frozen
from ._argcheck import literal_problem
from ._budget import BudgetExceeded, BudgetInterpreter
from ._fnbase import ArgumentTypeError, type_problem
from ._functions import OPTIONS
from ._refs import argument_text

OPEN = "${{"
ESCAPE = "$${{"


class TemplateSyntaxError(ValueError):
    """A template or expression does not compile; ``offset`` is 0-based in the string."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


class ExpressionError(Exception):
    """An expression failed while it was evaluated (a type error in a function, say)."""

    def __init__(self, source: str, message: str, where: str = "") -> None:
        self.source = source
        self.where = where
        prefix = f"{where}: " if where else ""
        # A long expression is cut, so that the message stays readable.
        super().__init__(f"{prefix}expression '{_preview(source, 200)}': {message}")


class Expression(Frozen):
    """A compiled JMESPath expression and where it was written.

    Written out (``Frozen``) rather than ``@dataclass(frozen=True)``: every run imports
    this module, and a generated class costs about half a millisecond of start-up.
    """

    __slots__ = _fields = ("source", "parsed", "offset", "where")
    source: str
    parsed: ParsedResult
    offset: int  # of the expression text inside the YAML string
    where: str  # "file:line:col", for errors at run time

    def __init__(self, source: str, parsed: ParsedResult, offset: int = 0, where: str = "") -> None:
        self._fill(locals())

    def evaluate(self, context: Any) -> Any:
        try:
            # ParsedResult.search, with an interpreter that stops a runaway evaluation.
            return BudgetInterpreter(OPTIONS).visit(self.parsed.parsed, context)
        except BudgetExceeded as exc:
            raise ExpressionError(self.source, str(exc), self.where) from None
        except RecursionError:
            raise ExpressionError(
                self.source, "the expression or the data is nested too deeply", self.where
            ) from None
        except ArgumentTypeError as exc:
            raise ExpressionError(self.source, self._argument_words(exc), self.where) from exc
        except jexc.JMESPathError as exc:
            raise ExpressionError(self.source, _first_line(exc), self.where) from exc
        except (ValueError, TypeError, OverflowError) as exc:
            raise ExpressionError(self.source, str(exc), self.where) from exc

    def _argument_words(self, exc: ArgumentTypeError) -> str:
        """The message of a wrong-type argument, naming the argument as written when it
        is null: ``lower(): argument 1, input.name, is null ... default(input.name, '')``."""
        if exc.current_value is None and exc.position:
            subject = argument_text(self.parsed.parsed, exc.function_name, exc.position)
            if subject:
                words = type_problem(exc.function_name, exc.position, None, exc.types, subject)
                return words or exc.message
        return exc.message


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


# JMESPath's token names, as they are written.
_TOKEN_TEXT = {
    "colon": "':'",
    "comma": "','",
    "rbracket": "']'",
    "rbrace": "'}'",
    "rparen": "')'",
    "lbracket": "'['",
    "lbrace": "'{'",
    "dot": "'.'",
    "quoted_identifier": "a field name",
    "unquoted_identifier": "a field name",
}


def _parse_error_words(exc: jexc.ParseError) -> str:
    """What a JMESPath parse error means, without the library's token jargon."""
    if isinstance(exc, jexc.IncompleteExpressionError) or str(exc.token_type).lower() == "eof":
        return "the expression is incomplete"
    found = f"'{exc.token_value}'"
    msg = getattr(exc, "msg", "") or ""
    if msg.startswith("Expecting: ["):  # after a '.'
        return f"expected a field name, '[' or '{{' after '.', found {found}"
    if msg.startswith("Expecting: "):
        wanted = msg[len("Expecting: ") :].split(",")[0].strip()
        return f"expected {_TOKEN_TEXT.get(wanted, wanted)}, found {found}"
    if found == "'='":
        return "'=' is not an operator: write '==' to compare"
    if str(exc.token_type).lower() == "number":
        return f"unexpected {found} here (a number is written in backticks: `{exc.token_value}`)"
    return f"unexpected {found} here"


def _lexer_error_words(exc: jexc.LexerError) -> str:
    message = str(exc.message)
    if message.startswith("Unclosed "):
        quote = message.split()[1]
        kind = {"'": "string", "`": "literal", '"': "quoted field name"}.get(quote, "quote")
        return f"this {kind} is not closed: add the closing {quote}"
    if message == "Unknown token '='":
        return "'=' is not an operator: write '==' to compare"
    if message.startswith("Bad token"):
        return (
            "this `literal` is not JSON: write text as 'text' (or `\"text\"`), numbers "
            "and true/false/null as they are in JSON"
        )
    if message.startswith("Invalid \\escape"):
        return "invalid escape in a quoted field name (write '\\\\' for a backslash)"
    if message.startswith("Unknown token"):
        return f"'{exc.lexer_value}' cannot be used here"
    return message[:1].lower() + message[1:]


def compile_expression(source: str, offset: int = 0, where: str = "") -> Expression:
    """Compile bare JMESPath; raise TemplateSyntaxError with the column of the fault."""
    text = source.strip()
    lead = len(source) - len(source.lstrip())
    if not text:
        raise TemplateSyntaxError("empty expression", offset)
    try:
        if "`" in text:
            with warnings.catch_warnings():
                # `foo` (not JSON) is read as a string only for backward compatibility:
                # refuse it. Only a backtick literal can warn; catch_warnings is not free.
                warnings.simplefilter("error", PendingDeprecationWarning)
                parsed = jmespath.compile(text)
        else:
            parsed = jmespath.compile(text)
    except RecursionError:
        # jmespath's parser recurses once per nesting level: thousands of '(' or 'not'
        # exhaust Python's stack. A located error, not a traceback.
        raise TemplateSyntaxError(
            f"invalid expression '{_preview(text)}': nested too deeply to compile", offset + lead
        ) from None
    except PendingDeprecationWarning:
        pos = text.find("`")
        raise TemplateSyntaxError(
            f"invalid expression '{text}': this `literal` is not JSON: write text as 'text' "
            '(or `"text"`)',
            offset + lead + max(pos, 0),
        ) from None
    except jexc.LexerError as exc:  # a ParseError too: test it first
        pos = exc.lex_position if isinstance(exc.lex_position, int) else 0
        raise TemplateSyntaxError(
            f"invalid expression '{text}': {_lexer_error_words(exc)}", offset + lead + pos
        ) from None
    except jexc.ParseError as exc:
        pos = exc.lex_position if isinstance(exc.lex_position, int) else 0
        raise TemplateSyntaxError(
            f"invalid expression '{text}': {_parse_error_words(exc)}",
            offset + lead + max(pos, 0),
        ) from None
    calls: list[dict[str, Any]] | None = [] if "(" in text else None
    if _depth(parsed.parsed, calls) > MAX_EXPRESSION_DEPTH:
        # A long chain of operators (a || b || ...) parses without recursion, into a tree
        # as deep as the chain: the checks and the evaluation that walk it would exhaust
        # the stack.
        raise TemplateSyntaxError(
            f"invalid expression '{_preview(text)}': nested too deeply to compile (more "
            f"than {MAX_EXPRESSION_DEPTH} levels of operators, calls or brackets)",
            offset + lead,
        )
    if calls:  # an argument written here may be known to be wrong
        problem = literal_problem(calls, OPTIONS.custom_functions.FUNCTION_TABLE)
        if problem is not None:
            message, name = problem
            raise TemplateSyntaxError(
                f"expression '{_preview(text)}': {message}",
                offset + lead + max(text.find(name + "("), 0),
            )
    return Expression(text, parsed, offset + lead, where)


MAX_EXPRESSION_DEPTH = 128
"""Default deepest syntax tree an expression may compile to (``a || b`` is 2 levels)."""


def _depth(ast: dict[str, Any], calls: list[dict[str, Any]] | None = None) -> int:
    """The depth of a JMESPath syntax tree, walked without recursion; the function calls
    met on the way are added to ``calls`` (one walk for both: it is on the way of every
    expression that ``check`` compiles)."""
    deepest = 0
    stack = [(ast, 1)]
    while stack:
        node, level = stack.pop()
        if level > deepest:
            deepest = level
        if calls is not None and node.get("type") == "function_expression":
            calls.append(node)
        stack.extend((c, level + 1) for c in node.get("children", ()) if isinstance(c, dict))
    return deepest


def _preview(text: str, limit: int = 60) -> str:
    """The start of a (long) expression, for a message that stays one readable line."""
    return text if len(text) <= limit else f"{text[:limit]}…"


def strip_wrapper(source: str) -> tuple[str, int]:
    """Accept ``${{ expr }}`` where a bare expression is expected; return (expr, offset)."""
    stripped = source.strip()
    if stripped.startswith(OPEN) and stripped.endswith("}}"):
        lead = len(source) - len(source.lstrip())
        return stripped[3:-2], lead + 3
    return source, 0


def _find_close(text: str, start: int) -> int:
    """Index of the ``}}`` closing an expression that starts at ``start``, or -1.

    Braces and quotes inside the expression (a multi-select hash, a literal) are skipped.
    """
    depth = 0
    quote = ""
    i = start
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "'\"`":
            quote = ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            if depth == 0 and text.startswith("}}", i):
                return i
            depth -= 1
        i += 1
    return -1


def split_template(text: str) -> Iterator[tuple[str, int]]:
    """Yield ("text", offset) and ("${{expr}}" as expr, offset) parts, in order.

    Literal parts are yielded as ``("L" + text, offset)``, expressions as ``("E" + expr, offset)``.
    """
    i = 0
    buf: list[str] = []
    buf_start = 0
    while i < len(text):
        if text.startswith(ESCAPE, i):
            buf.append(OPEN)
            i += len(ESCAPE)
            continue
        if text.startswith(OPEN, i):
            close = _find_close(text, i + 3)
            if close < 0:
                end = text.find("}}", i + 3)
                if end >= 0:  # closed, but a quote inside is not: report where
                    compile_expression(text[i + 3 : end], i + 3)
                raise TemplateSyntaxError("'${{' is not closed: add '}}'", i)
            if buf:
                yield "L" + "".join(buf), buf_start
                buf = []
            yield "E" + text[i + 3 : close], i + 3
            i = close + 2
            buf_start = i
            continue
        buf.append(text[i])
        i += 1
    if buf:
        yield "L" + "".join(buf), buf_start


def as_text(value: Any) -> str:
    """How a value is written when it is interpolated into a longer string."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


Render = Callable[[Any], Any]


class Template:
    """A compiled JSON-like value. ``render(context)`` gives the value for one run."""

    __slots__ = ("_render", "expressions", "raw")

    def __init__(self, raw: Any, render: Render, expressions: list[Expression]) -> None:
        self.raw = raw
        self._render = render
        self.expressions = expressions

    @property
    def is_static(self) -> bool:
        return not self.expressions

    def render(self, context: Any) -> Any:
        return self._render(context)

    def __repr__(self) -> str:
        return f"Template({self.raw!r})"


def compile_string(
    text: str, where: str | Callable[[int], str] = ""
) -> tuple[Render, list[Expression]]:
    """Compile one string; raise TemplateSyntaxError on the first fault.

    ``where`` names the place for errors at run time: a text, or a function of the
    expression's offset in ``text`` that gives one.
    """
    if OPEN not in text:
        return (lambda _ctx: text), []
    parts = list(split_template(text))
    exprs: list[Expression] = []
    pieces: list[str | Expression] = []
    for part, offset in parts:
        if part[0] == "E":
            source, off = part[1:], offset
            expr = compile_expression(source, off, where(off) if callable(where) else where)
            exprs.append(expr)
            pieces.append(expr)
        else:
            pieces.append(part[1:])
    if len(pieces) == 1 and isinstance(pieces[0], Expression):
        only = pieces[0]
        return only.evaluate, exprs
    if all(isinstance(p, str) for p in pieces):  # only escapes
        literal = "".join(p for p in pieces if isinstance(p, str))
        return (lambda _ctx: literal), []

    def render(ctx: Any) -> str:
        return "".join(p if isinstance(p, str) else as_text(p.evaluate(ctx)) for p in pieces)

    return render, exprs


Leaf = Callable[[str, tuple[Any, ...]], tuple[Render, list[Expression]]]


def _frozen_copy(value: Any) -> Render:
    if isinstance(value, dict | list):
        import copy

        return lambda _ctx: copy.deepcopy(value)
    return lambda _ctx: value


def compile_value(value: Any, leaf: Leaf, path: tuple[Any, ...] = ()) -> Template:
    """Compile a JSON-like value; ``leaf`` compiles each string (and reports its faults)."""
    render, exprs = _compile(value, leaf, path)
    return Template(value, render, exprs)


def _compile(value: Any, leaf: Leaf, path: tuple[Any, ...]) -> tuple[Render, list[Expression]]:
    if isinstance(value, str):
        return leaf(value, path)
    if isinstance(value, dict):
        items = [(k, *_compile(v, leaf, (*path, k))) for k, v in value.items()]
        exprs = [e for _, _, es in items for e in es]
        if not exprs:
            return _frozen_copy(value), []
        pairs = [(k, r) for k, r, _ in items]
        return (lambda ctx: {k: r(ctx) for k, r in pairs}), exprs
    if isinstance(value, list):
        compiled = [_compile(v, leaf, (*path, i)) for i, v in enumerate(value)]
        exprs = [e for _, es in compiled for e in es]
        if not exprs:
            return _frozen_copy(value), []
        renders = [r for r, _ in compiled]
        return (lambda ctx: [r(ctx) for r in renders]), exprs
    return (lambda _ctx: value), []
