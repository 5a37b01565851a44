"""What ``hookline check`` verifies of a ``code`` step, without running the user's code:
the file lies in the pipeline's folder, parses, defines the function at top level, and the
step's argument names fit the function's signature. The file is read with ``ast`` only.
"""

from __future__ import annotations

import ast
import difflib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._plan import Builder

MAX_SOURCE = 4 * 1024 * 1024
"""The largest code file check reads (bytes)."""


def locate(builder: Builder, path: tuple[Any, ...], written: str) -> tuple[Path, str] | None:
    """The code file and function that ``file.py:function`` at ``path`` names, checked;
    None when a problem was reported."""
    file_text, sep, name = written.rpartition(":")
    if not sep or not file_text.endswith(".py") or not name.isidentifier():
        builder.error(path, f"'{written}' must be FILE.py:FUNCTION (code/score.py:score)")
        return None
    folder = Path(builder.doc.file).parent.resolve()
    relative = Path(file_text)
    if relative.is_absolute() or ".." in relative.parts:
        builder.error(path, f"'{file_text}' must be a path inside the pipeline's folder")
        return None
    file = (folder / relative).resolve()
    if not file.is_relative_to(folder):  # a symbolic link leading out
        builder.error(path, f"'{file_text}' leads outside the pipeline's folder")
        return None
    if not file.is_file():
        builder.error(path, f"no file '{file_text}' beside the pipeline")
        return None
    if file.stat().st_size > MAX_SOURCE:
        builder.error(path, f"'{file_text}' is larger than {MAX_SOURCE // 1024 // 1024} MiB")
        return None
    return file, name


def signature(
    builder: Builder, path: tuple[Any, ...], file: Path, shown: str, name: str
) -> ast.arguments | None:
    """The parameters of the top-level function ``name`` of ``file``; None (reported)
    when the file does not parse or has no such function."""
    try:
        tree = ast.parse(file.read_bytes(), filename=shown)
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        where = f" (line {line})" if line else ""
        message = getattr(exc, "msg", None) or str(exc)
        builder.error(path, f"'{shown}' is not valid Python{where}: {message}")
        return None
    except OSError as exc:
        builder.error(path, f"cannot read '{shown}': {exc.strerror}")
        return None
    found: ast.FunctionDef | ast.AsyncFunctionDef | None = None
    names: list[str] = []
    for node in tree.body:  # the last definition wins, as when Python runs the file
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.append(node.name)
            if node.name == name:
                found = node
    if found is None:
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        listed = f" (it defines: {', '.join(sorted(set(names)))})" if names and not close else ""
        builder.error(path, f"'{shown}' has no top-level function '{name}'{hint}{listed}")
        return None
    if isinstance(found, ast.AsyncFunctionDef):
        builder.error(path, f"'{name}' in '{shown}' is async: a code step calls plain functions")
        return None
    return found.args


def check_args(
    builder: Builder,
    path: tuple[Any, ...],
    args_path: tuple[Any, ...] | None,
    params: ast.arguments,
    name: str,
) -> None:
    """Each argument the step gives must be a keyword the function takes, and each
    parameter without a default must be given."""
    given = builder.get(args_path) if args_path is not None else {}
    given = given if isinstance(given, dict) else {}
    positional_only = [a.arg for a in params.posonlyargs]
    keywords = [a.arg for a in (*params.args, *params.kwonlyargs)]
    for key in given:
        if key in keywords or (params.kwarg is not None and key not in positional_only):
            continue
        assert args_path is not None
        if key in positional_only:
            message = f"{name}() takes '{key}' by position only; a code step passes keywords"
        else:
            close = difflib.get_close_matches(key, keywords, n=1)
            takes = f"; did you mean '{close[0]}'?" if close else _takes(keywords)
            message = f"{name}() has no parameter '{key}'{takes}"
        builder.error((*args_path, key), message, at_key=True)
    # Parameters without a default: the last len(defaults) of the positional ones have one.
    positional = [*params.posonlyargs, *params.args]
    required = [a.arg for a in positional[: len(positional) - len(params.defaults)]]
    required += [
        a.arg for a, d in zip(params.kwonlyargs, params.kw_defaults, strict=False) if d is None
    ]
    missing = [p for p in required if p not in given]
    if missing:
        names = ", ".join(f"'{p}'" for p in missing)
        plural = "s" if len(missing) > 1 else ""
        builder.error(args_path or path, f"{name}() needs the argument{plural} {names} in args")


def _takes(keywords: list[str]) -> str:
    return f" (it takes: {', '.join(keywords)})" if keywords else " (it takes no argument)"
