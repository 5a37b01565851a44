"""Redaction: secret values never leave hookline in clear, in any common encoding.

Every text that goes to a log line, an error message, the run history or stdout passes
through ``Redactor.text`` (or ``Redactor.value`` for JSON-like data). Values are known at
start (declared secrets) and learned during a run (an OAuth2 token, a basic-auth header).

What is covered (``variants``): the value as it is; percent-encoded as a query value, a
form field (an OAuth2 ``client_secret`` echoed by a token endpoint), a path, and as
``requests`` re-quotes a URL, in upper- and lower-case hex; inside a JSON string, with
``\\uXXXX`` escapes or not, ``/`` written ``\\/`` or not, and escaped twice (JSON inside a
JSON string); any mix of escaped and literal characters, JSON or percent escapes, found
by searching the decoded text (``_redact_decode``); base64 and URL-safe base64 at byte
offsets 0, 1 and 2, so that a value encoded after a prefix (``Basic
base64(user:secret)``) is caught too; escaped as XML or HTML (``&amp;`` ``&lt;``
``&quot;`` ``&#39;`` ``&#x27;``, numeric or named references of any character, in any
mix, once or twice, found in the decoded text too); hex of its UTF-8 bytes in lower or
upper case, for a secret of ``HEX_MIN_BYTES`` bytes or more (shorter, a hex match could be
chance: hex is everywhere in ids and hashes). A JSON number whose text holds a secret
(a PIN echoed as ``{"pin": 98765432}``) becomes the string ``"***"``. What cannot be
covered: a value the pipeline itself transforms (hashes, slices, re-encodes).
"""

from __future__ import annotations

import base64
import json
import re
import threading
from typing import Any
from urllib.parse import quote, quote_plus

from ._redact_decode import ESCAPED_CHAR, mask_escaped

MASK = "***"

# Headers whose value is a credential whatever it holds: shown as ``***`` by name in the
# run history, verbose logs and the dry-run report, even when the value is not a declared
# secret (a cookie set by the server, a token typed into the pipeline file).
CREDENTIAL_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "api-key",
        "x-auth-token",
        "x-access-token",
    }
)


def mask_headers(headers: dict[str, Any]) -> dict[str, Any]:
    """``headers`` with the value of every credential header replaced by ``***``. The
    scheme of an ``Authorization`` value is kept (``Bearer ***``): it says which kind of
    credential went out, and is no secret."""
    return {k: _masked_value(str(k).lower(), v) for k, v in headers.items()}


def _masked_value(name: str, value: Any) -> Any:
    if name not in CREDENTIAL_HEADERS:
        return value
    if name.endswith("authorization") and isinstance(value, str):
        scheme, sep, _ = value.strip().partition(" ")
        if sep and scheme.isalnum() and len(scheme) <= 20:
            return f"{scheme} {MASK}"
    return MASK


_MIN_LENGTH = 4  # shorter values would mask ordinary words; they are refused at load

HEX_MIN_BYTES = 8
"""A secret this long (in UTF-8 bytes) or longer is masked in hex too: 16 hex digits or
more cannot match by chance, where a 4-byte secret's 8 digits could, in a hash or an id."""

# The characters of a number's JSON text: a form made only of these can be a number.
_NUMBER_CHARS = frozenset("0123456789+-.eE")

# requests.utils.requote_uri quotes everything but these (with '%' when the value's
# percent-escapes are valid, without it otherwise).
_REQUOTE_SAFE = "!#$&'()*+,/:;=?@[]~"
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_HEX_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}|\\u[0-9a-f]{4}")


def _requoted(secret: str) -> set[str]:
    """The forms ``requests.utils.requote_uri`` gives a secret written in a URL."""
    parts = secret.split("%")
    out = [parts[0]]
    valid = True
    for part in parts[1:]:
        code = part[:2]
        if len(code) == 2 and code.isalnum():
            try:
                char = chr(int(code, 16))
            except ValueError:
                valid = False
                break
            out.append(char + part[2:] if char in _UNRESERVED else "%" + part)
        else:
            out.append("%" + part)
    forms = {quote(secret, safe=_REQUOTE_SAFE)}
    if valid:
        forms.add(quote("".join(out), safe=_REQUOTE_SAFE + "%"))
    return forms


def _json_forms(secret: str) -> set[str]:
    """The secret inside a JSON string: ASCII-escaped or not, ``\\/`` or not, and each of
    those escaped once more (a JSON document held in a JSON string)."""
    once = {json.dumps(secret, ensure_ascii=a)[1:-1] for a in (True, False)}
    once |= {f.replace("/", "\\/") for f in once}
    twice = {json.dumps(f, ensure_ascii=a)[1:-1] for f in once for a in (True, False)}
    return once | twice


def _shifted_base64(raw: bytes) -> set[str]:
    """The part of base64(prefix + raw + suffix) that depends on ``raw`` alone, for a
    prefix of 0, 1 or 2 bytes (as GitHub Actions masks): base64 works on 3-byte groups,
    so only the characters at either end mix in the neighbours' bits."""
    forms = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode().rstrip("=")
        start = (0, 2, 3)[offset]  # characters holding bits of the prefix
        end = len(encoded) - (1 if (offset + len(raw)) % 3 else 0)  # ... of what follows
        inner = encoded[start:end]
        forms.add(inner)
        forms.add(inner.replace("+", "-").replace("/", "_"))
    full = base64.b64encode(raw).decode()
    for whole in (full, full.rstrip("=")):
        forms |= {whole, whole.replace("+", "-").replace("/", "_")}
    return forms


