"""Build the typed plan from a loaded document, checking what the schema cannot.

The builder walks the document once. It compiles every template and expression (so a
run never parses one), and reports, each at its file:line:col: duplicate step ids,
references to unknown or later steps, undeclared secrets and vars, unknown names and
functions, unknown connections or ones of the wrong kind, invalid cron strings.

It runs even when the schema found problems, so that all of them are reported at once;
then it only looks at what has the right shape and builds nothing. The checks on what
each expression reads live in ``_exprchecks`` (``Scope`` and ``did_you_mean`` too, still
importable from here).
"""

from __future__ import annotations

import hashlib
import itertools
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from ._document import Document
from ._document import Path as DocPath
from ._env import build_env
from ._errors import PipelineInvalid, Problem
from ._exprchecks import ExpressionChecks, Scope, StepsBefore, did_you_mean
from ._model import Connection, OnError, Pipeline, RetryPolicy, Step, Trigger
from .connectors import CONNECTORS
from .expr import (
    Expression,
    Template,
    TemplateSyntaxError,
    compile_expression,
    compile_string,
    compile_value,
    strip_wrapper,
)
from .steps import STEP_KINDS

__all__ = ["Builder", "Scope", "build_pipeline", "did_you_mean", "parse_duration"]

_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
MAX_DURATION = 30 * 24 * 3600.0
"""The longest duration a pipeline may set (timeouts, retry delays): 30 days."""


