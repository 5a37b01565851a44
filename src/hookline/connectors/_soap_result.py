"""A SOAP reply as plain JSON data, and a SOAP Fault as the fields of a step error.

The rules (docs/soap.md says the same to users):

- zeep objects become objects with the element names as keys; absent optional elements
  are null;
- ``xsd:dateTime``, ``xsd:date`` and ``xsd:time`` become ISO 8601 strings;
  ``xsd:decimal`` becomes a JSON number (an integer when it has no fraction);
  ``xsd:base64Binary`` becomes the base64 text; ``xsd:duration`` its ISO 8601 text;
- arrays are unwrapped the way .NET services wrap them: an object whose only key holds a
  list (``{"Lead": [...]}``) becomes that list, at any depth.
"""

from __future__ import annotations

import base64
import datetime as dt
from decimal import Decimal
from typing import Any

FAULT_DETAIL_DEPTH = 32  # deeper detail elements are given as their text


def to_json(value: Any) -> Any:
    """The JSON form of what zeep returned for an operation."""
    from zeep.helpers import serialize_object

    return _plain(serialize_object(value, dict))


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        out = {str(k): _plain(v) for k, v in value.items()}
        if len(out) == 1:
            (only,) = out.values()
            if isinstance(only, list):
                return only  # {"Lead": [...]} -> [...]
        return out
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)  # NaN and Infinity are not JSON numbers
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if hasattr(value, "tag") and hasattr(value, "itertext"):  # an lxml element (xsd:any)
        return element_json(value)
    try:
        from isodate import Duration, duration_isoformat

        if isinstance(value, Duration | dt.timedelta):
            return duration_isoformat(value)
    except ImportError:  # pragma: no cover - isodate comes with zeep
        pass
    return str(value)


def element_json(element: Any, depth: int = 0) -> Any:
    """An XML element as JSON: text when it has no children, else an object of its
    children by local name (repeated names become lists)."""
    children = [c for c in element if isinstance(c.tag, str)]
    if not children or depth >= FAULT_DETAIL_DEPTH:
        text = "".join(element.itertext()).strip()
        return text or None
    groups: dict[str, list[Any]] = {}
    for child in children:
        groups.setdefault(local_name(child.tag), []).append(element_json(child, depth + 1))
    return {name: found[0] if len(found) == 1 else found for name, found in groups.items()}


def local_name(tag: str) -> str:
    """``{urn:x}Name`` or ``prefix:Name`` → ``Name``."""
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1]


def fault_fields(fault: Any) -> dict[str, Any]:
    """What ``error.fault`` holds: code (the local name, e.g. Client or Sender), message,
    detail (the detail element's children as JSON, or null), subcodes."""
    detail = getattr(fault, "detail", None)
    if not hasattr(detail, "tag"):
        detail = None  # zeep gives the whole reply as bytes for a non-fault answer
    return {
        "code": local_name(str(fault.code or "")) or None,
        "message": str(fault.message or ""),
        "detail": element_json(detail) if detail is not None else None,
        "subcodes": [local_name(str(code)) for code in fault.subcodes or []],
    }
