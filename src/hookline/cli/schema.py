"""``hookline schema``: print the pipeline JSON Schema."""

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
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    sys.stdout.write(dumps(schema()))
    return 0
