"""Where hookline keeps its own files (run history, validated-files cache).

``$HOOKLINE_HOME`` when set (a relative value such as ``.hookline`` keeps one home per
project directory), else the platform's per-user state directory. It never depends on
the current directory by default: a cron job and an interactive shell must find the same
history.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

APP = "hookline"


def default_home(env: Mapping[str, str] | None = None, platform: str | None = None) -> Path:
    """The hookline home: ``$HOOKLINE_HOME``, else the user state directory."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if env.get("HOOKLINE_HOME"):
        return Path(env["HOOKLINE_HOME"])
    user_home = Path(env.get("HOME") or env.get("USERPROFILE") or Path.home())
    if platform == "win32":
        local = env.get("LOCALAPPDATA")
        return (Path(local) if local else user_home / "AppData" / "Local") / APP
    if platform == "darwin":
        return user_home / "Library" / "Application Support" / APP
    # XDG: a relative XDG_STATE_HOME is invalid and must be ignored.
    state = env.get("XDG_STATE_HOME", "")
    base = Path(state) if os.path.isabs(state) else user_home / ".local" / "state"
    return base / APP


def default_db(env: Mapping[str, str] | None = None) -> Path:
    """The run history database in the hookline home."""
    return default_home(env) / "hookline.db"
