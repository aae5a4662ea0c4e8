"""Frames and header tuples -> typed items. Never raises on received data.

Fast path per event: ``dict(headers)``; repeated headers the class models as dict/list are
collected; headers it does not model go to ``extra`` (``ChanVariable(<chan>)`` to
``scoped_vars``); then one ``msgspec.convert(..., strict=False)`` (string -> int/float/enum).
"""

from __future__ import annotations

import enum
import itertools
import types
import typing
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import msgspec

from ..ami import Frame, FrameKind, speedups
from .base import AmiEvent, AmiResponse, ProtocolAnomaly, SessionStarted, UndecodableEvent
from .base import UnknownEvent as UnknownEvent
from .envelope import Envelope
from .registry import EVENT_TYPES
from .struct_fields import struct_fields

Item = AmiEvent | AmiResponse | SessionStarted | ProtocolAnomaly
Headers = tuple[tuple[str, str], ...]

_EXTRA = "__extra__"
_SCOPED = "__scoped_vars__"
_SCOPED_PREFIX = "ChanVariable("
_EQ = itertools.repeat("=")
_ONE = itertools.repeat(1)
_UNIONS = (typing.Union, types.UnionType)


class _ClassInfo:
    """What decoding needs to know about one event class, computed once."""

    __slots__ = ("cls", "fields", "known", "multi", "multi_items", "nonstr", "only_dict", "tag")

    def __init__(self, cls: type[AmiEvent]) -> None:
        self.cls = cls
        self.fields = struct_fields(cls)
        self.tag = str(cls.__struct_config__.tag)
        multi: dict[str, bool] = {}  # wire name -> True for dict, False for list
        known = {"Event"}
        nonstr: list[tuple[str, str]] = []
        for f in self.fields:
            if f.encode_name in (_EXTRA, _SCOPED):
                continue
            known.add(f.encode_name)
            if _typed_not_text(f.type):
                nonstr.append((f.encode_name, f.name))
            origin = typing.get_origin(f.type)
            if origin is dict:
                multi[f.encode_name] = True
            elif origin is list:
                multi[f.encode_name] = False
        self.known = frozenset(known)
        self.multi = multi
        self.multi_items = tuple(multi.items())
        self.nonstr = tuple(nonstr)
        """(wire, attribute) of number/enum fields: lax ``convert`` reads "null" there as None."""
        self.only_dict = next(iter(multi)) if len(multi) == 1 and all(multi.values()) else None
        """The wire name when the class models exactly one repeated header, as a dict."""


_INFO: dict[str, _ClassInfo] = {}
"""Wire name -> class info, filled on first use (all 227: ~20 ms, ~0.08 ms a class)."""
_CANONICAL: dict[str, str] = {name.lower(): name for name in EVENT_TYPES}
_convert = msgspec.convert


def _info(name: str) -> _ClassInfo | None:
    """Class info for a wire name: exact match first, then case-insensitive. Cached under
    the class's own spelling only, so that odd names received cannot grow the cache."""
    canonical = name if name in EVENT_TYPES else _CANONICAL.get(name.lower())
    if canonical is None:
        return None
    info = _INFO.get(canonical)
    if info is None:
        info = _INFO[canonical] = _ClassInfo(EVENT_TYPES[canonical])
    return info


def lookup(name: str) -> type[AmiEvent] | None:
    """Event class for a wire name: exact match first, then case-insensitive."""
    info = _INFO.get(name) or _info(name)
    return info.cls if info is not None else None


def _split_var(value: str) -> tuple[str, str]:
    name, _, val = value.partition("=")
    return name, val


_VARS: dict[tuple[str, ...], dict[str, str]] = {}
_VARS_CACHE_SIZE = 4096
_VARS_MAX_LEN = 1024
"""Longer NAME=value lists (total characters) are split but not cached: bounded memory."""


def _var_dict(values: list[str]) -> dict[str, str]:
    """``NAME=value`` strings -> dict (split on the first ``=``; a bare NAME maps to "")."""
    try:
        return dict(map(str.split, values, _EQ, _ONE))
    except ValueError:
        return dict(map(_split_var, values))


def _cached_var_dict(values: list[str]) -> dict[str, str]:
    """:func:`_var_dict` through a bounded cache (ChanVariable lists repeat across events).

    The cached dict is never handed out: ``msgspec.convert`` builds the field's own copy.
    """
    key = tuple(values)
    found = _VARS.get(key)
    if found is None:
        found = _var_dict(values)
        if sum(map(len, values)) > _VARS_MAX_LEN:
            return found
        if len(_VARS) >= _VARS_CACHE_SIZE:
            _VARS.clear()
        _VARS[key] = found
    return found


