"""Codec benchmark: bytes -> frames and bytes -> typed events, side by side with panoramisk.

Input is fed in 64 KiB chunks, like socket reads. Figures: best wall time of ``--rounds`` runs;
peak MB from a separate tracemalloc run; retained bytes per item with the result list kept.
A second table times the framer's known worst case (a stray CRLF after every frame), fed in
one piece and in 64 KiB chunks: it must stay linear, close to a clean stream of the same size.
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
    load_stream,
    optional,
    peak_mb,
    print_notes,
    print_table,
    retained_bytes,
    streams,
    timed,
)
from _tracker_codecs import Codec, codecs

from tracker.ami import AmiConnection, Frame


def tracker_frames(parts: Iterable[bytes], codec: Codec | None = None) -> Iterator[Frame]:
    conn = AmiConnection() if codec is None else codec.connection()
    for part in parts:
        conn.receive_data(part)
        yield from conn
    conn.receive_data(b"")
    yield from conn


def count(it: Iterator[Any]) -> int:
    n = 0
    for _ in it:
        n += 1
    return n


def typed_pipeline() -> Callable[[list[bytes]], Iterator[Any]] | None:
    """bytes -> typed items via ``tracker.events.envelopes`` (or ``decode_frame``)."""
    envelopes = optional(
        "tracker.events",
        "envelopes",
        fallback="tracker.events.decode",
        why="typed events (envelopes)",
    )
    if envelopes is not None:

        def via_envelopes(parts: list[bytes]) -> Iterator[Any]:
            for env in envelopes(tracker_frames(parts)):
                yield env.item

        return via_envelopes
    decode_frame = optional(
        "tracker.events",
        "decode_frame",
        fallback="tracker.events.decode",
        why="typed events (decode_frame)",
    )
    if decode_frame is None:
        return None

    def via_decode(parts: list[bytes]) -> Iterator[Any]:
        for frame in tracker_frames(parts):
            yield decode_frame(frame)

    return via_decode


def panoramisk_parser() -> Callable[[list[bytes], bool], Any] | None:
    """panoramisk's own receive path: ``AMIProtocol.data_received`` -> ``Message`` objects."""
    proto_cls = optional("panoramisk.ami_protocol", "AMIProtocol", why="panoramisk comparison")
    if proto_cls is None:
        return None
    logging.getLogger("panoramisk").setLevel(logging.WARNING)

    class Transport:
        def write(self, data: bytes) -> None:
            pass

        def close(self) -> None:
            pass

    class Factory:
        save_stream = None

        def dispatch(self, message: Any) -> None:
            pass

    class Counting(proto_cls):  # type: ignore[misc, valid-type]
        """Counts (and optionally keeps) every Message the protocol built."""

        keep = False
        count = 0

        def handle_message(self, message: Any) -> None:
            self.count += 1
            if self.keep:
                self.messages.append(message)
            super().handle_message(message)

    def run(parts: list[bytes], keep: bool) -> Any:
        proto = Counting()
        proto.connection_made(Transport())
        proto.encoding = "utf-8"  # what panoramisk's Manager sets when asked for utf8
        proto.factory = Factory()
        proto.messages = []
        proto.keep = keep
        for part in parts:
            proto.data_received(part)
        return proto

    return run


def bench(label: str, data: bytes, rounds: int) -> list[Row]:
    parts = list(chunks(data))
    rows: list[Row] = []

    def add(name: str, fn: Callable[[], int], keep: Callable[[], list[Any]]) -> None:
        n, secs = timed(fn, rounds)
        row = Row(f"{name} [{label}]", n, secs, peak_mb(fn))
        kept, nbytes = retained_bytes(keep)
        assert isinstance(kept, list)
        row.note = f"retained {nbytes / max(1, len(kept)):,.0f} B/item"
        del kept
        rows.append(row)

    for codec in codecs():
        tag = f", {codec.name}" if codec.name else ""

        def frames(codec: Codec = codec) -> Iterator[Frame]:
            return tracker_frames(parts, codec)

        add(f"tracker frames (AmiConnection{tag})", lambda: count(frames()), lambda: list(frames()))
        if codec.envelopes is not None:

            def typed(codec: Codec = codec) -> Iterator[Any]:
                assert codec.envelopes is not None
                return (env.item for env in codec.envelopes(tracker_frames(parts, codec)))

            add(
                f"tracker typed events ({codec.name or 'envelopes'})",
                lambda: count(typed()),
                lambda: list(typed()),
            )
        elif (old := typed_pipeline()) is not None:
            add("tracker typed events", lambda: count(old(parts)), lambda: list(old(parts)))
    pano = panoramisk_parser()
    if pano is not None:
        add(
            "panoramisk messages (data_received)",
            lambda: int(pano(parts, False).count),
            lambda: list(pano(parts, True).messages),
        )
    return rows


def worst_cases() -> list[tuple[str, bytes]]:
    """1 MiB streams: tiny frames and the load capture, each frame followed by a stray CRLF."""
    size = 1 << 20
    banner = b"Asterisk Call Manager/22.0.0\r\n"
    tiny = b"Event: Ping\r\nA: b\r\n\r\n"
    load = load_stream()[:size]
    return [
        ("tiny", banner + tiny * (size // len(tiny))),
        ("tiny + CRLF", banner + (tiny + b"\r\n") * (size // (len(tiny) + 2))),
        ("load 1M", load),
        ("load 1M + CRLF", load.replace(b"\r\n\r\n", b"\r\n\r\n\r\n")),
    ]


def bench_worst(rounds: int) -> list[Row]:
    rows: list[Row] = []
    for codec in codecs():
        tag = f" ({codec.name})" if codec.name else ""
        for label, data in worst_cases():
            for how, parts in (("1 feed", [data]), ("64K feeds", list(chunks(data)))):
                n, secs = timed(
                    lambda parts=parts, codec=codec: count(tracker_frames(parts, codec)), rounds
                )
                row = Row(f"tracker frames{tag} [{label}, {how}]", n, secs)
                row.note = f"{len(data) / secs / 1e6:,.1f} MB/s"
                rows.append(row)
    return rows


def main() -> None:
    args = arg_parser(__doc__).parse_args()
    rows: list[Row] = []
    for label, data in streams(args.repeat):
        rows += bench(label, data, args.rounds)
    print_table("codec: bytes -> frames / typed events (64 KiB chunks)", rows)
    worst = bench_worst(args.rounds)
    print_table("codec worst case: a stray CRLF after every frame (1 MiB)", worst)
    if any(r.name.startswith("panoramisk") for r in rows):
        NOTES.append(
            "panoramisk drops what it cannot parse and decodes the stream (not each message);"
            " its 'events' column counts Message objects it built"
        )
    print_notes()


if __name__ == "__main__":
    main()
