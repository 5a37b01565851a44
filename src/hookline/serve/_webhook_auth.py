"""Who may deliver a webhook: an HMAC signature of the body, or a shared token.

Every comparison is constant-time (``hmac.compare_digest``) so that the time of a refusal
tells an attacker nothing about how much of a guess was right. A refusal says what was
wrong in general words (missing, malformed, not matching, stale) and never echoes the
header, the expected value or the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..triggers.webhook import DEFAULT_TOLERANCE

# A Stripe-Signature header may carry several v1 signatures (while a secret is rolled);
# past this many it is not a real one, and each costs an HMAC comparison.
MAX_STRIPE_SIGNATURES = 8


class Refused(Exception):
    """The request is not from the sender: answer 401 and store nothing."""


@dataclass(frozen=True)
class Signature:
    """HMAC-SHA256 of the raw body, as GitHub (or any sender with a header and prefix)
    sends it: ``<header>: <prefix><hex digest>``."""

    secret: bytes
    header: str = "X-Hub-Signature-256"
    prefix: str = "sha256="

    def verify(self, headers: Mapping[str, str], body: bytes, now: float) -> None:
        value = headers.get(self.header.lower())
        if value is None:
            raise Refused(f"the {self.header} header is missing")
        if not value.startswith(self.prefix):
            raise Refused(f"the {self.header} header is not '{self.prefix}<hex digest>'")
        expected = hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        given = value[len(self.prefix) :].strip().lower()
        if not hmac.compare_digest(expected.encode(), given.encode("ascii", "replace")):
            raise Refused(f"the {self.header} signature does not match the body")


@dataclass(frozen=True)
class StripeSignature:
    """Stripe's ``Stripe-Signature: t=<unix time>,v1=<hex>[,v1=...]``: HMAC-SHA256 of
    ``"<t>.<body>"``, refused when ``t`` is further than ``tolerance`` seconds from now
    (a captured request replayed later)."""

    secret: bytes
    header: str = "Stripe-Signature"
    tolerance: float = DEFAULT_TOLERANCE

    def verify(self, headers: Mapping[str, str], body: bytes, now: float) -> None:
        value = headers.get(self.header.lower())
        if value is None:
            raise Refused(f"the {self.header} header is missing")
        stamp: str | None = None
        signatures: list[str] = []
        for part in value.split(",")[: MAX_STRIPE_SIGNATURES + 4]:
            key, _, item = part.strip().partition("=")
            if key == "t":
                stamp = item
            elif key == "v1":
                signatures.append(item.lower())
        # isascii: str.isdigit() also takes '²' or '٣', which int() then refuses or reads.
        if stamp is None or not _digits(stamp) or len(stamp) > 12 or not signatures:
            raise Refused(f"the {self.header} header is not 't=<time>,v1=<hex digest>'")
        if abs(now - int(stamp)) > self.tolerance:
            raise Refused(
                f"the {self.header} timestamp is more than {self.tolerance:g}s from now "
                "(a replayed or delayed request)"
            )
        expected = hmac.new(self.secret, stamp.encode() + b"." + body, hashlib.sha256)
        digest = expected.hexdigest().encode()
        matched = False
        for given in signatures[:MAX_STRIPE_SIGNATURES]:
            # Every one is compared, even after a match: the time does not depend on which.
            matched |= hmac.compare_digest(digest, given.encode("ascii", "replace"))
        if not matched:
            raise Refused(f"the {self.header} signature does not match the body")


@dataclass(frozen=True)
class Token:
    """A shared token in a header; in ``Authorization`` it is written ``Bearer TOKEN``."""

    secret: bytes
    header: str = "Authorization"

    def verify(self, headers: Mapping[str, str], body: bytes, now: float) -> None:
        value = headers.get(self.header.lower())
        if value is None:
            raise Refused(f"the {self.header} header is missing")
        if self.header.lower() == "authorization":
            scheme, _, value = value.partition(" ")
            if scheme.lower() != "bearer":
                raise Refused("the Authorization header is not 'Bearer <token>'")
        # The header's bytes as sent (latin-1 gives them back one for one) against the
        # secret's UTF-8 bytes: a non-ASCII token sent as UTF-8 matches.
        given = value.strip(" \t").encode("latin-1", "replace")
        if not hmac.compare_digest(self.secret, given):
            raise Refused(f"the {self.header} token is not the expected one")


Check = Signature | StripeSignature | Token


def missing(checks: tuple[Check, ...], headers: Mapping[str, str]) -> str | None:
    """Why the request cannot pass, known from its headers alone (a signature or token
    header missing), so that it is refused before its body is read; else None."""
    for check in checks:
        if check.header.lower() not in headers:
            return f"the {check.header} header is missing"
    return None


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def build_checks(config: Mapping[str, Any], secret_of: Callable[[str], str]) -> tuple[Check, ...]:
    """The checks a (validated) webhook config asks for; ``secret_of`` renders a
    ``secret`` template (``${{ secrets.NAME }}``) into its value."""
    checks: list[Check] = []
    signature = config.get("signature")
    if isinstance(signature, Mapping):
        secret = secret_of(str(signature["secret"])).encode()
        if signature.get("scheme") == "stripe":
            checks.append(
                StripeSignature(
                    secret,
                    str(signature.get("header", "Stripe-Signature")),
                    _seconds(signature.get("tolerance"), DEFAULT_TOLERANCE),
                )
            )
        else:
            checks.append(
                Signature(
                    secret,
                    str(signature.get("header", "X-Hub-Signature-256")),
                    str(signature.get("prefix", "sha256=")),
                )
            )
    token = config.get("token")
    if isinstance(token, Mapping):
        checks.append(
            Token(
                secret_of(str(token["secret"])).encode(),
                str(token.get("header", "Authorization")),
            )
        )
    return tuple(checks)


def verify(
    checks: tuple[Check, ...], headers: Mapping[str, str], body: bytes, now: float | None = None
) -> None:
    """Raise Refused unless every check passes."""
    at = time.time() if now is None else now
    for check in checks:
        check.verify(headers, body, at)


def _seconds(value: Any, default: float) -> float:
    if value is None:
        return default
    from .._plan import parse_duration

    try:
        return parse_duration(value)
    except ValueError:
        return default
