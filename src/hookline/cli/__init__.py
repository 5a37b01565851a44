"""The command line: ``hookline COMMAND`` and ``run-pipeline``.

Errors are handled once, here: expected errors print their message and exit with their
documented code (1 a failed run, 2 an invalid pipeline, input or usage); anything else is
a bug in hookline: a one-line message, the traceback only with --debug, exit 3.

Global options (``--debug``, ``--env-file``, ``--db``, ``--version``) are accepted in any
position (``_globals``). Shell completion comes from argcomplete, imported only while the
shell asks for completions (``_ARGCOMPLETE`` set), never on an ordinary run. argcomplete
rather than shtab: it completes bash, zsh and fish (shtab has no fish) from the parser
itself, so completions never fall behind the commands, and it is well kept.

Called as console scripts (no ``argv``), the entry points end the process themselves once
stdout and stderr are flushed: by then every command has closed what it opened (the run
history's ``close()`` has returned), and the interpreter's own shutdown (tearing down
thousands of module objects) would add some 15 ms to every cron run for nothing. Called
with ``argv`` (tests, embedding), they return the exit code as usual.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import NoReturn

from .._errors import HooklineError, PipelineInvalid
from .._runtime import Interrupted
from .._urlsecrets import mask_in_text
from . import run
from ._globals import add_globals, apply_env_file, spread_globals, walk
from ._signals import exit_code

EXIT_OK = 0
EXIT_RUN_FAILED = 1
EXIT_INVALID = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT); SIGTERM exits 143 and SIGHUP 129 (128 + signal)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # usage errors exit 2, with the usage line
        message = mask_in_text(message)  # argparse quotes what was typed: a URL's password
        self.print_usage(sys.stderr)
        self.exit(EXIT_INVALID, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="hookline",
        description="Declarative YAML pipelines for API integrations.",
    )
    add_globals(parser, top=True)
    parser.add_argument(
        "--db",
        metavar="PATH",
        help="run history database, for the commands that use one (run, runs, replay, state)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    # Imported here rather than at the top: run-pipeline needs only ``run``.
    from . import check, cron, init, replay, runs, schema, serve, state, test, worker

    commands: dict[str, object] = {
        "run": run,
        "check": check,
        "runs": runs,
        "schema": schema,
        "serve": serve,
        "worker": worker,
        "cron": cron,
        "state": state,
        "replay": replay,
        "test": test,
        "init": init,
    }
    for module in commands.values():
        module.add_parser(sub)  # type: ignore[attr-defined]
    # `hookline --db X check` is a mistake, not an option to ignore: the commands that take
    # --db say so, and _parse refuses it for the others.
    for command in walk(parser):
        if command is not parser and any("--db" in a.option_strings for a in command._actions):
            command.set_defaults(takes_db=True)
    spread_globals(parser)
    return parser


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions (docs/running.md)
        import argcomplete

        argcomplete.autocomplete(parser)
    args = parser.parse_args(argv)
    if getattr(args, "db", None) and not getattr(args, "takes_db", False):
        parser.error(f"--db: 'hookline {args.command}' does not use the run history")
    return args


def _handle(args: argparse.Namespace, handler: Callable[[], int], argv: object) -> int:
    """Run ``handler`` with the env file applied, every error handled once."""

    def call() -> int:
        with apply_env_file(args.env_file, restore=argv is not None):
            return handler()

    return _guard(call, args.debug)


def _guard(fn: Callable[[], int], debug: bool) -> int:
    try:
        return fn()
    except PipelineInvalid as exc:
        from .._display import shown  # problems quote values from files and inputs

        for problem in exc.problems:
            print(shown(str(problem)), file=sys.stderr)
        return exc.exit_code
    except HooklineError as exc:
        from .._display import shown

        print(f"error: {shown(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Interrupted as exc:
        print(f"interrupted by {exc.signal_name}", file=sys.stderr)
        return exit_code(exc.signal_name)
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:
        if debug:
            traceback.print_exc()
        print(
            f"hookline: internal error: {type(exc).__name__}: {exc}"
            + ("" if debug else " (run with --debug for the traceback; please report it)"),
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def _finish(code: int, argv: Sequence[str] | None) -> int:
    """Return ``code``; as a console script (no argv), exit now once the output is out."""
    if argv is not None:
        return code
    for stream in (sys.stdout, sys.stderr):
        # A closed pipe: nothing more can be said there.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``hookline``."""
    args = _parse(build_parser(), argv)
    return _finish(_handle(args, lambda: args.handler(args), argv), argv)


def run_pipeline_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``run-pipeline``: the same as ``hookline run``."""
    parser = _Parser(prog="run-pipeline", description=run.DESCRIPTION)
    add_globals(parser, top=True)
    run.add_arguments(parser)
    spread_globals(parser)
    parser.set_defaults(takes_db=True)
    args = _parse(parser, argv)
    return _finish(_handle(args, lambda: run.handle(args), argv), argv)
