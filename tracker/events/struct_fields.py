"""A Struct class's fields with their types: what ``msgspec.structs.fields`` gives, cheaply.

The decoders build a table per event class on its first event. ``msgspec.structs.fields`` and
``msgspec.inspect.type_info`` evaluate every annotation string of the class and of each base
(the vocabulary uses ``from __future__ import annotations``) at every call: with
``typing.get_type_hints`` that cost ~1.2 ms per class, so the first ``world_at`` of a process
(~30 event classes) spent 30-50 ms building tables. The 227 event classes' 4 686 fields use 19
distinct annotations: here each is evaluated once per module, and a class's fields cost ~20 us.
``tests/events/test_struct_fields.py`` checks the result equals msgspec's for every class.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

import msgspec
from msgspec.structs import FieldInfo


class _Probe(msgspec.Struct):
    x: list[int] = msgspec.field(default_factory=list)


_FACTORY = type(_Probe.__struct_defaults__[0])
"""msgspec's wrapper of a ``default_factory`` in ``__struct_defaults__``."""
_TYPES: dict[tuple[str, str], Any] = {}
"""(module, annotation text) -> the type it names."""


def _resolve(module: str, annotation: Any) -> Any:
    if not isinstance(annotation, str):
        return annotation
    key = (module, annotation)
    try:
        return _TYPES[key]
    except KeyError:
        pass
    # what typing.get_type_hints does: the text evaluated in its module's namespace
    found = _TYPES[key] = eval(annotation, vars(sys.modules[module]))
    return found


def struct_fields(cls: type[msgspec.Struct]) -> tuple[FieldInfo, ...]:
    """``msgspec.structs.fields(cls)`` for a plain (not generic) Struct class."""
    hints: dict[str, Any] = {}
    for base in reversed(cls.__mro__):
        annotations = inspect.get_annotations(base)  # the class's own, not inherited
        if annotations:
            module = base.__module__
            for name, annotation in annotations.items():
                hints[name] = _resolve(module, annotation)
    names = cls.__struct_fields__
    defaults = cls.__struct_defaults__
    given = (msgspec.NODEFAULT,) * (len(names) - len(defaults)) + defaults
    out: list[FieldInfo] = []
    for name, encode_name, given_default in zip(
        names, cls.__struct_encode_fields__, given, strict=True
    ):
        default: Any = msgspec.NODEFAULT
        factory: Any = msgspec.NODEFAULT
        if isinstance(given_default, _FACTORY):
            factory = given_default.factory
        else:
            default = given_default
        out.append(FieldInfo(name, encode_name, hints[name], default, factory))
    return tuple(out)
