"""A name registry whose lookups fall back to a case-insensitive match."""

from __future__ import annotations

from typing import TypeVar, overload

V = TypeVar("V")
D = TypeVar("D")


class CaseFallbackDict(dict[str, V]):
    """``d["newchannel"]`` finds ``"Newchannel"`` when no exact key exists.

    Iteration, ``len`` and ``in`` see the exact (wire) spellings only.
    """

    __slots__ = ("_lower",)

    def __init__(self, items: dict[str, V]) -> None:
        super().__init__(items)
        self._lower = {k.lower(): v for k, v in items.items()}

    def __missing__(self, key: str) -> V:
        return self._lower[key.lower()]

    @overload
    def get(self, key: str, default: None = None, /) -> V | None: ...
    @overload
    def get(self, key: str, default: V | D, /) -> V | D: ...
    def get(self, key: str, default: object = None, /) -> object:
        found = super().get(key)
        if found is None:
            found = self._lower.get(key.lower())
        return default if found is None else found
