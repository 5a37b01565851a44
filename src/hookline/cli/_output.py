"""``--output FILE``: the run's output written to a file, whole or not at all.

The text goes to a temporary file beside FILE, is flushed to disk, then renamed over
FILE: a reader (a cron job's next step, a web server) sees the old file or the new one,
never half of one. A run that fails writes nothing and leaves FILE as it was, so the
last good output stays in place; the exit code says the run failed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["write_output"]


def write_output(path: str, text: str) -> None:
    """Replace ``path`` with ``text`` atomically; OSError if it cannot be written."""
    target = Path(path)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
