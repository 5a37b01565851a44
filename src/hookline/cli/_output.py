"""``--output FILE``: the run's output written to a file, whole or not at all.

The text goes to a temporary file beside FILE, is flushed to disk, then renamed over
FILE: a reader (a cron job's next step, a web server) sees the old file or the new one,
never half of one. A run that fails writes nothing and leaves FILE as it was, so the
last good output stays in place; the exit code says the run failed.

The path is checked before the first step (``check_output``): a missing or read-only
folder is a usage error (exit 2) while nothing has been sent yet, not a surprise once
every request went out. The new file keeps the mode of the file it replaces (a file
another process reads keeps being readable), and a new file gets the umask's mode, as
``>`` in a shell would give it.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from .._errors import UsageError

__all__ = ["check_output", "write_output"]


def check_output(path: str) -> None:
    """Raise UsageError unless ``path`` names a file that can be written in a folder that
    exists; called before the run sends anything."""
    target = Path(path)
    folder = target.parent
    if not folder.exists():
        raise UsageError(f"--output {path}: the folder {str(folder)!r} does not exist")
    if not folder.is_dir():
        raise UsageError(f"--output {path}: {str(folder)!r} is not a folder")
    if target.is_dir():
        raise UsageError(f"--output {path}: is a folder; name a file in it")
    # The file is replaced by a rename, so it is the folder that must be writable.
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"--output {path}: the folder {str(folder)!r} is not writable")


def write_output(path: str, text: str) -> None:
    """Replace ``path`` with ``text`` atomically; OSError if it cannot be written."""
    target = Path(path)
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)  # keep what the user chose
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, mode)  # mkstemp makes 0600, private to us
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _umask() -> int:
    # The only portable way to read the umask is to set it; a CLI run has one thread here.
    mask = os.umask(0o077)
    os.umask(mask)
    return mask
