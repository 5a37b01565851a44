"""What every connection kind shares at load time: headers, auth, timeout, TLS
verification, retry policy and rate limit, compiled the same way for each."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._frozen import Frozen
from .._model import RetryPolicy
from ..expr import Template

if TYPE_CHECKING:
    from .._plan import Builder, Scope

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RESPONSE_SIZE = 10 * 1024 * 1024  # bytes, after decompression
# The most max_response_size may say: beyond any answer a run could hold in memory, and
# small enough for every size the HTTP and zlib layers take (a C ssize_t).
MOST_RESPONSE_SIZE = 1024**4  # 1 TiB

_SIZE_UNITS = {
    "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3,
}  # fmt: skip

_RATE_UNITS = {
    "s": 1.0, "sec": 1.0, "second": 1.0,
    "m": 60.0, "min": 60.0, "minute": 60.0,
    "h": 3600.0, "hour": 3600.0,
}  # fmt: skip


def parse_rate(text: str) -> tuple[float, float]:
    """'5/s' → (5.0, 1.0): so many requests per so many seconds."""
    count, unit = text.split("/")
    return float(count), _RATE_UNITS[unit]


def parse_size(value: int | str) -> int:
    """'50MB' → 50000000, '1MiB' → 1048576, 4096 → 4096."""
    if isinstance(value, int):
        return value
    text = value.replace(" ", "").lower()
    digits = text.rstrip("kmgib")
    return int(float(digits) * _SIZE_UNITS[text[len(digits) :]])


def beside(builder: Builder, value: str) -> str:
    """A path written in the pipeline, taken relative to the pipeline file."""
    if "://" in value or Path(value).is_absolute():
        return value
    return str(Path(builder.doc.file).parent / value)


class ConnectionSettings(Frozen):
    """What every kind of connection has: see CONNECTION_SETTINGS in the schema.

    A ``Frozen`` class, not a generated dataclass: every run imports it (``_frozen``)."""

    __slots__ = _fields = (
        "name",
        "headers",
        "auth",
        "timeout",
        "verify",
        "retry",
        "rate_limit",
        "allow_origins",
        "follow_redirects",
        "max_response_size",
    )
    name: str
    headers: Template | None
    auth: Template | None
    timeout: float
    verify: bool | str
    retry: RetryPolicy | None
    rate_limit: tuple[float, float] | None  # (requests, per seconds)
    allow_origins: tuple[str, ...]  # scheme://host:port, checked at load
    follow_redirects: bool
    max_response_size: int

    def __init__(
        self,
        name: str,
        headers: Template | None,
        auth: Template | None,
        timeout: float,
        verify: bool | str,
        retry: RetryPolicy | None,
        rate_limit: tuple[float, float] | None,
        allow_origins: tuple[str, ...] = (),
        follow_redirects: bool = True,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
    ) -> None:
        self._fill(locals())


def connection_settings(
    raw: dict[str, Any], builder: Builder, path: tuple[Any, ...], scope: Scope
) -> ConnectionSettings:
    """Compile the keys every connection kind shares."""
    from .._plan import MAX_DURATION

    rate = raw.get("rate_limit")
    limit = parse_rate(rate) if isinstance(rate, str) and "/" in rate else None
    if limit is not None and limit[0] <= 0:
        builder.error((*path, "rate_limit"), f"'{rate}' would never send a request: the "
                      "count must be more than 0, e.g. '5/s'")  # fmt: skip
        limit = None
    elif limit is not None and limit[1] / limit[0] > MAX_DURATION:
        # One request per more than 30 days: the limiter's waits would overflow timers.
        builder.error((*path, "rate_limit"), f"'{rate}' is too slow a rate: the most "
                      "it may wait between requests is 30 days")  # fmt: skip
        limit = None
    verify = raw.get("verify", True)
    if isinstance(verify, str):
        written, verify = verify, beside(builder, verify)
        if not Path(verify).is_file():
            builder.error((*path, "verify"), f"CA bundle file '{written}' not found (paths "
                          "are relative to the pipeline file)")  # fmt: skip
    timeout = builder.duration((*path, "timeout"))
    return ConnectionSettings(
        allow_origins=_allow_origins(raw.get("allow_origins"), builder, path),
        follow_redirects=raw.get("follow_redirects", True) is not False,
        max_response_size=_size(raw.get("max_response_size"), builder, path),
        name=str(path[1]),
        headers=builder.maybe_template((*path, "headers"), scope),
        auth=builder.maybe_template((*path, "auth"), scope),
        timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
        verify=verify if isinstance(verify, bool | str) else True,
        retry=builder.retry((*path, "retry")),
        rate_limit=limit,
    )


def _allow_origins(raw: Any, builder: Builder, path: tuple[Any, ...]) -> tuple[str, ...]:
    from ._origin import origin_setting

    if not isinstance(raw, list):
        return ()
    out: list[str] = []
    for i, item in enumerate(raw):
        origin = origin_setting(item) if isinstance(item, str) else None
        if origin is None:
            if isinstance(item, str):
                builder.error((*path, "allow_origins", i), f"'{item}' is not an origin: write "
                              "scheme://host or scheme://host:port, without a path")  # fmt: skip
            continue
        out.append(origin)
    return tuple(out)


def _size(raw: Any, builder: Builder, path: tuple[Any, ...]) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        return DEFAULT_MAX_RESPONSE_SIZE
    try:
        size = parse_size(raw)
    except (KeyError, ValueError):
        return DEFAULT_MAX_RESPONSE_SIZE  # the schema already located the problem
    except OverflowError:  # '1e999GiB' reads as infinity
        size = MOST_RESPONSE_SIZE + 1
    if size < 1:
        builder.error((*path, "max_response_size"), f"'{raw}' is less than one byte")
        return DEFAULT_MAX_RESPONSE_SIZE
    if size > MOST_RESPONSE_SIZE:
        builder.error(
            (*path, "max_response_size"),
            f"max_response_size '{raw}' is more than 1 TiB, the most a response may be",
        )
        return DEFAULT_MAX_RESPONSE_SIZE
    return size
