"""Call records <-> rows of ``calls``, ``call_legs`` and ``transfers``, derived from the structs.

The columns of ``calls`` are the fields of :class:`tracker.state.call.Call`, nested records
flattened with their field name as a prefix (``caller.num`` -> ``caller_num``); a time (a column of
type :class:`UtcDateTime`) takes the suffix ``_at`` unless its name already ends in ``at``
(``start`` -> ``start_at``, ``parked.at`` -> ``parked_at``). A nested record that is None has all
its columns NULL. Adding a field to the record therefore means adding one column (and a
migration); ``unmapped()`` names the fields that have none (a test keeps it empty).
"""

from __future__ import annotations

import functools
import itertools
import operator
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Union, get_args, get_origin

import msgspec
from sqlalchemy import Table

from ..state.call import Call, Leg, Transfer
from .reporting import CALL_LEGS as LEGS
from .reporting import CALLS, TRANSFERS
from .reporting_types import UtcDateTime, to_datetime, to_epoch

CHILD_LISTS = frozenset({"legs", "ended_legs", "transfers", "live"})
"""List fields of ``Call`` kept in child tables (``live`` is always empty once a call ended)."""

Path = tuple[str, ...]


class Plan(msgspec.Struct, frozen=True):
    columns: tuple[tuple[Path, str, bool], ...]
    """(field path, column name, is a time) for every mapped leaf."""
    optional: tuple[tuple[Path, type[msgspec.Struct]], ...]
    """Nested records that may be None (all their columns NULL then)."""
    missing: tuple[str, ...]
    """Leaves without a column."""


def _struct_of(tp: Any) -> tuple[type[msgspec.Struct] | None, bool]:
    """The Struct class inside ``tp`` (``X`` or ``X | None``) and whether None is allowed."""
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return tp, False
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1 and isinstance(args[0], type) and issubclass(args[0], msgspec.Struct):
            return args[0], True
    return None, False


def _is_list(tp: Any) -> bool:
    return get_origin(tp) is list or tp is list


@functools.cache
def plan(struct: type[msgspec.Struct], table: Table, skip: frozenset[str] = CHILD_LISTS) -> Plan:
    columns: list[tuple[Path, str, bool]] = []
    optional: list[tuple[Path, type[msgspec.Struct]]] = []
    missing: list[str] = []

    def walk(cls: type[msgspec.Struct], path: Path) -> None:
        for field in msgspec.structs.fields(cls):
            here = (*path, field.name)
            if not path and field.name in skip:
                continue
            nested, nullable = _struct_of(field.type)
            if nested is not None:
                if nullable:
                    optional.append((here, nested))
                walk(nested, here)
                continue
            if _is_list(field.type):
                missing.append(".".join(here))
                continue
            name = "_".join(here)
            for candidate in (name, name if name.endswith("at") else f"{name}_at"):
                column = table.c.get(candidate)
                if column is not None:
                    columns.append((here, candidate, isinstance(column.type, UtcDateTime)))
                    break
            else:
                missing.append(".".join(here))

    walk(struct, ())
    return Plan(columns=tuple(columns), optional=tuple(optional), missing=tuple(missing))


def unmapped() -> list[str]:
    """Fields of the call record (and its legs and transfers) that no column holds."""
    return [
        *plan(Call, CALLS).missing,
        *(f"ended_legs.{m}" for m in plan(Leg, LEGS, frozenset()).missing),
        *(f"transfers.{m}" for m in plan(Transfer, TRANSFERS, frozenset()).missing),
    ]


def to_row(
    struct: msgspec.Struct,
    table: Table,
    skip: frozenset[str] = CHILD_LISTS,
    *,
    epochs: bool = False,
) -> dict[str, Any]:
    """The row of ``table`` holding ``struct`` (a None nested record: its columns are None);
    times as datetimes, or as the record's epoch seconds with ``epochs``."""
    return _row_maker(type(struct), table, skip, epochs)(struct)


def fields_getter(names: Sequence[str]) -> Callable[[Any], tuple[Any, ...]]:
    """A function giving the attributes ``names`` of an object as a tuple (in C when there
    are two or more: ``operator.attrgetter``)."""
    if len(names) > 1:
        return operator.attrgetter(*names)
    if names:
        one = operator.attrgetter(names[0])
        return lambda record: (one(record),)
    return lambda record: ()


