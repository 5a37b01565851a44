"""``hookline check FILE|DIR...``: validate pipelines without running anything.

Files that passed are remembered in the hookline home (``_checkcache``): re-checking one
that has not changed, nor has any file it refers to, costs a hash, not a parse.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Generator
from pathlib import Path
from typing import Any

from .._checkcache import CheckCache
from .._discover import find_files
from .._errors import HooklineError, PipelineInvalid, Problem
from .._home import default_home
from .._load import load_checked, read_source
from ..testing._names import is_test_file
from ._check_parallel import default_jobs, pick_warm_up, run_parallel, workers_for


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "check",
        help="validate pipeline files",
        description="Validate pipeline files (every *.yaml and *.yml under a directory). "
        "Exit 0 when all are valid, 2 when any is not.",
    )
    p.add_argument(
        "paths", nargs="+", metavar="FILE|DIR", help="pipeline files, or folders to search"
    )
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument(
        "--strict",
        action="store_true",
        help="fail (exit 2) on warnings too: what runs but likely not as meant",
    )
    p.add_argument(
        "--online",
        action="store_true",
        help="also check against what connections fetch: WSDL URLs, GraphQL introspection",
    )
    p.add_argument(
        "--no-cache",
        action="store_true",
        help="check every file in full, even one that passed before and has not changed "
        "(passes are remembered in the hookline home, $HOOKLINE_HOME)",
    )
    p.add_argument(
        "--jobs",
        type=_jobs,
        default=0,
        metavar="N",
        help="check files in N processes at once (default: one per CPU; 1: in this process "
        "only). Used only with enough files to pay for it",
    )
    p.add_argument(
        "--skip-non-pipelines",
        action="store_true",
        help="skip, with a note, YAML files that are not hookline pipelines or test files "
        "(for pre-commit, which passes every changed YAML file; the rule is in "
        "docs/running.md#pre-commit)",
    )
    p.set_defaults(handler=handle)


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of processes (1 or more)")
    return value


def expand(paths: list[str]) -> tuple[list[str], list[str]]:
    """Files as given and every *.yaml / *.yml under each directory, sorted; and what
    could not be used (the rest are still checked)."""
    files: list[str] = []
    unusable: list[str] = []
    for arg in paths:
        p = Path(arg)
        if p.is_dir():
            # Hidden files (.pre-commit-config.yaml) and dependency trees are left out,
            # as hookline test leaves them out; a file named is always checked.
            found = sorted(str(f) for f in find_files(p, lambda f: f.suffix in (".yaml", ".yml")))
            if not found:
                unusable.append(f"{arg}: no *.yaml or *.yml files in this directory")
            files.extend(found)
        elif p.exists():
            files.append(arg)
        else:
            unusable.append(f"{arg}: no such file or directory")
    return files, unusable


def check_file(path: str, online: bool = False, cache: CheckCache | None = None) -> list[Problem]:
    """Every problem in one file (empty when it is valid)."""
    raw = _read(path)
    if isinstance(raw, list):
        return raw
    if cache is not None and cache.passed(path, raw):
        return []
    problems, entry = check_source(path, raw, online, cache)
    if cache is not None and entry is not None:
        cache.write(path, raw, entry)
        cache.flush()
    return problems


def _read(path: str) -> bytes | list[Problem]:
    try:
        return read_source(path)
    except HooklineError as exc:  # unreadable, too large, not a regular file
        return [Problem(path, 1, 1, str(exc).removeprefix(f"{path}: "))]


def check_source(
    path: str, raw: bytes, online: bool, cache: CheckCache | None
) -> tuple[list[Problem], dict[str, Any] | None]:
    """The problems in ``raw`` (the bytes of ``path``), and what the cache should remember
    of it (None when it did not pass, or without a cache)."""
    if is_test_file(path):  # a pipeline's test file: checked against its own schema
        from ..testing._load import file_problems

        return file_problems(path, raw), None
    parsed: list[Any] = []
    opened = cache.start() if cache is not None else set()
    problems: list[Problem] = []
    warnings: list[Problem] = []
    try:
        load_checked(path, raw, online, parsed=parsed.append, warnings=warnings)
    except PipelineInvalid as exc:
        problems = exc.problems
    except HooklineError as exc:
        problems = [Problem(path, 1, 1, str(exc).removeprefix(f"{path}: "))]
    finally:
        if cache is not None:
            cache.stop()
    # Warnings are listed with the errors, in file order; a file with warnings is not
    # remembered as passed, so that every check shows them again.
    problems = sorted([*problems, *warnings])
    if cache is None:
        return problems, None
    data = parsed[0] if parsed else None
    return problems, cache.entry(path, data, opened, ok=not problems)


def check_all(
    files: list[str], online: bool, cache: CheckCache | None, jobs: int
) -> dict[str, list[Problem]]:
    """Every file's problems, in the order of ``files``; files not already passed in the
    cache are checked on ``jobs`` cores when there are enough of them."""
    results: dict[str, list[Problem]] = {}
    todo: list[tuple[str, bytes]] = []
    for path in files:
        if path in results:
            continue
        raw = _read(path)
        results[path] = raw if isinstance(raw, list) else []
        if not isinstance(raw, list) and not (cache is not None and cache.passed(path, raw)):
            todo.append((path, raw))

    def job(index: int) -> tuple[list[Problem], dict[str, Any] | None]:
        return check_source(*todo[index], online, cache)

    workers = workers_for(len(todo), jobs)
    checked: Generator[tuple[list[Problem], dict[str, Any] | None], None, None]
    if workers:
        warm_up = pick_warm_up([raw for _, raw in todo])
        checked = run_parallel(len(todo), job, workers, warm_up)
    else:
        checked = (job(index) for index in range(len(todo)))
    # Closed on the way out, even on Ctrl-C: closing stops the worker processes, which the
    # prompt exit of the command line (os._exit) would otherwise leave behind.
    with contextlib.closing(checked):
        for (path, raw), (problems, entry) in zip(todo, checked, strict=True):
            results[path] = problems
            if cache is not None and entry is not None:
                cache.write(path, raw, entry)
    return results


def handle(args: argparse.Namespace) -> int:
    files, unusable = expand(args.paths)
    if args.skip_non_pipelines:
        from .._recognise import NOT_A_PIPELINE, is_hookline_path

        skipped = [f for f in files if not is_hookline_path(f)]
        for name in skipped:
            print(f"note: {name}: {NOT_A_PIPELINE}", file=sys.stderr)
        files = [f for f in files if f not in set(skipped)]
    # --online answers depend on what servers say today: never remembered.
    cache = None if args.no_cache or args.online else CheckCache(default_home())
    # --online fetches each WSDL and introspection once per process: in one process only.
    jobs = 1 if args.online else args.jobs or default_jobs()
    try:
        results = check_all(files, args.online, cache, jobs)
    finally:
        if cache is not None:
            cache.close()  # the last batch of passes
    bad = {p: probs for p, probs in results.items() if any(not x.warning for x in probs)}
    warned = sum(1 for probs in results.values() for x in probs if x.warning)
    failed = bool(bad or unusable or (args.strict and warned))
    if args.format == "json":
        report = {
            "valid": not bad and not unusable,
            "files": [
                {
                    "file": p,
                    "valid": p not in bad,
                    "problems": [x.as_dict() for x in probs],
                }
                for p, probs in results.items()
            ],
            "errors": unusable,
        }
        print(json.dumps(report, indent=2))
    else:
        for probs in results.values():
            for problem in probs:
                print(problem)
        for message in unusable:
            print(f"error: {message}", file=sys.stderr)
        count = sum(1 for p in bad.values() for x in p if not x.warning)
        summary = f"{len(results)} file{'s' if len(results) != 1 else ''} checked: " + (
            f"{count} problem{'s' if count != 1 else ''} in {len(bad)}" if bad else "all valid"
        )
        if warned:
            summary += f", {warned} warning{'s' if warned != 1 else ''}"
        if not results:  # "0 files checked: all valid" read as a success
            summary = "no file checked"
        if unusable:
            summary += f"; {len(unusable)} path{'s' if len(unusable) != 1 else ''} not checked"
        print(summary, file=sys.stderr)
    return 2 if failed else 0
