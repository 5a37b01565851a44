"""A registry of component modules, each imported the first time a pipeline uses it.

A run imports only the kinds its pipeline names: a REST run never loads the SOAP module
(and, through it, the WSDL checks and ``urllib.request``), GraphQL, the cron parser or the
webhook code. The registry still reads as one line per component: a name and the dotted
path of its module. Iterating over the names imports nothing; looking one up imports its
module once (Python caches it in ``sys.modules``).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar, cast

T = TypeVar("T")


class LazyRegistry(Mapping[str, T], Generic[T]):
    """name → module, imported on first lookup; the order of the names is kept."""

    def __init__(self, paths: Mapping[str, str]) -> None:
        self._paths = dict(paths)
        self._loaded: dict[str, T] = {}

    def __getitem__(self, name: str) -> T:
        module = self._loaded.get(name)
        if module is None:
            # KeyError for an unknown name, as a dict would raise.
            module = cast(T, importlib.import_module(self._paths[name]))
            self._loaded[name] = module
        return module

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)

    def __contains__(self, name: object) -> bool:
        return name in self._paths

    def path(self, name: str) -> str:
        """The dotted module path registered for ``name``."""
        return self._paths[name]