def _repeats(d: dict[str, Any], headers: Headers, info: _ClassInfo) -> None:
    """Collect the repeated headers the class models as dict/list; other repeats keep the first."""
    n = len(headers)
    single = len(d) == n
    consumed = present = 0
    for key, is_dict in info.multi_items:
        if key in d:
            if single:
                values = [d[key]]
            else:
                values = [v for k, v in headers if k == key]
            consumed += len(values)
            present += 1
            d[key] = _cached_var_dict(values) if is_dict else values
    if single or len(d) - present + consumed == n:
        return
    # a header that is not modelled as multi repeats: first value wins, the rest go to extra
    seen: dict[str, list[str]] = {}
    multi = info.multi
    for k, v in headers:
        if k not in multi:
            seen.setdefault(k, []).append(v)
    extra: dict[str, str] = d.setdefault(_EXTRA, {})
    for k, values in seen.items():
        if len(values) > 1:
            if k in info.known:
                d[k] = values[0]
                extra[k] = "\n".join(values[1:])
            else:
                d[k] = "\n".join(values)


def _unmodelled(d: dict[str, Any], headers: Headers, info: _ClassInfo) -> None:
    """Move headers the class does not model to ``extra`` / ``scoped_vars``."""
    extra: dict[str, str] = d.get(_EXTRA) or {}
    scoped: dict[str, dict[str, str]] = {}
    unknown = d.keys() - info.known
    # in header order, so that decoding is deterministic whatever the hash seed
    for key in [k for k in d if k in unknown]:
        if key == _EXTRA:
            continue
        value = d.pop(key)
        if key.startswith(_SCOPED_PREFIX) and key.endswith(")"):
            scoped[key[len(_SCOPED_PREFIX) : -1]] = dict(
                _split_var(v) for k, v in headers if k == key
            )
        else:
            extra[key] = value
    if extra:
        d[_EXTRA] = extra
    else:
        d.pop(_EXTRA, None)
    if scoped:
        d[_SCOPED] = scoped


def _typed_not_text(t: Any) -> bool:
    """True for an optional number or enum field (not text, dict or list)."""
    if typing.get_origin(t) in _UNIONS:
        return any(map(_typed_not_text, typing.get_args(t)))
    return t in (int, float, bool) or (isinstance(t, type) and issubclass(t, enum.Enum))


def decode_headers(headers: Headers) -> AmiEvent:
    """Typed event for an ``Event:`` frame's headers (first header is ``Event``)."""
    name = headers[0][1] if headers else ""
    info = _INFO.get(name) or _info(name)
    if info is None:
        return _unknown(name, headers)
    d: dict[str, Any] = dict(headers)
    try:
        # all in the try: a wire header named like an internal key (__extra__) must not crash
        key = info.only_dict
        if key is not None and key in d:
            # the usual case inline (ChanVariable): what _repeats does when only that key repeats
            values = [d[key]] if len(d) == len(headers) else [v for k, v in headers if k == key]
            if len(values) == len(headers) - len(d) + 1:
                found = _VARS.get(tuple(values))
                d[key] = found if found is not None else _cached_var_dict(values)
            else:
                _repeats(d, headers, info)
        elif info.multi_items or len(d) != len(headers):
            _repeats(d, headers, info)
        if not info.known.issuperset(d):
            _unmodelled(d, headers, info)
        if name != info.tag:
            d["Event"] = info.tag
        event: AmiEvent = _convert(d, info.cls, strict=False)
        for wire, attr in info.nonstr:
            if wire in d and getattr(event, attr) is None:
                raise ValueError(f"Expected a value, got {d[wire]!r} - at `$.{wire}`")
    except (msgspec.ValidationError, ValueError, TypeError, AttributeError) as exc:
        return UndecodableEvent(
            name=name, error=str(exc), headers=headers, action_id=_first(headers, "ActionID")
        )
    return event


def _first(headers: Headers, key: str) -> str | None:
    for k, v in headers:
        if k == key:
            return v
    return None


def _unknown(name: str, headers: Headers) -> UnknownEvent:
    ts = _first(headers, "Timestamp")
    timestamp: float | None
    try:
        timestamp = float(ts) if ts is not None else None
    except ValueError:
        timestamp = None
    return UnknownEvent(
        name=name,
        headers=headers,
        privilege=_first(headers, "Privilege"),
        timestamp=timestamp,
        action_id=_first(headers, "ActionID"),
        system_name=_first(headers, "SystemName"),
    )


def _response(frame: Frame) -> AmiResponse:
    headers = frame.headers
    message = event_list = None
    output: list[str] = []
    for k, v in headers:
        if k == "Message" and message is None:
            message = v
        elif k == "EventList" and event_list is None:
            event_list = v
        elif k == "Output":
            output.append(v)
    return AmiResponse(
        response=headers[0][1],
        action_id=frame.action_id,
        message=message,
        event_list=event_list,
        headers=headers,
        output=output,
    )


_EVENT = FrameKind.EVENT
_LIST_ITEM = FrameKind.LIST_ITEM