def parse_duration(value: Any) -> float:
    """Seconds from a number or a '500ms' / '30s' / '2m' / '1h' string."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"not a duration: {value!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


class Builder(ExpressionChecks):
    # A plain class, not a dataclass: @dataclass generates its methods at every start of
    # the process, and every run builds its plan (see _frozen).
    def __init__(self, doc: Document, *, online: bool = False) -> None:
        self.doc = doc
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []  # reported, but the file runs
        self.secrets: frozenset[str] = frozenset()
        self.var_names: frozenset[str] = frozenset()
        self.env_names: frozenset[str] = frozenset()  # under `env:` (_env.py)
        self.step_lines: dict[str, int] = {}  # every id → its line
        self.reads: list[set[str]] = [set()]  # step ids read, per step
        self.secrets_read: set[tuple[bool, str | None]] = set()
        self.state_read = False  # may an expression read `state`? (may_read_state)
        self.loaded: dict[str, Any] = {}  # files a connector read, by name
        self.online = online  # `check --online`: connectors may fetch WSDLs and schemas
        self._seen_ids: dict[str, int] = {}
        self.paths: list[DocPath] = []  # where each of error()'s problems is (_misspelt)

    # --- where and what -------------------------------------------------------------

    def get(self, path: DocPath) -> Any:
        value: Any = self.doc.data
        for part in path:
            # Never `part in value` on a list: that scans it, and made every step of a
            # long list cost the length of the list (quadratic validation).
            if isinstance(part, int):
                if not isinstance(value, list) or not 0 <= part < len(value):
                    return None
                value = value[part]
            elif isinstance(value, dict):
                value = value.get(part)
            else:
                return None
            if value is None:
                return None
        return value

    def where(self, path: DocPath) -> str:
        m = self.doc.mark(path)
        return f"{self.doc.file}:{m.line}:{m.col}"

    def where_at(self, path: DocPath, offset: int) -> str:
        """``file:line:col`` of the character ``offset`` into the string at ``path``."""
        m = self.doc.mark(path)
        col = m.col + offset + (1 if m.style in ("'", '"') else 0)
        if m.style not in (None, "'", '"'):
            col = m.col  # block scalars: the column is not knowable from the offset
        return f"{self.doc.file}:{m.line}:{col}"

    def error(self, path: DocPath, message: str, *, at_key: bool = False, offset: int = 0) -> None:
        m = self.doc.key_mark(path) if at_key else self.doc.mark(path)
        col = m.col
        if offset and m.style in (None, "'", '"'):
            col += offset + (1 if m.style else 0)
        self.problems.append(Problem(self.doc.file, m.line, col, message))
        self.paths.append(path)

    # --- templates and expressions ---------------------------------------------------

    def template(self, path: DocPath, scope: Scope) -> Template:
        """Compile the value at ``path`` as a template, checking every expression in it."""

        def leaf(text: str, sub: tuple[Any, ...]) -> Any:
            self.check_braces(text, sub, scope)
            try:
                render, exprs = compile_string(text, lambda off: self.where_at(sub, off))
            except TemplateSyntaxError as exc:
                self.error(sub, str(exc), offset=exc.offset)
                return (lambda _ctx: None), []
            for expr in exprs:
                self.check_expression(expr, sub, scope)
                self.state_read = self.state_read or may_read_state(expr.source)
            return render, exprs

        return compile_value(self.get(path), leaf, path)

    def maybe_template(self, path: DocPath, scope: Scope) -> Template | None:
        """Like template(), for a key that may be absent."""
        parent = self.get(path[:-1])
        if not isinstance(parent, dict) or path[-1] not in parent:
            return None
        return self.template(path, scope)

    def expression(
        self, path: DocPath, scope: Scope | None, *, text: str | None = None
    ) -> Expression | None:
        """Compile a bare expression (``${{ }}`` around it is accepted).

        ``scope`` None means the expression reads a step's result, not the context: its
        names are data fields and are not checked.
        """
        source = self.get(path) if text is None else text
        if not isinstance(source, str) or not source:  # not a string, or empty: the schema says
            return None
        body, offset = strip_wrapper(source)
        try:
            expr = compile_expression(body, offset, self.where_at(path, offset))
        except TemplateSyntaxError as exc:
            if not self.check_expression_braces(body, path):  # "{{ x }}": say how instead
                self.error(path, str(exc), offset=exc.offset)
            return None
        self.check_expression(expr, path, scope)
        self.state_read = self.state_read or may_read_state(expr.source)
        return expr

    # --- pieces -------------------------------------------------------------------

    def duration(self, path: DocPath) -> float | None:
        value = self.get(path)
        if value is None:
            return None
        try:
            seconds = parse_duration(value)
        except ValueError:
            return None  # the schema reports it
        if seconds <= 0 and isinstance(value, str):
            self.error(path, f"'{value}' is not a usable duration: it must be more than 0")
        elif not seconds <= MAX_DURATION:  # NaN too: no comparison holds for it
            # Beyond this, timers and deadlines overflow at run time.
            shown = f"'{value}'" if isinstance(value, str) else f"{value} seconds"
            self.error(path, f"{shown} is too long a duration: the most is 30 days ('720h')")
            return MAX_DURATION
        return seconds

    def retry(self, path: DocPath) -> RetryPolicy | None:
        raw = self.get(path)
        if not isinstance(raw, dict):
            return None
        base = RetryPolicy()
        return base.replace(
            attempts=int(raw.get("attempts", 5)),
            initial_delay=self.duration((*path, "initial_delay")) or base.initial_delay,
            max_delay=self.duration((*path, "max_delay")) or base.max_delay,
            multiplier=float(raw.get("multiplier", base.multiplier)),
            max_elapsed=self.duration((*path, "max_elapsed")) or base.max_elapsed,
            on_status=frozenset(raw.get("on_status", base.on_status)),
            idempotent=bool(raw.get("idempotent", base.idempotent)),
            max_retry_after=self.duration((*path, "max_retry_after")) or base.max_retry_after,
        )

    def connection_ref(self, path: DocPath, kind: str) -> str | None:
        """Check that the connection named at ``path`` exists and is of ``kind``."""
        name = self.get(path)
        if not isinstance(name, str):
            return None
        connections = self.get(("connections",))
        connections = connections if isinstance(connections, dict) else {}
        if name not in connections:
            hint = did_you_mean(name, sorted(connections))
            known = (
                f" (defined: {', '.join(sorted(connections))})"
                if connections
                else ": no connections are defined; add it under 'connections:'"
            )
            self.error(path, f"unknown connection '{name}'{hint}{known}")
            return None
        actual = connections[name]
        actual_kind = next((k for k in CONNECTORS if isinstance(actual, dict) and k in actual), "")
        if actual_kind and actual_kind != kind:
            self.error(
                path,
                f"connection '{name}' is a {actual_kind} connection; a {kind} step needs a "
                f"{kind} connection",
            )
            return None
        return name

    # --- steps --------------------------------------------------------------------

    def collect_ids(self, path: DocPath) -> None:
        """Record every step id in the list at ``path`` (nested ones too), once."""
        steps = self.get(path)
        if not isinstance(steps, list):
            return
        for i, raw in enumerate(steps):
            if not isinstance(raw, dict):
                continue
            sid = raw.get("id")
            if isinstance(sid, str):
                line = self.doc.mark((*path, i, "id")).line
                if sid in self._seen_ids:
                    self.error(
                        (*path, i, "id"),
                        f"duplicate step id '{sid}' (first used at line {self._seen_ids[sid]})",
                    )
                else:
                    self._seen_ids[sid] = line
                    self.step_lines[sid] = line
            for kind_key, nested in (("for_each", "steps"), ("on_error", "steps")):
                if isinstance(raw.get(kind_key), dict):
                    self.collect_ids((*path, i, kind_key, nested))

    def steps(self, path: DocPath, scope: Scope) -> tuple[Step, ...]:
        raw_steps = self.get(path)
        if not isinstance(raw_steps, list):
            return ()
        first: dict[str, int] = {}  # id → the position of the first step using it
        for i, raw in enumerate(raw_steps):
            if isinstance(raw, dict) and isinstance(raw.get("id"), str):
                first.setdefault(raw["id"], i)
        built: list[Step] = []
        for i in range(len(raw_steps)):
            step = self.step((*path, i), replace(scope, steps=StepsBefore(scope.steps, first, i)))
            if step is not None:
                built.append(step)
        return tuple(built)

    def step(self, path: DocPath, scope: Scope) -> Step | None:
        raw = self.get(path)
        if not isinstance(raw, dict):
            return None
        self.reads.append(set())
        try:
            step = self._step(path, raw, scope)
        finally:
            reads = self.reads.pop()
            self.reads[-1].update(reads)
        return step.replace(reads=frozenset(reads)) if step is not None else None

    def _step(self, path: DocPath, raw: dict[str, Any], scope: Scope) -> Step | None:
        kinds = [k for k in STEP_KINDS if k in raw]
        sid = raw.get("id")
        if isinstance(sid, str):
            scope = replace(scope, enclosing=scope.enclosing | {sid})
        condition = self.expression((*path, "if"), scope) if "if" in raw else None
        self.check_retry(path, raw)
        spec = None
        if len(kinds) == 1:
            spec = STEP_KINDS[kinds[0]].build(raw[kinds[0]], self, (*path, kinds[0]), scope)
        extract: list[tuple[str, Expression]] = []
        if isinstance(raw.get("extract"), dict):
            for name in raw["extract"]:
                expr = self.expression((*path, "extract", name), None)
                if expr is not None:
                    extract.append((name, expr))
        on_error = OnError()
        handler = raw.get("on_error")
        if handler in ("continue", "fail"):
            on_error = OnError(mode=handler)
        elif isinstance(handler, dict):
            fallback_scope = replace(scope, names=scope.names | {"error"})
            on_error = OnError("fallback", self.steps((*path, "on_error", "steps"), fallback_scope))
        if len(kinds) != 1 or not isinstance(sid, str) or spec is None:
            return None
        return Step(
            id=sid,
            kind=kinds[0],
            spec=spec,
            where=self.where(path),
            title=str(raw.get("name") or ""),
            condition=condition,
            extract=tuple(extract),
            retry=self.retry((*path, "retry")),
            timeout=self.duration((*path, "timeout")),
            on_error=on_error,
        )

    # --- the whole file -----------------------------------------------------------

    def trigger(self) -> Trigger:
        raw = self.get(("trigger",))
        if not isinstance(raw, dict) or len(raw) != 1:
            return Trigger("manual", {})
        kind = next(iter(raw))
        config = raw[kind] if isinstance(raw[kind], dict) else {}
        if kind == "schedule":
            from .triggers import schedule as schedule_trigger  # only schedule pipelines

            cron = config.get("cron")
            if isinstance(cron, str):
                message = schedule_trigger.cron_problem(cron)
                if message:
                    self.error(("trigger", "schedule", "cron"), message)
            if isinstance(config.get("timezone"), str) and config["timezone"]:
                message = schedule_trigger.timezone_problem(config["timezone"])
                if message:
                    self.error(("trigger", "schedule", "timezone"), message)
            schedule_trigger.check(self)
        if kind == "webhook":
            from .triggers import webhook as webhook_trigger  # only webhook pipelines

            webhook_trigger.check(self)
        if kind == "poll":
            from .triggers import poll as poll_trigger  # only poll pipelines

            compiled = poll_trigger.check(self)
            return Trigger("poll", {**config, poll_trigger.COMPILED: compiled})
        if kind not in ("manual", "schedule", "webhook"):
            return Trigger("manual", {})
        schema = config.get("input_schema")
        if isinstance(schema, dict):
            self._check_input_schema(("trigger", kind, "input_schema"), schema)
        return Trigger(kind, config, schema if isinstance(schema, dict) else None)

    def _check_input_schema(self, path: DocPath, schema: dict[str, Any]) -> None:
        from ._inputschema import input_schema_problems  # imports jsonschema

        for sub, message, at_key in input_schema_problems(schema):
            self.error(
                (*path, *sub), f"input_schema is not a valid JSON Schema: {message}", at_key=at_key
            )
        if "format" in str(schema):  # the few schemas that use it import the checks
            from ._formats import ENFORCED, unenforced_formats

            for sub, name in unenforced_formats(schema):
                hint = did_you_mean(name, ENFORCED) or f" (checked: {', '.join(ENFORCED)})"
                self.warn(
                    (*path, *sub),
                    f"format '{name}' is not checked: an input is not refused for it{hint}",
                )

    def build(self, source_bytes: bytes) -> Pipeline | None:
        data = self.doc.data
        if not isinstance(data, dict):
            return None
        declared = data.get("secrets")
        if isinstance(declared, list):
            self.secrets = frozenset(s for s in declared if isinstance(s, str))
        raw_vars = data.get("vars")
        if isinstance(raw_vars, dict):
            self.var_names = frozenset(raw_vars)
        env, env_marks = build_env(self, data)
        self.env_names = frozenset(name for name, _ in env)
        self.collect_ids(("steps",))
        self.collect_ids(("on_failure",))

        trigger = self.trigger()
        start = frozenset({"input", "secrets", "state", "run", "env"})
        vars_scope = Scope(names=start, what="in vars (vars are computed before any step)")
        variables = tuple(
            (name, self.template(("vars", name), vars_scope))
            for name in (raw_vars if isinstance(raw_vars, dict) else {})
        )
        conn_scope = Scope(
            names=start | {"vars"}, what="in a connection (connections exist before any step)"
        )
        connections: dict[str, Connection] = {}
        raw_conns = data.get("connections")
        for name, raw in raw_conns.items() if isinstance(raw_conns, dict) else ():
            kinds = [k for k in CONNECTORS if isinstance(raw, dict) and k in raw]
            if len(kinds) != 1:
                continue
            path = ("connections", name, kinds[0])
            spec = CONNECTORS[kinds[0]].build_connection(raw[kinds[0]], self, path, conn_scope)
            if spec is not None:
                connections[name] = Connection(name, kinds[0], spec)

        steps = self.steps(("steps",), Scope())
        all_top = frozenset(s.get("id") for s in data.get("steps") or [] if isinstance(s, dict))
        after = Scope(steps=frozenset(i for i in all_top if isinstance(i, str)))
        self.reads.append(set())
        output = self.template(("output",), after) if "output" in data else None
        output_reads = frozenset(self.reads.pop())
        on_failure = self.steps(
            ("on_failure",), replace(after, names=after.names | {"error"}, what="in on_failure")
        )
        save_state = self.save_state(data, after)
        if self.problems:
            return None
        elsewhere = {name for in_trigger, name in self.secrets_read if not in_trigger}
        signature_secrets = frozenset(
            name
            for in_trigger, name in self.secrets_read
            if in_trigger and name is not None and name not in elsewhere and None not in elsewhere
        )
        return Pipeline(
            file=Path(self.doc.file),
            name=str(data.get("name")),
            description=str(data.get("description") or ""),
            digest=hashlib.sha256(source_bytes).hexdigest(),
            trigger=trigger,
            secrets=tuple(sorted(self.secrets)),
            vars=variables,
            connections=connections,
            steps=steps,
            output=output,
            on_failure=on_failure,
            output_reads=output_reads,
            save_state=save_state,
            signature_secrets=signature_secrets,
            concurrency=int(data.get("concurrency", 1)),
            # save_state commits against the version read at the start, so it reads too
            reads_state=self.state_read or bool(save_state),
            env=env,
            env_marks=env_marks,
            secret_marks={
                name: (self.doc.mark(("secrets", i)).line, self.doc.mark(("secrets", i)).col)
                for i, name in enumerate(declared if isinstance(declared, list) else [])
            },
        )

    def save_state(self, data: dict[str, Any], after: Scope) -> tuple[tuple[str, Template], ...]:
        """The ``save_state`` templates: they read what ``output`` reads, except secrets
        (the stored state is kept unredacted, so no secret may go into it)."""
        raw = data.get("save_state")
        if not isinstance(raw, dict):
            return ()
        scope = replace(
            after,
            names=after.names - {"secrets"},
            what="in save_state (the state is stored as it is, so a secret never goes in)",
        )
        self.reads.append(set())
        try:
            return tuple((name, self.template(("save_state", name), scope)) for name in raw)
        finally:
            self.reads.pop()


def may_read_state(source: str) -> bool:
    """Whether the JMESPath ``source`` may read the context's ``state``: it names it, or
    it reads the whole context (``@``, a ``*`` projection), or a quoted name may spell it
    with an escape (``"\\u0073tate"``). Erring towards yes costs one read of the state;
    the other way would run the pipeline without its state."""
    return "state" in source or "@" in source or "*" in source or "\\" in source


def build_pipeline(
    doc: Document,
    source_bytes: bytes,
    earlier: list[Problem],
    *,
    online: bool = False,
    warnings: list[Problem] | None = None,
) -> Pipeline:
    """Build the plan, or raise PipelineInvalid with ``earlier`` and every new problem.
    ``online`` lets connectors check against what they fetch (WSDL URLs, introspection);
    ``warnings`` receives what runs but likely not as meant (``check`` prints it)."""
    builder = Builder(doc, online=online)
    if warnings is not None:
        builder.warnings = warnings
    try:
        pipeline = builder.build(source_bytes)
    except (KeyError, TypeError, AttributeError, ValueError):
        if not earlier:
            raise  # a bug in hookline, not in the file: let the CLI report it as such
        pipeline = None
    problems = earlier + _without_misspelt(builder, earlier)
    if problems or pipeline is None:
        raise PipelineInvalid(problems or [Problem(doc.file, 1, 1, "the pipeline is invalid")])
    return pipeline


def _without_misspelt(builder: Builder, earlier: list[Problem]) -> list[Problem]:
    """The builder's problems, less those the schema already explains as a misspelt key.

    ``conection:`` in a rest step gave "a rest step needs 'connection' ..." beside "unknown
    key 'conection'; did you mean 'connection'?": one mistake, two messages. A problem
    goes when the mapping it is about has an unknown key that the schema reported as a
    misspelling of a key the message names and the mapping lacks.
    """
    said = {
        (p.line, p.col, p.message.rpartition(": ")[2]) for p in earlier if "; did you" in p.message
    }
    if not said:
        return builder.problems
    kept = []
    for problem, path in itertools.zip_longest(builder.problems, builder.paths):
        mapping = builder.get(path) if path is not None else None
        if problem is not None and isinstance(mapping, dict):
            named = set(re.findall(r"'([^']+)'", problem.message)) - set(mapping)
            if any(_misspelling_said(builder, path, key, named, said) for key in mapping):
                continue
        kept.append(problem)
    return [p for p in kept if p is not None]


def _misspelling_said(
    builder: Builder, path: DocPath, key: object, named: set[str], said: set[tuple[int, int, str]]
) -> bool:
    if not isinstance(key, str) or not named:
        return False
    m = builder.doc.key_mark((*path, key))
    return any(
        (m.line, m.col, f"unknown key '{key}'; did you mean '{meant}'?") in said for meant in named
    )
