"""The one registry type: names -> classes (models, forecasters, tasks, training procedures)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from genzoo.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named collection of classes (or factories) with one error message for unknown names.

    Args:
        what: what an entry is, for messages (``"model"``, ``"task"``).
        hint: where to find the names, for messages (``"see `genzoo models`"``).
        check: called on every entry as it is registered; raises on a malformed one.
    """

    def __init__(
        self, what: str, *, hint: str = "", check: Callable[[str, T], None] | None = None
    ) -> None:
        self.what = what
        self.hint = hint
        self._check = check
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator adding an entry under ``name`` (a name taken by another entry raises)."""

        def decorate(entry: T) -> T:
            self.add(name, entry)
            return entry

        return decorate

    def add(self, name: str, entry: T) -> None:
        """Add ``entry`` under ``name``; re-adding the same entry is a no-op."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.what} name must be a non-empty string, got {name!r}")
        if name in self._entries and self._entries[name] is not entry:
            raise ValueError(f"{self.what} name {name!r} registered twice")
        if self._check is not None:
            self._check(name, entry)
        self._entries[name] = entry

    def remove(self, name: str) -> None:
        """Drop ``name`` (plug-ins and tests that register an entry for a while)."""
        self._entries.pop(name, None)

    def get(self, name: str) -> T:
        """The entry named ``name``; :class:`ConfigError` listing the names when unknown."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            hint = f" ({self.hint})" if self.hint else ""
            raise ConfigError(
                f"unknown {self.what} {name!r}; available: {', '.join(self.names())}{hint}"
            ) from None

    def names(self) -> list[str]:
        """Sorted names."""
        return sorted(self._entries)

    def items(self) -> list[tuple[str, T]]:
        """``(name, entry)`` pairs sorted by name."""
        return sorted(self._entries.items())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
