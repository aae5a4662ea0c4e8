"""``ami-tracker export --db URL [--server NAME] [--from T] [--until T] -o FILE.ami[.gz]``.

Writes the stored frames byte for byte: exporting an imported capture gives that capture
back exactly. A range that spans several AMI sessions gives one file per session
(``FILE.1.ami``, ``FILE.2.ami``, ...), since a capture holds one connection's bytes.
"""

from __future__ import annotations

import argparse
import gzip
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, cast

from ._common import point_in_time
from ._store import TIME_HELP, add_db, guarded


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("export", help="write stored frames as a capture file")
    add_db(p)
    p.add_argument("--from", dest="since", type=point_in_time, metavar="TIME", help=TIME_HELP)
    p.add_argument("--until", type=point_in_time, metavar="TIME", help=TIME_HELP)
    p.add_argument(
        "-o", "--output", required=True, type=Path, metavar="FILE", help=".ami or .ami.gz"
    )
    p.set_defaults(func=run)


def _open(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return cast(IO[bytes], gzip.open(path, "wb"))
    return path.open("wb")


def _numbered(path: Path, n: int) -> Path:
    name = path.name
    for ext in (".ami.gz", ".ami", ".gz"):
        if name.endswith(ext):
            return path.with_name(f"{name[: -len(ext)]}.{n}{ext}")
    return path.with_name(f"{name}.{n}")


@guarded("export")
def run(args: argparse.Namespace) -> int:
    from ..store import open_store

    with open_store(args.db) as store:
        info = store.server(args.server)
        first = store.first_stored_seq(info.id)
        if first is None:
            print(f"ami-tracker export: no frame stored for {info.name}", file=sys.stderr)
            return 1
        if first > 0 and args.since is None:
            print(
                f"ami-tracker export: warning: the log before seq {first} was pruned",
                file=sys.stderr,
            )
        pieces: Iterator[tuple[int, bytes]]
        if args.since is None and args.until is None:
            pieces = (
                (sid, b"".join(raws)) for sid, _, raws in store.iter_raw(info.id, first=first)
            )
        else:
            pieces = (
                (f.session_id, f.frame.raw)
                for f in store.iter_frames(info.name, since=args.since, until=args.until)
            )
        written = _write(args.output, pieces)
    if not written:
        print("ami-tracker export: no frame in that range", file=sys.stderr)
        return 1
    for path, size in written:
        print(f"{path}: {size} bytes", file=sys.stderr)
    return 0


def _write(output: Path, pieces: Iterator[tuple[int, bytes]]) -> list[tuple[Path, int]]:
    """Write each session's bytes to its own file; returns ``(path, bytes)`` per file."""
    out: IO[bytes] | None = None
    files: list[tuple[Path, int]] = []
    session: int | None = None
    try:
        for sid, data in pieces:
            if sid != session:
                if out is not None:
                    out.close()
                    if len(files) == 1:  # a second session: number the first file too
                        renamed = _numbered(output, 1)
                        output.replace(renamed)
                        files[0] = (renamed, files[0][1])
                path = output if not files else _numbered(output, len(files) + 1)
                out = _open(path)
                files.append((path, 0))
                session = sid
            assert out is not None
            out.write(data)
            files[-1] = (files[-1][0], files[-1][1] + len(data))
    finally:
        if out is not None:
            out.close()
    return files
