"""Redaction cost: ``Redactor.text`` on a 64 KiB text with 20 secrets registered.

Prints the median of 30 runs, for a text holding a few secret forms and for a clean one.
Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import base64
import random
import statistics
import string
import time

from hookline._redact import Redactor


def _texts(secrets: list[str]) -> tuple[str, str]:
    rng = random.Random(7)
    words = ["id", "name", "value", "created_at", "status", "ok", "items", "total"]
    parts: list[str] = []
    size = 0
    while size < 64 * 1024:
        piece = (
            f'"{rng.choice(words)}": "{rng.choice(string.ascii_letters) * rng.randint(3, 12)}", '
        )
        parts.append(piece)
        size += len(piece)
    clean = "".join(parts)[: 64 * 1024]
    dirty = list(clean)
    for i, secret in enumerate(secrets[:5]):
        form = base64.b64encode(f"user:{secret}".encode()).decode() if i % 2 else secret
        at = (i + 1) * 10_000
        dirty[at:at] = list(form)
    return clean, "".join(dirty)[: 64 * 1024]


def _median(fn: object, text: str, runs: int = 30) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn(text)  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    rng = random.Random(1)
    alphabet = string.ascii_letters + string.digits + "/+=-_é"
    secrets = ["".join(rng.choice(alphabet) for _ in range(32)) for _ in range(20)]
    started = time.perf_counter()
    redactor = Redactor(secrets)
    redactor.text("")  # the pattern is compiled on first use
    build = time.perf_counter() - started
    clean, dirty = _texts(secrets)
    forms = len(redactor._forms)
    print(f"forms: {forms}, pattern build: {build * 1000:.1f} ms")
    print(f"64 KiB, no secret:   {_median(redactor.text, clean) * 1000:.2f} ms (median of 30)")
    print(f"64 KiB, 5 secrets:   {_median(redactor.text, dirty) * 1000:.2f} ms (median of 30)")
    assert all(s not in redactor.text(dirty) for s in secrets)


if __name__ == "__main__":
    main()