def decode_frame(frame: Frame) -> Item:
    """Typed item for one codec frame (never raises)."""
    kind = frame.kind
    if kind is _EVENT or kind is _LIST_ITEM:
        return decode_headers(frame.headers)
    if kind is FrameKind.RESPONSE:
        return _response(frame)
    if kind is FrameKind.BANNER:
        return SessionStarted(banner=frame.headers[0][1] if frame.headers else "")
    if kind is FrameKind.ANOMALY:
        return ProtocolAnomaly(problem=frame.problem or "anomaly", raw=frame.raw)
    return ProtocolAnomaly(problem=f"unexpected {kind.value} frame from the server", raw=frame.raw)


def envelopes(
    frames: Iterable[Frame], start_seq: int = 0, received_at: float | None = None
) -> Iterator[Envelope]:
    """One Envelope per frame (``seq`` counts every frame, banner and anomalies included)."""
    new = tuple.__new__  # Envelope(...) without the NamedTuple's Python-level __new__
    list_item = FrameKind.LIST_ITEM
    for seq, frame in enumerate(frames, start_seq):
        kind = frame.kind
        if kind is _EVENT or kind is list_item:
            item: Item = decode_headers_py(frame.headers)
        else:
            item = decode_frame(frame)
        yield new(Envelope, (seq, item, kind is list_item, received_at, frame.problem))


# -- the compiled twin (tracker/ami/_speedups.c); decode_headers above stays the reference ----
# field kinds, as numbered in _speedups.c
_FAST_STR, _FAST_INT, _FAST_FLOAT, _FAST_ENUM, _FAST_DICT, _FAST_LIST, _FAST_EXTRA, _FAST_NO = (
    range(8)
)
_FAST_SCOPED = 8


def _fast_kind(t: Any) -> tuple[int, dict[str, Any] | None]:
    """How the compiled decoder converts a header for a field of type ``t`` (``_FAST_NO``:
    it hands the event to :func:`decode_headers`)."""
    args = typing.get_args(t)
    if typing.get_origin(t) in _UNIONS and len(args) == 2 and args[1] is types.NoneType:
        t = args[0]
        args = typing.get_args(t)
    if t is str:
        return _FAST_STR, None
    if t is int:
        return _FAST_INT, None
    if t is float:
        return _FAST_FLOAT, None
    if isinstance(t, type) and issubclass(t, enum.Enum):
        if all(isinstance(m.value, str) for m in t):
            # "null" converts to None in msgspec's lax mode: left to the Python decoder
            return _FAST_ENUM, {m.value: m for m in t if m.value != "null"}
        return _FAST_NO, None
    origin = typing.get_origin(t)
    if origin is dict and args == (str, str):
        return _FAST_DICT, None
    if origin is list and args == (str,):
        return _FAST_LIST, None
    return _FAST_NO, None


def _fast_spec(name: str) -> tuple[Any, ...] | None:
    """The compiled decoder's table for the event class named exactly ``name``, asked for on
    its first event: (class, whether its slots may be filled directly (no ``__post_init__``),
    its fields in order as (wire name, field name, kind, enum map, default, default factory));
    ``()`` for a class it leaves to :func:`decode_headers`; None when ``name`` names no class
    (not remembered, so names received cannot grow its table)."""
    if name not in EVENT_TYPES:
        return None
    info = _info(name)
    assert info is not None
    if name != info.tag or any(f.required for f in info.fields):
        return ()
    fields: list[tuple[Any, ...]] = []
    for f in info.fields:
        factory = None if f.default_factory is msgspec.NODEFAULT else f.default_factory
        default = (f.default, factory)
        if f.encode_name == _EXTRA:
            fields.append((None, f.name, _FAST_EXTRA, None, *default))
        elif f.encode_name == _SCOPED:
            fields.append((None, f.name, _FAST_SCOPED, None, *default))
        else:
            fields.append((f.encode_name, f.name, *_fast_kind(f.type), *default))
    return (info.cls, not hasattr(info.cls, "__post_init__"), tuple(fields))


decode_headers_py = decode_headers
"""The pure-Python decoder, whichever one ``decode_headers`` is."""
envelopes_py = envelopes
"""The pure-Python ``envelopes``, whichever one ``envelopes`` is."""
_compiled = speedups.compiled()


def new_compiled_decoder(spec_of: Callable[[str], tuple[Any, ...] | None] = _fast_spec) -> Any:
    """A compiled decoder asking ``spec_of`` for each class's table (None: not built)."""
    if _compiled is None:
        return None
    return _compiled.EventDecoder(
        spec_of, msgspec.NODEFAULT, decode_headers_py, Envelope, decode_frame, _EVENT, _LIST_ITEM
    )


compiled_decoder = new_compiled_decoder()
"""The compiled decoder (None when not built); the fallback it hands events to is the pure
one, and it sends frames that are not events to :func:`decode_frame`."""
if compiled_decoder is not None and speedups.ENABLED:
    decode_headers = compiled_decoder.decode
    envelopes = compiled_decoder.envelopes
