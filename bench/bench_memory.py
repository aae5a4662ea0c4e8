"""Memory held per live call: fold the beginning of many real calls that never hang up.

The template is one answered two-party call from the load capture (Local pairs on both sides,
~70 frames: Newchannel, VarSet, Newexten, DialBegin/DialEnd, Newstate, BridgeCreate,
BridgeEnter, ...), cut before its first hang-up or bridge-leave frame. Each copy gets its own
Uniqueid/Linkedid values, channel names and bridge ids; the copies are fed through the whole
path (bytes -> frames -> typed events -> reducer) and the memory still allocated at the end
(tracemalloc, traced from before the Reducer is made) is the World's.
"""

from __future__ import annotations

import enum
import gc
import re
import sys
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

from _common import (
    NOTES,
    Row,
    arg_parser,
    load_stream,
    maxrss_mb,
    optional,
    print_notes,
    print_table,
)
from bench_codec import tracker_frames
from bench_fold import world_note

from tracker.ami import AmiConnection, Frame

_ENDS = {"Hangup", "HangupRequest", "SoftHangupRequest", "BridgeLeave", "BridgeDestroy"}
_ID = re.compile(rb"((?:Uniqueid|Linkedid|UniqueID): )(\d+\.\d+)")
_CHAN = re.compile(rb"@(\w+)-([0-9a-f]{8});")
_UUID = re.compile(rb"[0-9a-f]{8}(-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")


def call_template(data: bytes) -> tuple[bytes, bytes, int]:
    """(banner, raw bytes of one live call's frames, frame count) from a capture."""
    conn = AmiConnection()
    frames: list[Frame] = conn.frames(data) + conn.frames(b"")
    banner = frames[0].raw
    by_call: dict[str, list[int]] = {}
    for i, f in enumerate(frames):
        linked = f.get("Linkedid") or f.get("DestLinkedid")
        if linked:
            by_call.setdefault(linked, []).append(i)
    for idx in by_call.values():
        names = [frames[i].name for i in idx]
        if "BridgeEnter" not in names or any(n.startswith("Queue") for n in names):
            continue
        cut = next(k for k, n in enumerate(names) if n in _ENDS)
        chosen = idx[:cut]
        bridges = {frames[i].get("BridgeUniqueid") for i in chosen} - {None}
        chosen += [
            i
            for i, f in enumerate(frames)
            if f.name == "BridgeCreate" and f.get("BridgeUniqueid") in bridges
        ]
        chosen.sort()
        return banner, b"".join(frames[i].raw for i in chosen), len(chosen)
    raise SystemExit("no two-party bridged call found in the capture")


def copies(template: bytes, n: int) -> Iterator[bytes]:
    """``n`` copies of ``template``, each with unique call ids, channel names and bridge ids."""
    ids: dict[bytes, int] = {}
    chans: dict[bytes, int] = {}
    for m in _ID.finditer(template):
        ids.setdefault(m.group(2), len(ids))
    for m in _CHAN.finditer(template):
        chans.setdefault(m.group(2), len(chans))
    width = len(chans)

    def one(k: int) -> bytes:
        epoch = b"%d" % (1900000000 + k)
        text = _ID.sub(lambda m: m.group(1) + epoch + b".%d" % ids[m.group(2)], template)
        text = _CHAN.sub(lambda m: b"@%s-%08x;" % (m.group(1), k * width + chans[m.group(2)]), text)
        return _UUID.sub(lambda m: b"%08x" % k + m.group(1), text)

    for k in range(n):
        yield one(k)


def deep_size(root: object) -> int:
    """``sys.getsizeof`` of every object reachable from ``root``, each counted once.

    Walks containers, msgspec Structs (``gc=False`` ones are invisible to ``gc``), ``__dict__``
    and ``__slots__``; skips types, functions, enum members and None/bool singletons.
    """
    seen: set[int] = set()
    stack = [root]
    total = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or obj is None or isinstance(obj, bool | type | enum.Enum):
            continue
        if callable(obj):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            stack.extend(obj)
        elif isinstance(obj, str | bytes | int | float):
            continue
        else:
            cls = type(obj)
            names = getattr(cls, "__struct_fields__", None)
            if names is None:
                names = [n for c in cls.__mro__ for n in getattr(c, "__slots__", ())]
                if hasattr(obj, "__dict__"):
                    stack.append(vars(obj))
            stack.extend(getattr(obj, n) for n in names if hasattr(obj, n))
    return total


def fold_calls(
    envelopes: Any, reducer_cls: Any, banner: bytes, template: bytes, calls: int
) -> tuple[Any, int, float]:
    """(reducer, frames folded, seconds) after folding ``calls`` live calls from bytes."""

    def parts() -> Iterator[bytes]:
        yield banner
        batch: list[bytes] = []
        for text in copies(template, calls):
            batch.append(text)
            if len(batch) == 64:
                yield b"".join(batch)
                batch.clear()
        yield b"".join(batch)

    t0 = time.perf_counter()
    reducer = reducer_cls()
    apply = reducer.apply
    n = 0
    for env in envelopes(tracker_frames(parts())):
        apply(env)
        n += 1
    return reducer, n, time.perf_counter() - t0


def main() -> None:
    args = arg_parser(__doc__).parse_args()
    envelopes = optional("tracker.events", "envelopes", fallback="tracker.events.decode")
    reducer_cls = optional("tracker.reducer", "Reducer", why="live-call memory")
    banner, template, per_call = call_template(load_stream())
    title = f"memory: live calls ({per_call} frames per call; MB = memory held at the end)"
    if envelopes is None or reducer_cls is None:
        print_table(title, [])
        print_notes()
        return
    rows = []
    # 1. all the calls, untraced: time, and a getsizeof walk of the World
    rss0 = maxrss_mb()
    reducer, n, secs = fold_calls(envelopes, reducer_cls, banner, template, args.calls)
    size = deep_size(reducer.world)
    rows.append(
        Row(
            f"{args.calls:,} live calls: World (getsizeof walk)",
            n,
            secs,
            size / 1e6,
            f"{size / args.calls:,.0f} B/call; ru_maxrss +{maxrss_mb() - rss0:.0f} MB;"
            f" {world_note(reducer.world)}",
        )
    )
    del reducer
    # 2. fewer calls under tracemalloc (every allocation traced from before the Reducer)
    traced = min(args.calls, 500)
    gc.collect()
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        _, n, secs = fold_calls(envelopes, reducer_cls, banner, template, traced)
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    per = (held - base) / traced
    rows.append(
        Row(
            f"{traced:,} live calls: all memory held (tracemalloc)",
            n,
            secs,
            (held - base) / 1e6,
            f"{per:,.0f} B/call -> {per * args.calls / 1e6:.0f} MB for {args.calls:,} calls",
        )
    )
    print_table(title, rows)
    NOTES.append("target: state for 10,000 live calls < 200 MB")
    print_notes()


if __name__ == "__main__":
    main()
