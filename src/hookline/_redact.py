"""Redaction: secret values never leave hookline in clear, in any common encoding.

Every text that goes to a log line, an error message, the run history or stdout passes
through ``Redactor.text`` (or ``Redactor.value`` for JSON-like data). Values are known at
start (declared secrets) and learned during a run (an OAuth2 token, a basic-auth header).
"""

from __future__ import annotations

import base64
import json
import re
import threading
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
_MIN_LENGTH = 4  # shorter values would mask ordinary words; they are refused at load


def variants(secret: str) -> set[str]:
    """The forms a secret takes on the wire and in logs."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret), quote(secret)}
    raw = secret.encode()
    for enc in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        text = enc.decode()
        forms.add(text)
        forms.add(text.rstrip("="))
    forms.add(json.dumps(secret)[1:-1])  # as it appears inside a JSON string
    return {f for f in forms if len(f) >= _MIN_LENGTH}


class Redactor:
    """Replaces every known secret form with ``***``. Thread-safe; cheap when empty."""

    def __init__(self, secrets: list[str] | tuple[str, ...] = ()) -> None:
        self._lock = threading.Lock()
        self._forms: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._longest = 0  # length of the longest form, for clip()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        """Learn a value to hide (and its encodings), e.g. a token obtained at run time."""
        if not secret or len(secret) < _MIN_LENGTH:
            return
        with self._lock:
            new = variants(secret) - self._forms
            if not new:
                return
            self._forms |= new
            self._longest = max(len(f) for f in self._forms)
            # Longest first, so that a whole encoded form wins over a part of it.
            ordered = sorted(self._forms, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(f) for f in ordered))

    def text(self, text: str) -> str:
        pattern = self._pattern
        return pattern.sub(MASK, text) if pattern is not None else text

    def clip(self, text: str, limit: int) -> str:
        """``text`` redacted, then cut to at most ``limit`` characters (plus a note of the
        original length). Redaction comes first so that no part of a secret survives a cut:
        only a prefix long enough to hold any secret form starting before ``limit`` is
        redacted, so clipping a huge text costs no more than clipping a short one."""
        head = text[: limit + self._longest]
        shown = self.text(head)
        if len(head) == len(text) and len(shown) <= limit:
            return shown
        return f"{shown[:limit]}… (truncated: {len(text)} characters in all)"

    def value(self, value: Any) -> Any:
        """A copy of JSON-like data with every secret form masked (keys included)."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value
