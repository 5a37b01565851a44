"""Regular expressions: ``regex_match``, ``regex_extract``, ``regex_extract_all`` and
``regex_replace``, each bounded in time.

Python's ``re`` backtracks and cannot be interrupted: ``^(a|aa)+$`` on sixty characters
of hostile text runs for years, holding the GIL, so no timer can stop it. Patterns here
run on the ``regex`` package (already what ``input_schema`` patterns use), whose matches
take a ``timeout``; it accepts what ``re`` accepts, so a pattern keeps its meaning. All the
regular expressions of one evaluation of one expression share ``REGEX_BUDGET`` seconds.

Compiling is bounded too: ``regex`` writes out a fixed repeat (``a{1000}``) once per
count, so ``(?:(?:a{1000}){1000}){1000}`` would take gigabytes before any timeout applies.
A pattern is refused before it is compiled when it is longer than ``MAX_PATTERN``
characters or its fixed repeat counts, multiplied through nesting and added up, pass
``MAX_REPEAT``. ``regex`` is imported on the first call, so a run that uses no regular
expression does not load it.

Memory is not bounded by the timeout: a recursive pattern (``(?R)``, ``(?1)``,
``(?&name)``, ``(?P>name)``) such as ``^((?&r)|a)(?P<r>(?1)a?)$`` takes gigabytes on
twenty-five characters within a fraction of a second. Such patterns are refused before
they are compiled; a ``MemoryError`` while matching (a repeated group's captures on a
text of many megabytes) is a plain error of the call, not a crash.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

from jmespath.functions import signature

from ._fnbase import MAX_TEXT, FunctionValueError, clip

__all__ = [
    "MAX_PATTERN",
    "MAX_REPEAT",
    "REGEX_BUDGET",
    "RegexFunctions",
    "check_template",
    "compile_pattern",
    "group_of",
    "new_budget",
    "use_budget",
]

REGEX_BUDGET = 1.0
"""Seconds of matching all the regular expressions of one evaluation may take."""
MAX_PATTERN = 1000
"""The longest pattern, in characters."""
MAX_REPEAT = 10_000
"""The most elements fixed repeat counts may write out when a pattern is compiled."""

_local = threading.local()


class _Budget:
    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = REGEX_BUDGET


def new_budget() -> object:
    """A budget of ``REGEX_BUDGET`` seconds, for one evaluation of one expression."""
    return _Budget()


def use_budget(budget: object | None) -> object | None:
    """Make ``budget`` the one this thread's regex_ calls draw on; return the previous
    one. The evaluator holds one per evaluation, so that a projection over many items
    shares it; a call outside any (a plain ``jmespath.search``) gets a budget of its own.
    """
    previous = getattr(_local, "budget", None)
    _local.budget = budget
    return previous


# What follows "(" before a group's content: "?:", "?P<name>", "?<=", "?i:", "?i)", ...
_GROUP_PREFIX = re.compile(r"\?(?:P?<[^>]*>|<[=!]|[=!>|]|[a-zA-Z^-]*[:)])")


# After "(?": a call of the whole pattern or of a group, by number or name, which
# recurses. regex takes "(?&#note\nname)" and "(?P >name)" in verbose mode: whitespace
# and comments may come after "&" and "P".
_RECURSIVE_CALL = re.compile(r"R|[+-]?\d|&|P(?:\s|#[^\n]*(?:\n|$))*>")


def _recursive_call(pattern: str) -> str | None:
    """The first recursive call in ``pattern`` as written (``(?1)``), or None.

    Only escapes are skipped, not character classes: a class and a verbose-mode comment
    (``#[`` ... ``]``) look alike to a scan, and a call must not hide in one. A literal
    ``[(?1)]`` is refused with them; no real pattern needs it.
    """
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\":
            i += 2
            continue
        if pattern.startswith("(?", i) and _RECURSIVE_CALL.match(pattern, i + 2):
            close = pattern.find(")", i)
            return pattern[i : close + 1] if close > 0 else pattern[i:]
        i += 1
    return None


def _repeat_cost(pattern: str) -> int:
    """What fixed repeat counts write out: ``a{3}`` costs 3, ``(?:a{3}b{2}){10}`` 50.

    A scan, not a parser: escapes and character classes are skipped, each group's cost
    is multiplied by the lower bound of a ``{n}``, ``{n,}`` or ``{n,m}`` after it. An
    overestimate for odd patterns is harmless: the bound is far above real ones.
    """
    stack = [0]  # cost of the sequence being read, one per open group
    last = 0  # cost of the atom just read (1 for a character)
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            last = 1
            stack[-1] += 1
            continue
        if ch == "[":
            end = i + 1
            if end < len(pattern) and pattern[end] == "^":
                end += 1
            if end < len(pattern) and pattern[end] == "]":
                end += 1
            while end < len(pattern) and pattern[end] != "]":
                end += 2 if pattern[end] == "\\" else 1
            i = end + 1
            last = 1
            stack[-1] += 1
            continue
        if ch == "(":
            prefix = _GROUP_PREFIX.match(pattern, i + 1)
            if prefix and prefix.group().endswith(")"):  # inline flags: no content
                i = prefix.end()
                continue
            stack.append(0)
            if prefix:
                i = prefix.end()
                continue
        elif ch == ")" and len(stack) > 1:
            last = max(stack.pop(), 1)
            stack[-1] += last
        elif ch == "{":
            close = pattern.find("}", i)
            low = pattern[i + 1 : close].split(",")[0] if close > 0 else ""
            if low.isdigit():
                count = int(low) if len(low) < 12 else 10**12
                stack[-1] += last * (count - 1)  # the atom was counted once already
                last = last * count
                i = close + 1
                continue
            stack[-1] += 1
        else:
            last = 1
            stack[-1] += 1
        i += 1
    return sum(stack)


_COMPILED: dict[str, Any] = {}  # pattern -> compiled: the checks and compiling are paid once
_COMPILED_MOST = 256


def compile_pattern(function_name: str, pattern: str) -> Any:
    """The compiled pattern; FunctionValueError when it is too big or invalid."""
    compiled = _COMPILED.get(pattern)
    if compiled is None:
        compiled = _compile(function_name, pattern)
        if len(_COMPILED) >= _COMPILED_MOST:  # patterns from data could be endless
            _COMPILED.clear()
        _COMPILED[pattern] = compiled
    return compiled


def _compile(function_name: str, pattern: str) -> Any:
    if len(pattern) > MAX_PATTERN:
        raise FunctionValueError(
            function_name,
            f"the pattern is {len(pattern):,} characters long (the limit is {MAX_PATTERN:,})",
        )
    if _repeat_cost(pattern) > MAX_REPEAT:
        raise FunctionValueError(
            function_name,
            f"the pattern's repeat counts ask for more than {MAX_REPEAT:,} elements "
            "(as in a{20000}): write a range such as a{1,20000}, or a smaller count",
        )
    call = _recursive_call(pattern)
    if call:
        raise FunctionValueError(
            function_name,
            f"the pattern calls a group recursively, {clip(call, 40)!r}: recursive "
            "patterns are not supported (they can take gigabytes of memory on a short text)",
        )
    import regex  # only when a regular expression is used

    try:
        return regex.compile(pattern)
    except (regex.error, ValueError, OverflowError) as exc:
        raise FunctionValueError(
            function_name, f"invalid pattern '{clip(pattern, 60)}': {exc}"
        ) from None
    except RecursionError:  # regex's parser recurses once per nested group
        raise FunctionValueError(
            function_name, f"the pattern '{clip(pattern, 60)}' nests groups too deeply"
        ) from None


def group_of(function_name: str, compiled: Any, group: float | str | None) -> int | str:
    """The group ``regex_extract`` returns: 1 when the pattern has groups, else 0, or the
    one asked for by number or name, which must exist."""
    if group is None:
        return 1 if compiled.groups else 0
    if isinstance(group, str):
        if group not in compiled.groupindex:
            names = ", ".join(repr(n) for n in compiled.groupindex) or "none"
            raise FunctionValueError(function_name, f"no group named {group!r} (names: {names})")
        return group
    if (isinstance(group, float) and not group.is_integer()) or not 0 <= group <= compiled.groups:
        raise FunctionValueError(
            function_name,
            f"no group {group!r}: the pattern has {compiled.groups} (0 is the whole match)",
        )
    return int(group)


def check_template(function_name: str, compiled: Any, template: str) -> None:
    """Refuse a replacement that names a group the pattern lacks, or has a bad escape.

    It is expanded against an empty match of a pattern with the same groups, so that
    ``regex`` itself judges it, before any text is matched.
    """
    import regex

    names = {number: name for name, number in compiled.groupindex.items()}
    shadow = "".join(
        f"(?P<{names[n]}>)" if n in names else "()" for n in range(1, compiled.groups + 1)
    )
    try:
        regex.match(shadow, "").expand(template)
    except (regex.error, IndexError, ValueError) as exc:
        raise FunctionValueError(
            function_name, f"invalid replacement '{clip(template, 60)}': {exc}"
        ) from None


def _timed(function_name: str, call: Any) -> Any:
    """Run ``call(timeout)`` on this evaluation's budget."""
    budget = getattr(_local, "budget", None) or _Budget()
    if budget.left <= 0:
        raise _out_of_time(function_name)
    # Counted in this thread's CPU time, as regex counts its timeout, so that a busy
    # machine does not fail a real pattern; a hostile one still stops at the budget.
    start = time.thread_time()
    try:
        return call(budget.left)
    except TimeoutError:
        budget.left = 0
        raise _out_of_time(function_name) from None
    except MemoryError:
        # regex frees what it took when the match fails: the run can go on and say so.
        raise FunctionValueError(
            function_name,
            "matching needed more memory than there is (a repeated group keeps every "
            "capture: on a long text, make the group non-capturing, as in (?:a|b)*)",
        ) from None
    finally:
        budget.left -= time.thread_time() - start


def _out_of_time(function_name: str) -> FunctionValueError:
    return FunctionValueError(
        function_name,
        f"matching took more than {REGEX_BUDGET:g} s (the time limit for the regular "
        "expressions of one expression): a pattern with nested repeats such as (a+)+ can "
        "take exponential time; simplify it",
    )


class RegexFunctions:
    """Mixed into ``HooklineFunctions``."""

    @signature({"types": ["string"]}, {"types": ["string"]})
    def _func_regex_match(self, text: str, pattern: str) -> bool:
        """True when ``pattern`` matches anywhere in ``text`` (anchor it with ^ and $ to
        match the whole text)."""
        compiled = compile_pattern("regex_match", pattern)
        return _timed("regex_match", lambda left: compiled.search(text, timeout=left)) is not None

    @signature(
        {"types": ["string"]},
        {"types": ["string"]},
        {"types": ["number", "string"], "optional": True},
    )
    def _func_regex_extract(
        self, text: str, pattern: str, group: float | str | None = None
    ) -> str | None:
        """The first match's group 1 (or the whole match when the pattern has no group),
        or the group ``group`` names or numbers; null when nothing matches, or when the
        group took no part in the match."""
        compiled = compile_pattern("regex_extract", pattern)
        chosen = group_of("regex_extract", compiled, group)
        found = _timed("regex_extract", lambda left: compiled.search(text, timeout=left))
        return None if found is None else found.group(chosen)

    @signature({"types": ["string"]}, {"types": ["string"]})
    def _func_regex_extract_all(self, text: str, pattern: str) -> list[str | None]:
        """Every match, in order: group 1 of each (the whole match without groups)."""
        compiled = compile_pattern("regex_extract_all", pattern)
        chosen = group_of("regex_extract_all", compiled, None)
        return _timed(  # type: ignore[no-any-return]
            "regex_extract_all",
            lambda left: [m.group(chosen) for m in compiled.finditer(text, timeout=left)],
        )

    @signature({"types": ["string"]}, {"types": ["string"]}, {"types": ["string"]})
    def _func_regex_replace(self, text: str, pattern: str, replacement: str) -> str:
        r"""Replace every match of ``pattern`` with ``replacement``, in which ``\1`` or
        ``\g<1>`` is a numbered group and ``\g<name>`` a named one."""
        name = "regex_replace"
        compiled = compile_pattern(name, pattern)
        check_template(name, compiled, replacement)
        grown = [len(text)]

        def expand(match: Any) -> str:
            written: str = match.expand(replacement)
            grown[0] += len(written) - (match.end() - match.start())
            if grown[0] > MAX_TEXT:  # checked as it grows: a result could need gigabytes
                raise FunctionValueError(
                    name, f"the result would be over {MAX_TEXT:,} characters (the limit)"
                )
            return written

        return _timed(  # type: ignore[no-any-return]
            name, lambda left: compiled.sub(expand, text, timeout=left)
        )
