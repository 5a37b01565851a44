"""The options every command takes, in any position, and the env file they name.

``hookline --debug runs show ID``, ``hookline runs --debug show ID`` and ``hookline runs
show ID --debug`` are the same command line. argparse alone does not do that: a
subcommand's parser sets its own defaults over what its parent parsed, so ``runs --db X
show ID`` used to lose ``X``. Here every option a parser shares with a parser above it
defaults to "not given" (``SUPPRESS``), so the value given at any level survives, and
the global options are added to every parser.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["COMMON_HELP", "add_globals", "apply_env_file", "spread_globals", "walk"]

# Help for options several commands share, worded once; a command may give its own.
COMMON_HELP = {
    "--db": "run history database (default hookline.db in the hookline home; see "
    "docs/running.md#run-history)",
    "--log-format": "the log on stderr: text (default) or json (one JSON object a line)",
    "--format": "text (default) or json",
    "--verbose": "log requests and responses",
    "--quiet": "log errors only",
}


class _Version(argparse.Action):
    """``--version``: the version is looked up only when asked for."""

    def __init__(self, option_strings: list[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        from .. import __version__

        print(f"{parser.prog} {__version__}")  # on stdout, as argparse's own version action
        parser.exit(0)


def add_globals(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """The global options; on a subcommand's parser they default to "not given"."""
    suppress = {} if top else {"default": argparse.SUPPRESS}
    options = {s for a in parser._actions for s in a.option_strings}
    if top:
        parser.add_argument("--version", action=_Version, help="print hookline's version and exit")
    if "--debug" not in options:
        parser.add_argument(
            "--debug",
            action="store_true",
            help="show the traceback of an internal error",
            **suppress,  # type: ignore[arg-type]
        )
    if "--env-file" not in options:
        parser.add_argument(
            "--env-file",
            metavar="FILE",
            help="read environment variables from a dotenv file (NAME=VALUE lines); the "
            "process environment wins over it (docs/running.md#env-files)",
            **({"default": None} if top else suppress),  # type: ignore[arg-type]
        )


def walk(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """``parser`` and every subcommand parser under it, each once."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen: set[int] = set()
            for child in action.choices.values():
                if id(child) not in seen:  # aliases map several names to one parser
                    seen.add(id(child))
                    yield from walk(child)


def spread_globals(parser: argparse.ArgumentParser, above: frozenset[str] = frozenset()) -> None:
    """Add the global options under ``parser``, let an option given at any level win, and
    give shared options their common help."""
    own = frozenset(d for a in parser._actions if a.option_strings for d in a.option_strings)
    for action in parser._actions:
        if action.option_strings and action.help is None:
            for name in action.option_strings:
                if name in COMMON_HELP:
                    action.help = COMMON_HELP[name]
        if action.option_strings and set(action.option_strings) & above:
            action.default = argparse.SUPPRESS
        if isinstance(action, argparse._SubParsersAction):
            seen: set[int] = set()
            for child in action.choices.values():
                if id(child) in seen:
                    continue
                seen.add(id(child))
                add_globals(child, top=False)
                spread_globals(child, above | own)


def _given(environ: dict[str, str], name: str) -> bool:
    """Whether the process environment already sets ``name``, or the other half of its
    secret pair: a secret is NAME or NAME_FILE, and when the process names either one,
    the file's NAME or NAME_FILE must not take over from it (NAME is read first)."""
    base = name.removesuffix("_FILE")
    return any(environ.get(n) for n in (name, base, f"{base}_FILE", f"{name}_FILE"))


@contextlib.contextmanager
def apply_env_file(path: str | None, *, restore: bool) -> Iterator[None]:
    """Set, for this process, each variable of the env file that the environment leaves
    unset or empty (the process environment wins, also over a secret's NAME_FILE). A
    relative ``HOOKLINE_HOME`` in the file is relative to the file's folder, so a
    project's home is found from anywhere.
    ``restore``: put the environment back afterwards (tests and embedding call ``main``
    in-process)."""
    if path is None:
        yield
        return
    from .._envfile import read_env_file

    values = read_env_file(path)
    home = values.get("HOOKLINE_HOME")
    if home and not os.path.isabs(home):
        values["HOOKLINE_HOME"] = str(Path(path).resolve().parent / home)
    saved = dict(os.environ)
    for name, value in values.items():
        if not _given(saved, name):
            os.environ[name] = value
    try:
        yield
    finally:
        if restore:
            os.environ.clear()
            os.environ.update(saved)
