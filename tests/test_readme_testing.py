"""README.md shows the first case of an example's test file: it must be that file's text,
so the README cannot drift from a test file that the suite runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_test_file_excerpt_is_the_real_file() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(
        r"```yaml fragment\n# (pipelines/\S+\.test\.yaml), its first case\n(.*?)```\n", readme, re.S
    )
    assert match, "README.md no longer shows a test file's first case"
    path, shown = match.groups()
    real = (ROOT / path).read_text(encoding="utf-8")
    assert shown.strip() and shown in real
