"""Which YAML files are hookline's: for ``hookline check --skip-non-pipelines``.

A pre-commit hook hands ``check`` every changed YAML file: CI workflows, compose files,
data. Those are skipped with a note; a pipeline never may be, broken or not. So a file
is taken for hookline's (and checked in full) when any one of these holds, each of which
a pipeline keeps through almost any mistake:

- its name ends in ``.test.yaml`` or ``.test.yml`` (a pipeline's test file);
- it has ``version: 1`` at the top level (every pipeline must: the schema requires it);
- a ``# yaml-language-server: $schema=`` modeline names hookline's schema (``hookline
  init`` and every example write one);
- it has a top-level ``steps:`` key.

The test is on the text, line by line, so a file YAML cannot even parse is still taken
for a pipeline when it shows one of these, and reported.
"""

from __future__ import annotations

import re

from .testing._names import is_test_file

__all__ = ["NOT_A_PIPELINE", "is_hookline_file", "is_hookline_path"]

_VERSION = re.compile(rb"""^(?:\{\s*)?["']?version["']?\s*:\s*["']?1(?![0-9.])""", re.M)
_MODELINE = re.compile(rb"\$schema=\S*pipeline(-test)?\.schema\.json")
_STEPS = re.compile(rb"""^(?:\{\s*)?["']?steps["']?\s*:""", re.M)

NOT_A_PIPELINE = (
    "not a hookline pipeline (no top-level 'version: 1' or 'steps:', no hookline $schema "
    "modeline): skipped"
)


def is_hookline_file(path: str, raw: bytes) -> bool:
    """True when ``raw`` (the bytes of ``path``) is to be checked as hookline's."""
    if is_test_file(path):
        return True
    return bool(_VERSION.search(raw) or _MODELINE.search(raw) or _STEPS.search(raw))


def is_hookline_path(path: str) -> bool:
    """``is_hookline_file`` on the file at ``path``; a file that cannot be read is kept, so
    that ``check`` reports why."""
    from ._load import MAX_PIPELINE_BYTES

    try:
        with open(path, "rb") as source:
            raw = source.read(MAX_PIPELINE_BYTES + 1)
    except OSError:
        return True
    return is_hookline_file(path, raw)
