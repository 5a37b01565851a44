"""``Frozen``: value classes written out by hand, for the modules every run imports.

``@dataclass(frozen=True)`` generates and compiles each class's methods when its module
is imported, about 0.5 ms a class: a few milliseconds of every cron run's start. A class
that derives from ``Frozen``, lists its fields in ``__slots__ = _fields = (...)`` and
writes its ``__init__`` (ending in ``self._fill(locals())``) behaves as the frozen
dataclass did: no assignment, equality and hash by value, a readable ``repr``, and
``replace(**changes)`` for a changed copy (``dataclasses.replace`` does not apply).
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

__all__ = ["Frozen"]


class Frozen:
    """Value semantics, from the ``_fields`` of the class that derives from it."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()

    def _fill(self, values: dict[str, Any]) -> None:
        for name in self._fields:
            object.__setattr__(self, name, values[name])

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field '{name}': {type(self).__name__} is frozen")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field '{name}': {type(self).__name__} is frozen")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({shown})"

    def __reduce__(self) -> tuple[type[Self], tuple[Any, ...]]:
        # Pickled by value and rebuilt through __init__ (the default for a class with
        # __slots__ would set each slot with setattr, which a frozen class refuses):
        # ``check`` sends problems between processes.
        return type(self), self._values()

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` (field name -> new value), as ``dataclasses.replace``."""
        unknown = set(changes) - set(self._fields)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {sorted(unknown)[0]!r}")
        new = object.__new__(type(self))
        for name in self._fields:
            object.__setattr__(new, name, changes.get(name, getattr(self, name)))
        return new
