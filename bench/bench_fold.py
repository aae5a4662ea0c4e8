"""Fold benchmark: typed events -> state, and bytes -> state, side by side with cacofonisk.

``fold`` times only the reducer over envelopes decoded beforehand; ``parse+fold`` times the whole
path from 64 KiB chunks of bytes. cacofonisk is timed the same two ways: its ``EventHandler``
over panoramisk ``Message`` objects parsed beforehand, and panoramisk's ``data_received``
feeding the handler (with the event filter cacofonisk's runner installs).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from _common import (
    NOTES,
    Row,
    arg_parser,
    chunks,
    optional,
    peak_mb,
    print_notes,
    print_table,
    streams,
    timed,
)
from _tracker_codecs import codecs
from bench_codec import panoramisk_parser, tracker_frames


def tracker_parts() -> tuple[Any, Any] | None:
    envelopes = optional(
        "tracker.events", "envelopes", fallback="tracker.events.decode", why="tracker fold"
    )
    reducer_cls = optional("tracker.reducer", "Reducer", why="tracker fold")
    if envelopes is None or reducer_cls is None:
        return None
    return envelopes, reducer_cls


def fold(reducer_cls: Any, envs: Iterable[Any]) -> tuple[int, Any]:
    reducer = reducer_cls()
    apply = reducer.apply
    n = 0
    for env in envs:
        apply(env)
        n += 1
    return n, reducer.world


def world_note(world: Any) -> str:
    sizes = []
    for name in ("channels", "bridges", "calls", "queues"):
        value = getattr(world, name, None)
        if isinstance(value, dict):
            sizes.append(f"{name}={len(value)}")
    for name in ("calls_ended", "anomalies"):
        value = getattr(world, name, None)
        if isinstance(value, int):
            sizes.append(f"{name}={value}")
    return "end: " + " ".join(sizes)


def cacofonisk_handler() -> tuple[Callable[[], Any], set[str]] | None:
    handlers = optional("cacofonisk.handlers", "EventHandler", why="cacofonisk comparison")
    reporters = optional("cacofonisk.reporters", "BaseReporter", why="cacofonisk comparison")
    if handlers is None or reporters is None:
        return None
    logging.getLogger("cacofonisk").setLevel(logging.CRITICAL)
    logging.getLogger("cacofonisk.handlers").setLevel(logging.CRITICAL)
    wanted = set(handlers.event_handlers())
    return (lambda: handlers(reporter=reporters(), logger=logging.getLogger("cacofonisk"))), wanted


def caco_fold(make: Callable[[], Any], wanted: set[str], messages: Iterable[Any]) -> list[int]:
    """Feed events to a fresh handler like cacofonisk's runner; returns [events seen, errors]."""
    handler = make()
    on_event = handler.on_event
    seen = errors = 0
    for message in messages:
        seen += 1
        name = message.get("Event")
        if name in wanted:
            try:
                on_event(message)
            except Exception:  # its asserts fire on real streams: count, go on
                errors += 1
    return [seen, errors]


def bench(label: str, data: bytes, rounds: int) -> list[Row]:
    parts = list(chunks(data))
    rows: list[Row] = []
    found = tracker_parts()
    if found is not None:
        envelopes, reducer_cls = found
        envs = list(envelopes(tracker_frames(parts)))

        def fold_only() -> int:
            return fold(reducer_cls, envs)[0]

        n, secs = timed(fold_only, rounds)
        world = fold(reducer_cls, envs)[1]
        rows.append(Row(f"tracker fold [{label}]", n, secs, peak_mb(fold_only), world_note(world)))
        del envs

        for codec in codecs():
            envs_of = codec.envelopes or envelopes

            def parse_fold(codec: Any = codec, envs_of: Any = envs_of) -> int:
                return fold(reducer_cls, envs_of(tracker_frames(parts, codec)))[0]

            n, secs = timed(parse_fold, rounds)
            name = f"tracker parse+fold ({codec.name}) [{label}]" if codec.name else ""
            rows.append(Row(name or f"tracker parse+fold [{label}]", n, secs, peak_mb(parse_fold)))

        replay_fold = optional("tracker.replay", "fold", why="tracker.replay.fold row")
        if replay_fold is not None:
            result: list[Any] = []

            def via_replay() -> int:
                result[:] = [replay_fold(envelopes(tracker_frames(parts)))]
                return int(result[0].events)

            n, secs = timed(via_replay, rounds)
            changes = sum(result[0].changes.values())
            rows.append(
                Row(
                    f"tracker replay.fold (parse+fold+changes) [{label}]",
                    n,
                    secs,
                    None,
                    f"{changes:,} changes, {len(result[0].call_records)} call records",
                )
            )

    caco = cacofonisk_handler()
    pano = panoramisk_parser()
    if caco is not None and pano is not None:
        make, wanted = caco
        messages = pano(parts, True).messages
        stats: list[int] = []

        def caco_only() -> int:
            stats[:] = caco_fold(make, wanted, messages)
            return stats[0]

        n, secs = timed(caco_only, rounds)
        rows.append(
            Row(
                f"cacofonisk fold [{label}]",
                n,
                secs,
                peak_mb(caco_only),
                f"{stats[1]} events raised in its handlers",
            )
        )
        del messages

        def caco_parse_fold() -> int:
            return caco_fold(make, wanted, iter_messages(pano, parts))[0]

        n, secs = timed(caco_parse_fold, rounds)
        rows.append(Row(f"cacofonisk parse+fold [{label}]", n, secs, peak_mb(caco_parse_fold)))
    return rows


def iter_messages(pano: Callable[[list[bytes], bool], Any], parts: list[bytes]) -> Iterator[Any]:
    """panoramisk messages as they are parsed, one 64 KiB read at a time."""
    proto = None
    for part in parts:
        proto = pano([part], True) if proto is None else _feed(proto, part)
        yield from proto.messages
        proto.messages.clear()


def _feed(proto: Any, part: bytes) -> Any:
    proto.data_received(part)
    return proto


def main() -> None:
    args = arg_parser(__doc__).parse_args()
    rows: list[Row] = []
    for label, data in streams(args.repeat):
        rows += bench(label, data, args.rounds)
    print_table("fold: typed events -> state, bytes -> state", rows)
    NOTES.append(
        "events = every frame (tracker) / every panoramisk Message (cacofonisk, which only"
        " handles the ~20 event names its runner subscribes to)"
    )
    print_notes()


if __name__ == "__main__":
    main()