def _flattener(paths: Sequence[Path]) -> Callable[[Any], list[Any]]:
    """A function giving the values at ``paths`` (relative to one record, in order; the paths
    of a nested record consecutive) as a list; a nested record that is None gives Nones.

    One ``attrgetter`` per record level reads all its fields in C (this runs for every call
    row, leg and transfer the projection writes)."""
    heads = [name for name, _ in itertools.groupby(path[0] for path in paths)]
    nested: list[tuple[int, Callable[[Any], list[Any]], int]] = []
    for i, (_, group) in enumerate(itertools.groupby(paths, key=operator.itemgetter(0))):
        rest = [path[1:] for path in group]
        if rest != [()]:
            nested.append((i, _flattener(rest), len(rest)))
    get = fields_getter(heads)
    if not nested:
        return lambda record: list(get(record))

    def flatten(record: Any) -> list[Any]:
        values = get(record)
        out: list[Any] = []
        done = 0
        for i, inner, n in nested:
            out += values[done:i]
            value = values[i]
            out += [None] * n if value is None else inner(value)
            done = i + 1
        out += values[done:]
        return out

    return flatten


@functools.cache
def _row_maker(
    struct: type[msgspec.Struct], table: Table, skip: frozenset[str], epochs: bool
) -> Callable[[msgspec.Struct], dict[str, Any]]:
    """``to_row`` for one record class and table, its plan read once."""
    columns = plan(struct, table, skip).columns
    names = [column for _, column, _ in columns]
    times = [] if epochs else [i for i, (_, _, is_time) in enumerate(columns) if is_time]
    if not columns:
        return lambda record: {}
    flatten = _flattener([path for path, _, _ in columns])
    if not times:
        return lambda record: dict(zip(names, flatten(record), strict=True))

    def make(record: msgspec.Struct) -> dict[str, Any]:
        values = flatten(record)
        for i in times:
            values[i] = to_datetime(values[i])
        return dict(zip(names, values, strict=True))

    return make


def from_row(
    struct: type[msgspec.Struct],
    table: Table,
    row: Mapping[str, Any],
    skip: frozenset[str] = CHILD_LISTS,
) -> dict[str, Any]:
    """The nested builtins of ``struct`` held by ``row`` (convert them with msgspec)."""
    p = plan(struct, table, skip)
    out: dict[str, Any] = {}
    for path, column, is_time in p.columns:
        value = row[column]
        target = out
        for name in path[:-1]:
            target = target.setdefault(name, {})
        target[path[-1]] = to_epoch(value) if is_time else value
    for path, _ in sorted(p.optional, key=lambda item: -len(item[0])):
        parent = out
        for name in path[:-1]:
            parent = parent[name]
        if all(v is None for v in _leaves(parent.get(path[-1], {}))):
            parent[path[-1]] = None
    return out


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    else:
        yield value


def leg_role(call: Call, leg: Leg) -> str:
    if leg.uniqueid == call.linkedid:
        return "caller"
    if call.callee is not None and call.callee.channel and leg.channel == call.callee.channel:
        return "callee"
    if leg.dialed_by == "":
        return "originated"
    if leg.dialed_by is not None:
        return "dialed"
    return "other"


def call_rows(
    call: Call, *, server_id: int, session_id: int, epochs: bool = False
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """The ``calls`` row and the ``call_legs`` and ``transfers`` rows (without ``call_id``);
    times as datetimes, or as epoch seconds with ``epochs``."""
    row = to_row(call, CALLS, epochs=epochs)
    row["server_id"] = server_id
    row["session_id"] = session_id
    position = {uid: i for i, uid in enumerate(call.legs)}
    legs = []
    leg_row = _row_maker(Leg, LEGS, frozenset(), epochs)
    for ordinal, leg in enumerate(call.ended_legs):
        got = leg_row(leg)
        got["ordinal"] = ordinal
        got["server_id"] = server_id
        got["position"] = position.get(leg.uniqueid, len(position) + ordinal)
        got["role"] = leg_role(call, leg)
        legs.append(got)
    transfers = []
    transfer_row = _row_maker(Transfer, TRANSFERS, frozenset(), epochs)
    for ordinal, transfer in enumerate(call.transfers):
        got = transfer_row(transfer)
        got["ordinal"] = ordinal
        transfers.append(got)
    return row, legs, transfers


_call_decoder = msgspec.json.Decoder(Call)


def call_from_rows(
    row: Mapping[str, Any],
    legs: Sequence[Mapping[str, Any]],
    transfers: Sequence[Mapping[str, Any]],
) -> Call:
    """Rebuild the call record (``legs`` and ``transfers`` ordered by ``ordinal``)."""
    data = from_row(Call, CALLS, row)
    ended = [from_row(Leg, LEGS, r, frozenset()) for r in legs]
    arrival = sorted({r["uniqueid"]: r["position"] for r in legs}.items(), key=lambda kv: kv[1])
    data["legs"] = [uid for uid, _ in arrival]
    data["ended_legs"] = ended
    data["transfers"] = [from_row(Transfer, TRANSFERS, r, frozenset()) for r in transfers]
    return msgspec.convert(data, Call)
