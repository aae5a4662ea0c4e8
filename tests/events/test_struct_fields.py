"""The decoders' per-class tables: built from :func:`struct_fields` (annotations evaluated once
per module) they equal what msgspec's own introspection gives, and each is built once."""

from __future__ import annotations

import typing
from collections import Counter
from typing import Any

import msgspec
import pytest

from tests.helpers import SMALL_CAPTURES
from tracker.ami import AmiConnection
from tracker.capture import read_bytes
from tracker.events import decode
from tracker.events.base import AmiResponse, ProtocolAnomaly, SessionStarted
from tracker.events.registry import EVENT_TYPES
from tracker.events.struct_fields import struct_fields
from tracker.state import World
from tracker.state.call import Call

mi = msgspec.inspect


def test_struct_fields_equal_msgspec_fields() -> None:
    classes: list[type[msgspec.Struct]] = [*EVENT_TYPES.values(), AmiResponse, SessionStarted]
    classes += [ProtocolAnomaly, World, Call]
    for cls in classes:
        assert struct_fields(cls) == msgspec.structs.fields(cls), cls


# -- the tables as they were computed before (msgspec.inspect, typing.get_type_hints) ----------
def _reference_kind(t: mi.Type) -> tuple[int, dict[str, Any] | None]:
    if isinstance(t, mi.UnionType) and len(t.types) == 2 and isinstance(t.types[1], mi.NoneType):
        t = t.types[0]
    if isinstance(t, mi.StrType) and t == mi.StrType():
        return decode._FAST_STR, None
    if isinstance(t, mi.IntType) and t == mi.IntType():
        return decode._FAST_INT, None
    if isinstance(t, mi.FloatType) and t == mi.FloatType():
        return decode._FAST_FLOAT, None
    if isinstance(t, mi.EnumType) and all(isinstance(m.value, str) for m in t.cls):
        return decode._FAST_ENUM, {m.value: m for m in t.cls if m.value != "null"}
    if isinstance(t, mi.DictType) and t.key_type == t.value_type == mi.StrType():
        return decode._FAST_DICT, None
    if isinstance(t, mi.ListType) and t.item_type == mi.StrType():
        return decode._FAST_LIST, None
    return decode._FAST_NO, None


def _reference_not_text(t: mi.Type) -> bool:
    if isinstance(t, mi.UnionType):
        return any(_reference_not_text(m) for m in t.types)
    return isinstance(t, mi.IntType | mi.FloatType | mi.EnumType | mi.BoolType)


def _reference_spec(name: str) -> tuple[Any, ...]:
    cls = EVENT_TYPES[name]
    struct = mi.type_info(cls)
    assert isinstance(struct, mi.StructType)
    if name != struct.tag or any(f.required for f in struct.fields):
        return ()
    fields: list[tuple[Any, ...]] = []
    for f in struct.fields:
        factory = None if f.default_factory is msgspec.NODEFAULT else f.default_factory
        if f.encode_name == decode._EXTRA:
            fields.append((None, f.name, decode._FAST_EXTRA, None, f.default, factory))
        elif f.encode_name == decode._SCOPED:
            fields.append((None, f.name, decode._FAST_SCOPED, None, f.default, factory))
        else:
            fields.append((f.encode_name, f.name, *_reference_kind(f.type), f.default, factory))
    return (cls, not hasattr(cls, "__post_init__"), tuple(fields))


def _reference_info(cls: type[Any]) -> tuple[Any, ...]:
    struct = mi.type_info(cls)
    assert isinstance(struct, mi.StructType)
    hints = typing.get_type_hints(cls)
    multi: dict[str, bool] = {}
    known = {"Event"}
    nonstr = []
    for f in struct.fields:
        if f.encode_name in (decode._EXTRA, decode._SCOPED):
            continue
        known.add(f.encode_name)
        if _reference_not_text(f.type):
            nonstr.append((f.encode_name, f.name))
        origin = typing.get_origin(hints[f.name])
        if origin in (dict, list):
            multi[f.encode_name] = origin is dict
    return str(struct.tag), frozenset(known), multi, tuple(nonstr)


def test_tables_equal_the_msgspec_inspect_ones() -> None:
    kinds: Counter[int] = Counter()
    for name in EVENT_TYPES:
        spec = decode._fast_spec(name)
        assert spec == _reference_spec(name), name
        info = decode._info(name)
        assert info is not None
        assert (info.tag, info.known, info.multi, info.nonstr) == _reference_info(info.cls), name
        kinds.update(field[2] for field in (spec[2] if spec else ()))
    # the comparison covers every kind the compiled decoder knows
    assert set(kinds) >= set(range(9)) - {decode._FAST_NO}, kinds
    assert decode._fast_spec("NoSuchEvent") is None


def test_compiled_decoder_builds_each_table_once() -> None:
    """The compiled decoder asks for a class's table on its first event only."""
    asked: Counter[str] = Counter()

    def spec_of(name: str) -> tuple[Any, ...] | None:
        asked[name] += 1
        return decode._fast_spec(name)

    decoder = decode.new_compiled_decoder(spec_of)
    if decoder is None:
        pytest.fail("the compiled codec is not built")
    events: Counter[str] = Counter()
    for _ in range(2):
        for path in SMALL_CAPTURES:
            conn = AmiConnection()
            conn.receive_data(read_bytes(path))
            for env in decoder.envelopes(iter(conn.next_frame, None)):
                events[type(env.item).__name__] += 1
    assert sum(events.values()) > 1000
    assert len(asked) > 10
    known = {n: k for n, k in asked.items() if n in EVENT_TYPES}  # unknown names: not kept
    assert set(known.values()) == {1}, [n for n, k in known.items() if k > 1]
