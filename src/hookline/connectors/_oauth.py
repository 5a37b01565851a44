"""OAuth2 client credentials: one cached token per connection, refreshed before it
expires or when the API answers 401."""

from __future__ import annotations

import threading
import time
from typing import Any

import requests

from .._errors import ConnectorError
from .._redact import Redactor

EARLY = 30.0  # refresh this many seconds before the token says it expires


class TokenSource:
    def __init__(
        self,
        session: requests.Session,
        config: dict[str, Any],
        redactor: Redactor,
        timeout: float,
        verify: bool | str,
    ) -> None:
        self.session = session
        self.config = config
        self.redactor = redactor
        self.timeout = timeout
        self.verify = verify
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
        try:
            resp = self.session.post(url, data=form, timeout=self.timeout, verify=self.verify)
        except requests.RequestException as exc:
            raise ConnectorError(
                step_id, f"OAuth2 token request to {url} failed: {type(exc).__name__}"
            ) from exc
        if resp.status_code != 200:
            raise ConnectorError(
                step_id,
                f"OAuth2 token request to {url} answered {resp.status_code}: "
                f"{self.redactor.text(resp.text[:200])}",
            )
        try:
            data = resp.json()
            token = str(data["access_token"])
        except (ValueError, KeyError, TypeError):
            raise ConnectorError(
                step_id, f"OAuth2 token response from {url} has no access_token"
            ) from None
        self.redactor.add(token)
        lifetime = data.get("expires_in")
        lifetime = float(lifetime) if isinstance(lifetime, int | float) else 3600.0
        self._token = token
        self._expires = time.monotonic() + max(0.0, lifetime - EARLY)
