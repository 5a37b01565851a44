"""OAuth2 client credentials: one cached token per connection, refreshed before it
expires or when the API answers 401."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from .._errors import ConnectorError
from .._jsonsafe import loads
from .._redact import Redactor
from ._transport import Failure

if TYPE_CHECKING:
    from ._http import HttpClient

EARLY = 30.0  # refresh this many seconds before the token says it expires
MIN_TOKEN = 4  # characters: the shortest value the redactor masks


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "object" if isinstance(value, dict) else "array"


class TokenSource:
    def __init__(self, client: HttpClient, config: dict[str, Any], redactor: Redactor) -> None:
        self.client = client  # the token request gets none of the connection's credentials
        self.config = config
        self.redactor = redactor
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()

    def token(self, step_id: str) -> str:
        with self._lock:
            if self._token is None or time.monotonic() >= self._expires:
                self._fetch(step_id)
            assert self._token is not None
            return self._token

    def invalidate(self, used: str) -> None:
        """The API refused ``used``: forget it (unless another thread already refreshed)."""
        with self._lock:
            if self._token == used:
                self._token = None

    def _fetch(self, step_id: str) -> None:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.config["client_id"],
            "client_secret": self.config["client_secret"],
        }
        for key in ("scope", "audience"):
            if self.config.get(key):
                form[key] = self.config[key]
        url = self.config["token_url"]
        shown = self.redactor.text(url.split("?")[0])
        try:
            answer = self.client.post_form(step_id, url, form)
        except Failure as exc:
            raise ConnectorError(
                step_id, f"OAuth2 token request to {shown} failed: {exc.reason}"
            ) from exc
        if answer.status != 200:
            raise ConnectorError(
                step_id,
                f"OAuth2 token request to {shown} answered {answer.status}: "
                f"{self.redactor.clip(answer.text, 200)}",
            )
        try:
            data = loads(answer.content)
            token = data["access_token"]
        except (ValueError, KeyError, TypeError):
            raise ConnectorError(
                step_id, f"OAuth2 token response from {shown} has no access_token"
            ) from None
        if not isinstance(token, str):  # str() would send a Python repr as the token
            raise ConnectorError(
                step_id,
                f"OAuth2 token response from {shown} has an access_token that is not a "
                f"string (a JSON {_json_type(token)})",
            )
        if len(token.strip()) < MIN_TOKEN:  # the redactor cannot mask a shorter value
            raise ConnectorError(
                step_id,
                f"OAuth2 token response from {shown} has an access_token shorter than "
                f"{MIN_TOKEN} characters, too short to keep out of logs; refused",
            )
        self.redactor.add(token)
        lifetime = data.get("expires_in")
        # min() before float(): an integer too big for a float must not crash the run
        lifetime = float(min(lifetime, 1e9)) if isinstance(lifetime, int | float) else 3600.0
        self._token = token
        self._expires = time.monotonic() + max(0.0, lifetime - EARLY)
