"""What a ``hookline.run`` message may carry: one delivery id, as the intake makes them.

Anyone who can write to the broker can send the worker a message, so its arguments are
checked before they reach the database. A delivery id is always a ``new_run_id()``
value (serve's intake, replay, the scheduler): 32 lowercase hexadecimal digits. Anything
else (no argument, two, keyword arguments, a number, a NUL byte, a lone surrogate, five
megabytes of text) is no message of ours: the worker says so in one line, without
quoting it (it may be long, hold control characters or a secret), and acknowledges it,
or it would come back for ever.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["delivery_id", "refusal"]

_ID = re.compile(r"[0-9a-f]{32}")
_ID_LENGTH = 32


def delivery_id(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    """The delivery id the message names, or None when it is not a message of ours."""
    if len(args) != 1 or kwargs:
        return None
    value = args[0]
    # The length first: a huge text is refused without running the pattern over it.
    if not isinstance(value, str) or len(value) != _ID_LENGTH or not _ID.fullmatch(value):
        return None
    return value


def refusal(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """The log line for a message ``delivery_id`` refused: what was wrong, never the
    value itself."""
    if kwargs:
        what = f"keyword arguments ({len(kwargs)})"
    elif not args:
        what = "no argument"
    elif len(args) > 1:
        what = f"{len(args)} arguments"
    elif isinstance(args[0], str):
        what = f"a text of {len(args[0])} characters"
    else:
        what = f"a value of type {type(args[0]).__name__}"
    return (
        f"a message for hookline.run with {what}, not a delivery id (32 lowercase "
        "hexadecimal digits): ignored"
    )
