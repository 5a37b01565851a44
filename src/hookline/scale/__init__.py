"""The distributed mode: Celery carries the work, PostgreSQL keeps the record, Redis
coordinates (leases, the leader, the shared rate limit). See docs/deploy.md.

Nothing here is imported unless a broker, database or Redis URL is configured, and the
third-party packages (celery, kombu, redis, psycopg, psycopg_pool) only inside this
package's modules: ``run-pipeline`` and the embedded ``serve`` never load them.
Commands call ``require_extra()`` before importing the rest of the package.
"""

from __future__ import annotations

import importlib.util
import sys

from .._errors import UsageError

__all__ = ["EXTRA_MISSING", "require_extra"]

#: The one line a command prints (exit 2) when a URL is set and the extra is not there.
EXTRA_MISSING = "distributed mode needs the scale extra: pip install 'hookline[scale]'"

_PACKAGES = ("celery", "kombu", "redis", "psycopg", "psycopg_pool")


def require_extra() -> None:
    """UsageError (exit 2, one line) when a package of the scale extra is missing.

    find_spec, not an import: the check must not load celery where it is not used. A
    name set to None in sys.modules (how an import is blocked) counts as missing."""
    for name in _PACKAGES:
        if name in sys.modules:  # imported already (present), or blocked (None)
            if sys.modules[name] is None:
                raise UsageError(EXTRA_MISSING)
            continue
        try:
            missing = importlib.util.find_spec(name) is None
        except (ImportError, ValueError):  # a broken install
            missing = True
        if missing:
            raise UsageError(EXTRA_MISSING)
