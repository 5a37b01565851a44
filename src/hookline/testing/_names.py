"""How a test file is named: what ``check``, ``serve`` and ``cron`` must not take for a
pipeline. Imports nothing, so that those commands pay nothing for asking."""

from __future__ import annotations

import os

SUFFIXES = (".test.yaml", ".test.yml")


def is_test_file(path: str | os.PathLike[str]) -> bool:
    """True for ``orders.test.yaml``: a pipeline's test file (docs/testing.md)."""
    return os.fspath(path).endswith(SUFFIXES)
