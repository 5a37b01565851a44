"""Which files a command finds under a directory it is given.

``hookline check DIR`` and ``hookline test DIR`` search the same way: hidden files and
folders (a name starting with ``.``: ``.git``, ``.venv``, ``.pre-commit-config.yaml``,
``.github/workflows``) and dependency trees are left out, since a project's own files are
what is meant and a tool's configuration is YAML too. A file named on the command line
is always used, hidden or not. Links to folders are not followed (a loop, or a tree
outside the project).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

__all__ = ["SKIPPED_DIRS", "find_files"]

SKIPPED_DIRS = frozenset({"node_modules", "__pycache__", "site-packages"})
"""Folders of installed dependencies, never searched."""


def find_files(root: Path, wanted: Callable[[Path], bool]) -> list[Path]:
    """The regular files under ``root`` that ``wanted`` accepts, sorted, leaving out
    hidden files and folders and dependency trees below ``root`` (``root`` itself is
    searched even when its name starts with ``.``: it was named)."""
    found: list[Path] = []
    for here, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in SKIPPED_DIRS]
        found += [Path(here) / n for n in names if not n.startswith(".")]
    return sorted(f for f in found if wanted(f) and f.is_file())