def _lower_hex(form: str) -> str:
    """``%2F`` as ``%2f`` (and ``\\u00E9`` as ``\\u00e9``'s upper-case twin, see below)."""
    return _HEX_ESCAPE.sub(lambda m: m.group(0).lower(), form)


def _upper_hex(form: str) -> str:
    return re.sub(r"\\u[0-9a-f]{4}", lambda m: "\\u" + m.group(0)[2:].upper(), form)


def variants(secret: str) -> set[str]:
    """The forms a secret takes on the wire and in logs (see the module docstring)."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret), quote(secret)}
    forms |= _requoted(secret)
    forms |= {_lower_hex(f) for f in forms}
    forms |= _json_forms(secret)
    forms |= {_upper_hex(f) for f in forms}
    forms |= _shifted_base64(secret.encode())
    if len(secret.encode()) >= HEX_MIN_BYTES:
        raw = secret.encode().hex()
        forms |= {raw, raw.upper()}
    return {f for f in forms if len(f) >= _MIN_LENGTH}


def _escaped_length(secret: str) -> int:
    """The longest the secret can be with every character escaped: ``ESCAPED_CHAR`` (an
    XML reference escaped twice, a JSON surrogate pair) or three per UTF-8 byte in a URL."""
    return sum(max(ESCAPED_CHAR, 3 * len(c.encode())) for c in secret)


def _trie_pattern(forms: set[str]) -> str:
    """One regular expression matching every form, built as a prefix tree so that the
    engine tries one branch per character instead of every form in turn (hundreds of forms
    for 20 secrets). At each node the longer continuation is tried before stopping, so the
    longest form at a position wins: a whole encoded form over a part of it.

    Runs of characters without a branch are written as one literal, so the nesting (and
    the recursion here) grows with the number of branch points, not with the length of a
    secret (a 4 KB key is one literal)."""
    trie: dict[str, Any] = {}
    for form in forms:
        node = trie
        for char in form:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        branches = []
        for char, child in sorted(node.items()):
            if not char:
                continue
            run = [char]
            while len(child) == 1 and "" not in child:  # a straight run: no branch, no end
                ((char, child),) = child.items()
                run.append(char)
            branches.append(re.escape("".join(run)) + build(child))
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return build(trie)


# Every form; the plain values; their characters. One attribute, so that a reader never
# sees parts of two compiles.
_Patterns = tuple[re.Pattern[str], re.Pattern[str], frozenset[str]]


class Redactor:
    """Replaces every known secret form with ``***``. Thread-safe; cheap when empty."""

    def __init__(self, secrets: list[str] | tuple[str, ...] = ()) -> None:
        self._lock = threading.Lock()
        self._forms: set[str] = set()
        self._secrets: set[str] = set()  # the plain values, searched in decoded texts
        # Every form, and the plain values: one attribute, so a reader never sees one
        # pattern of a new compile with the other of an old one.
        self._patterns: _Patterns | None = None
        self._stale = False  # forms were added since the pattern was compiled
        self._longest = 0  # length of the longest form, for clip()
        self._numeric = False  # some form could be (part of) a number's text
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
            self._secrets.add(secret)
            self._longest = max(self._longest, _escaped_length(secret), *map(len, new))
            self._numeric = self._numeric or any(_NUMBER_CHARS.issuperset(f) for f in new)
            # Compiled on the next use, so that adding 20 secrets compiles once, not 20 times.
            self._stale = True

    def _compiled(self) -> _Patterns | None:
        if self._stale:
            with self._lock:
                if self._stale:
                    self._patterns = (
                        re.compile(_trie_pattern(self._forms)),
                        re.compile(_trie_pattern(self._secrets)),
                        frozenset("".join(self._secrets)),
                    )
                    self._stale = False
        return self._patterns

    def text(self, text: str) -> str:
        patterns = self._compiled()
        if patterns is None:
            return text
        forms, plain, chars = patterns
        # Then forms with some characters escaped and others not, in the decoded text.
        return mask_escaped(forms.sub(MASK, text), plain, MASK, chars)

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
        """JSON-like data with every secret form masked (keys included). A list or mapping
        in which nothing changed is returned as it is, not copied: the history redacts
        every result, and a copy of a large answer would double what the run holds."""
        if self._compiled() is None:
            return value
        return self._value(value)

    def _value(self, value: Any) -> Any:
        if isinstance(value, str):
            masked = self.text(value)
            return value if masked == value else masked
        if isinstance(value, dict):
            changed = False
            out = {}
            for key, item in value.items():
                new_key = self.text(key) if isinstance(key, str) else self.text(str(key))
                new_item = self._value(item)
                changed = changed or new_key is not key or new_item is not item
                out[new_key] = new_item
            return out if changed else value
        if isinstance(value, list | tuple):
            items = [self._value(v) for v in value]
            if isinstance(value, list) and all(a is b for a, b in zip(items, value, strict=True)):
                return value
            return items
        if self._numeric and isinstance(value, int | float) and not isinstance(value, bool):
            return self._number(value)
        return value

    def _number(self, value: float) -> Any:
        """A number whose JSON text holds a secret, as ``"***"``: a string, since no
        number can stand for the mask (a PIN echoed as ``{"pin": 98765432}``)."""
        try:
            text = str(value)  # a float's str is its JSON text (the repr)
        except ValueError:  # an int past Python's digit limit: no secret is that long
            return value
        patterns = self._compiled()
        if patterns is not None and patterns[0].search(text):
            return MASK
        return value
