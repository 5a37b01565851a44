"""Identifiers, encodings and digests: uuid, base64, URL encoding, SHA-256, HMAC."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, quote_plus

from jmespath.functions import signature

from ._fnbase import FunctionValueError, clip, type_name

__all__ = ["EncodingFunctions"]


def _form_value(function_name: str, key: str, value: object) -> str:
    """The text of one scalar for a form-encoded query string."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    raise FunctionValueError(
        function_name,
        f"cannot form-encode the {type_name(value)} under key {key!r} "
        "(values may be strings, numbers, booleans, null or arrays of those)",
    )


class EncodingFunctions:
    """Mixed into ``HooklineFunctions``."""

    @signature()
    def _func_uuid(self) -> str:
        """A new random UUID (version 4), lower-case with hyphens."""
        import uuid  # imports platform: 5 ms of every run's start-up that only this needs

        return str(uuid.uuid4())

    @signature({"types": ["string"]})
    def _func_base64_encode(self, text: str) -> str:
        """Base64 (standard alphabet, padded) of the string's UTF-8 bytes."""
        import base64  # base64, hashlib and hmac load when a pipeline uses them

        return base64.b64encode(text.encode("utf-8")).decode("ascii")

    @signature({"types": ["string"]})
    def _func_base64_decode(self, text: str) -> str:
        """Decode base64 (standard or URL-safe, padding optional) to UTF-8 text."""
        data = "".join(text.split()).translate(str.maketrans("-_", "+/"))
        data += "=" * (-len(data) % 4)
        import base64
        import binascii

        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise FunctionValueError(
                "base64_decode", f"{clip(text)!r} is not valid base64"
            ) from None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise FunctionValueError(
                "base64_decode", f"{clip(text)!r} does not decode to UTF-8 text"
            ) from None

    @signature({"types": ["string", "object"]})
    def _func_url_encode(self, value: str | dict[str, Any]) -> str:
        """Percent-encode a string, or form-encode an object as a query string."""
        if isinstance(value, str):
            return quote(value, safe="")
        pairs: list[str] = []
        for key, item in value.items():
            name = quote_plus(key, safe="")
            for element in item if isinstance(item, list) else [item]:
                text = _form_value("url_encode", key, element)
                pairs.append(f"{name}={quote_plus(text, safe='')}")
        return "&".join(pairs)

    @signature({"types": ["string"]})
    def _func_sha256(self, text: str) -> str:
        """Lower-case hex SHA-256 digest of the string's UTF-8 bytes."""
        import hashlib  # 3 ms of OpenSSL set-up: a run that hashes nothing skips it

        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    @signature({"types": ["string"]}, {"types": ["string"]})
    def _func_hmac_sha256(self, key: str, message: str) -> str:
        """Lower-case hex HMAC-SHA256 of ``message`` under ``key`` (both UTF-8)."""
        import hashlib
        import hmac

        return hmac.new(key.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()
