"""Base of the typed actions: parameters -> wire headers, and back (``decode_action``).

Each generated ``<Wire>Action`` class carries class-level metadata: ``__wire__`` (action name),
``__response__`` (``"single"``, ``"list"`` or ``"follow"``), ``__list_events__``,
``__complete_event__``, ``__follow_event__``, ``__params__`` ((field, wire name, numbered))
and ``__secret__`` (parameters never shown by ``repr``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

if TYPE_CHECKING:
    from ..ami import AmiConnection

Param = str | int | bool
"""A parameter value: bools go on the wire as ``true``/``false``, ints as decimal."""
RepeatedParam = list[str] | dict[str, str]
"""A repeated parameter (``Variable``): a dict gives one ``NAME=value`` header per item."""


def _text(value: Param) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class AmiAction(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every typed action; ``action_id`` None lets the connection pick one."""

    __wire__: ClassVar[str] = ""
    __response__: ClassVar[str] = "single"
    __list_events__: ClassVar[tuple[str, ...]] = ()
    __complete_event__: ClassVar[str | None] = None
    __follow_event__: ClassVar[str | None] = None
    __secret__: ClassVar[frozenset[str]] = frozenset()
    __params__: ClassVar[tuple[tuple[str, str, bool], ...]] = ()

    action_id: str | None = msgspec.field(default=None, name="ActionID")
    extra_params: tuple[tuple[str, str], ...] = ()
    """Parameters the spec does not name, sent after the modelled ones."""

    @property
    def wire_name(self) -> str:
        return self.__wire__

    def wire_params(self) -> list[tuple[str, str]]:
        """Parameters as ordered wire headers (without ``Action``/``ActionID``)."""
        out: list[tuple[str, str]] = []
        for attr, wire, numbered in self.__params__:
            value = getattr(self, attr)
            if value is None:
                continue
            if numbered:
                out.extend((f"{wire}{i:06d}", _text(v)) for i, v in enumerate(value))
            elif isinstance(value, dict):
                out.extend((wire, f"{k}={v}") for k, v in value.items())
            elif isinstance(value, list):
                out.extend((wire, _text(v)) for v in value)
            else:
                out.append((wire, _text(value)))
        out.extend(self.extra_params)
        return out

    def send_args(self) -> tuple[str, list[tuple[str, str]], dict[str, Any]]:
        """``(name, params, kwargs)`` for ``AmiConnection.send_action``."""
        kwargs: dict[str, Any] = {"response": self.__response__}
        if self.action_id is not None:
            kwargs["action_id"] = self.action_id
        if self.__complete_event__ is not None:
            kwargs["complete_event"] = self.__complete_event__
        if self.__follow_event__ is not None:
            kwargs["follow_event"] = self.__follow_event__
        return self.__wire__, self.wire_params(), kwargs

    def to_bytes(self, conn: AmiConnection) -> bytes:
        """Register this action on ``conn`` (with the right response kind) and return its bytes."""
        name, params, kwargs = self.send_args()
        return conn.send_action(name, params, **kwargs)

    def __repr__(self) -> str:
        parts = []
        for f in self.__struct_fields__:
            value = getattr(self, f)
            if value is None or (f == "extra_params" and not value):
                continue
            if f in self._secret_fields():
                parts.append(f"{f}='***'")
            elif f == "extra_params":
                shown = tuple(
                    (k, "***" if k.lower() in self._secret_lower() else v) for k, v in value
                )
                parts.append(f"{f}={shown!r}")
            else:
                parts.append(f"{f}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    @classmethod
    def _secret_fields(cls) -> frozenset[str]:
        return frozenset(attr for attr, wire, _ in cls.__params__ if wire in cls.__secret__)

    @classmethod
    def _secret_lower(cls) -> frozenset[str]:
        return frozenset(w.lower() for w in cls.__secret__) | {"secret"}


def decode_params(
    cls: type[AmiAction], params: list[tuple[str, str]], action_id: str | None = None
) -> AmiAction:
    """Build ``cls`` from wire parameters (names matched case-insensitively, as Asterisk does).

    Raises ``TypeError`` when a required parameter is missing.
    """
    by_lower: dict[str, tuple[str, bool, bool]] = {}
    numbered: list[tuple[str, str]] = []
    hints = cls.__struct_fields__
    repeated = {attr for attr in hints if _is_repeated(cls, attr)}
    for attr, wire, is_numbered in cls.__params__:
        if is_numbered:
            numbered.append((wire.lower(), attr))
        else:
            by_lower[wire.lower()] = (attr, attr in repeated, False)
    kwargs: dict[str, Any] = {}
    extra: list[tuple[str, str]] = []
    for key, value in params:
        lk = key.lower()
        hit = by_lower.get(lk)
        if hit is not None:
            attr, is_rep, _ = hit
            if is_rep:
                kwargs.setdefault(attr, []).append(value)
            elif attr in kwargs:
                extra.append((key, value))
            else:
                kwargs[attr] = value
            continue
        for prefix, attr in numbered:
            if lk.startswith(prefix) and lk[len(prefix) :].isdigit():
                kwargs.setdefault(attr, []).append(value)
                break
        else:
            extra.append((key, value))
    return cls(action_id=action_id, extra_params=tuple(extra), **kwargs)


def _is_repeated(cls: type[AmiAction], attr: str) -> bool:
    return any(a == attr and n for a, _, n in cls.__params__) or attr in _repeated_attrs(cls)


_REPEATED_CACHE: dict[type[AmiAction], frozenset[str]] = {}


def _repeated_attrs(cls: type[AmiAction]) -> frozenset[str]:
    cached = _REPEATED_CACHE.get(cls)
    if cached is None:
        info = msgspec.inspect.type_info(cls)
        assert isinstance(info, msgspec.inspect.StructType)
        attrs = set()
        for f in info.fields:
            t = f.type
            if isinstance(t, msgspec.inspect.UnionType) and any(
                isinstance(x, msgspec.inspect.ListType) for x in t.types
            ):
                attrs.add(f.name)
        cached = _REPEATED_CACHE[cls] = frozenset(attrs)
    return cached
