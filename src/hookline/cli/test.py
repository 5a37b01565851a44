"""``hookline test [PATHS...]``: run pipelines' test cases offline (docs/testing.md).

Exit 0 every selected case passed, 1 a case failed, 2 an invalid test file or pipeline
(or a usage error), 5 no case was selected.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .._errors import PipelineInvalid, UsageError

EXIT_NO_TESTS = 5

DESCRIPTION = (
    "Run the test cases of pipelines offline: each step gets the answers its case gives, "
    "nothing is sent, no history is kept and no state is committed. PATHS are test files "
    "(*.test.yaml), pipelines (their test file is used) or directories (searched for "
    "*.test.yaml); default: the current directory. Exit 0 all passed, 1 a case failed, "
    "2 an invalid test file or pipeline, 5 no case selected."
)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("test", help="run pipelines' test cases offline", description=DESCRIPTION)
    p.add_argument("paths", nargs="*", metavar="PATH", help="test files, pipelines or directories")
    p.add_argument(
        "-k",
        dest="pattern",
        metavar="PATTERN",
        help="run only the cases whose name (or 'file: name') contains PATTERN",
    )
    p.add_argument("--format", choices=["text", "json"], default="text", help="output format")
    p.add_argument("--junit", metavar="FILE", help="also write a JUnit XML report to FILE")
    p.add_argument(
        "-v", "--verbose", action="store_true", help="show each case's run log (redacted)"
    )
    p.add_argument(
        "--record",
        action="store_true",
        help="run the selected cases once against the real services and write the answers "
        "their steps got into the test file, redacted",
    )
    p.add_argument(
        "--allow-writes",
        action="store_true",
        help="let --record send POST, PUT, PATCH and DELETE requests",
    )
    p.set_defaults(handler=handle)


def find_test_files(paths: list[str]) -> list[Path]:
    """Test files named or found under directories, in a stable order; a pipeline named
    directly stands for the test file beside it."""
    from .._discover import find_files
    from ..testing._names import SUFFIXES, is_test_file

    out: list[Path] = []
    for arg in paths or ["."]:
        p = Path(arg)
        if p.is_dir():
            out += find_files(p, is_test_file)
        elif is_test_file(p):
            out.append(p)
        elif p.suffix in (".yaml", ".yml"):
            beside = p.with_name(p.stem + SUFFIXES[0])
            if not beside.is_file():
                raise UsageError(f"{arg}: has no test file beside it ({beside.name})")
            out.append(beside)
        elif not p.exists():
            raise UsageError(f"{arg}: no such file or directory")
        else:
            raise UsageError(f"{arg}: is not a test file (*.test.yaml), a pipeline or a directory")
    return list(dict.fromkeys(out))


def handle(args: argparse.Namespace) -> int:
    return _handle(args)


def _handle(args: argparse.Namespace) -> int:
    from ..testing._assert import check_case
    from ..testing._load import load_test_file
    from ..testing._report import CaseReport, as_json, shown, summary, write_junit, write_text
    from ..testing._run import run_case

    if args.allow_writes and not args.record:
        raise UsageError("--allow-writes goes with --record")
    if args.junit:
        writable_report(args.junit)  # before any case runs: CI learns of a bad path at once
    started = time.monotonic()
    problems: list[str] = []
    reports: list[CaseReport] = []
    text = args.format == "text"
    invalid = 0
    for path in find_test_files(args.paths):
        try:
            tf = load_test_file(path)
        except PipelineInvalid as exc:
            invalid += 1
            problems += [str(p) for p in exc.problems]
            if text:
                for p in exc.problems:
                    print("\n".join(map(shown, str(p).split("\n"))), file=sys.stderr)
            continue
        name = str(path)
        cases = [c for c in tf.cases if _selected(args.pattern, name, c.name)]
        if args.record:
            from ..testing._record import record_cases

            reports += record_cases(tf, cases, allow_writes=args.allow_writes, out=sys.stdout)
            continue
        for case in cases:
            t0 = time.monotonic()
            run = run_case(tf, case)
            redactor = run.point.redactor if run.point is not None else None
            assert redactor is not None
            report = CaseReport(
                name, case.name, time.monotonic() - t0, check_case(case, run, redactor), run.log
            )
            if run.stopped is None and run.point is not None:
                report.notes = run.point.unused(list(case.own))
            reports.append(report)
            if text:
                write_text(sys.stdout, report, verbose=args.verbose)
                sys.stdout.flush()
    seconds = time.monotonic() - started
    if args.junit:
        try:
            write_junit(Path(args.junit), reports, problems)
        except OSError as exc:  # checked at the start, but the disk may have filled since
            raise UsageError(f"--junit {args.junit}: cannot write it: {exc.strerror}") from exc
    if text:
        print(summary(reports, invalid, seconds))
    else:
        sys.stdout.write(as_json(reports, problems, seconds))
    if invalid:
        return 2
    if not reports:
        print(
            "no test case selected" + (f" by -k {args.pattern!r}" if args.pattern else ""),
            file=sys.stderr,
        )
        return EXIT_NO_TESTS
    return 0 if all(r.passed for r in reports) else 1


def writable_report(path: str) -> None:
    """Create the report's parent folders (CI's common ``reports/junit.xml``) and make sure
    the file can be written, so that a bad path is a usage error before any case runs."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = (
            "a file stands where a folder is needed"
            if isinstance(exc, (FileExistsError, NotADirectoryError))
            else exc.strerror
        )
        raise UsageError(f"--junit {path}: cannot create its folder: {reason}") from exc
    if target.is_dir():
        raise UsageError(f"--junit {path}: is a directory; name a file, e.g. {path}/junit.xml")
    writable = (
        os.access(target, os.W_OK)
        if target.exists()
        else os.access(target.parent, os.W_OK | os.X_OK)
    )
    if not writable:
        raise UsageError(f"--junit {path}: cannot write it: permission denied")


def _selected(pattern: str | None, file: str, name: str) -> bool:
    if not pattern:
        return True
    return pattern.lower() in f"{file}: {name}".lower()
