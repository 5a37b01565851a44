"""``hookline schema``: print the pipeline JSON Schema (or, with --tests, the schema of
pipelines' test files)."""

from __future__ import annotations

import argparse
import sys

from .._schema import dumps, schema


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "schema",
        help="print the pipeline JSON Schema",
        description="Print the JSON Schema (Draft 2020-12) that pipeline files follow.",
    )
    p.add_argument(
        "--tests",
        action="store_true",
        help="print the schema of test files (*.test.yaml, docs/testing.md) instead",
    )
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    if getattr(args, "tests", False):
        from ..testing._schema import schema as test_schema

        sys.stdout.write(dumps(test_schema()))
        return 0
    sys.stdout.write(dumps(schema()))
    return 0
