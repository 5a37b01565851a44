"""The worker process of ``code`` steps: runs a user's function for each request it reads.

It is started as a plain script (``python -I -S <this file> <memory bytes>``), not through
``multiprocessing``: a fresh interpreter that imports nothing of hookline starts in a few
tens of milliseconds, forking a parent that runs threads is unsafe, and a plain process is
simple to kill when a step's time runs out.

Protocol: one JSON line per request on stdin ``{"file", "function", "args"}``, one JSON
line per answer on the private descriptor handed over in ``HOOKLINE_CODE_FD`` (stdout
and stderr are the null device, so that a C extension writing to them cannot corrupt the
protocol nor print a secret unredacted). The function's ``print`` output and
``sys.stderr`` writes are captured and sent back with the answer; the parent logs them,
redacted.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import signal
import sys
import traceback
from typing import Any

_MODULES: dict[str, tuple[int, Any]] = {}


def _limit_memory(limit: int) -> None:
    if limit <= 0:
        return
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):  # not on this platform: no limit
        pass


def _module(file: str) -> Any:
    """The user's module, loaded once and again only when the file changed."""
    mtime = os.stat(file).st_mtime_ns
    cached = _MODULES.get(file)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    name = f"hookline_code_{len(_MODULES)}"
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {file}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _MODULES[file] = (mtime, module)
    return module


def _kind(value: Any) -> str:
    return type(value).__name__


def _not_json(value: Any, where: str = "the value") -> str | None:
    """Why ``value`` is not JSON-like (a plain description), or None when it is."""
    if value is None or isinstance(value, (bool, str)):
        return None
    if isinstance(value, int | float):
        finite = not isinstance(value, float) or (abs(value) != float("inf") and value == value)
        return None if finite else f"{where} is {value!r}, which JSON cannot hold"
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            why = _not_json(item, f"{where}[{i}]")
            if why:
                return why
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{where} has a key of type {_kind(key)} ({key!r:.40}); keys must be text"
            why = _not_json(item, f"{where}[{key!r:.40}]")
            if why:
                return why
        return None
    return f"{where} is of type {_kind(value)}, which is not JSON-like"


def _call(request: dict[str, Any]) -> dict[str, Any]:
    file = request["file"]
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        function = getattr(_module(file), request["function"])
        result = function(**request["args"])
    except BaseException as exc:  # the user's error, sys.exit() too, is the step's error
        frames = [
            [f.filename, f.lineno or 0, f.name, (f.line or "").strip()]
            for f in traceback.extract_tb(exc.__traceback__)
            if f.filename == file
        ]
        answer: dict[str, Any] = {
            "ok": False,
            "type": type(exc).__name__,
            "message": str(exc),
            "frames": frames,
        }
    else:
        why = _not_json(result, "the return value")
        answer = {"ok": True, "result": result} if why is None else {"ok": False, "not_json": why}
    finally:
        sys.stdout, sys.stderr = saved
    answer["stdout"] = out.getvalue()
    answer["stderr"] = err.getvalue()
    return answer


def main() -> None:
    _limit_memory(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    # Ctrl-C reaches the whole process group: the parent decides, and kills this worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    answers = os.fdopen(int(os.environ.pop("HOOKLINE_CODE_FD")), "w", encoding="utf-8")
    for line in sys.stdin:
        try:
            answer = _call(json.loads(line))
            text = json.dumps(answer, ensure_ascii=True, allow_nan=False)
        except MemoryError:
            text = json.dumps({"ok": False, "type": "MemoryError", "message": "", "frames": []})
        except RecursionError:  # a return value nested deeper than Python can walk
            why = "the return value is nested too deeply"
            text = json.dumps({"ok": False, "not_json": why, "stdout": "", "stderr": ""})
        answers.write(text + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
