"""The tracker's two codecs, timed side by side in one run: compiled (``tracker.ami._speedups``,
when it is built) and the pure-Python reference. Whichever is active by default, each row
names the codec it ran."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from unittest import mock

from _common import NOTES


@dataclass(frozen=True)
class Codec:
    name: str
    parser: type[Any] | None
    """FrameParser class for AmiConnection (None: whatever AmiConnection uses)."""
    envelopes: Callable[[Iterable[Any]], Iterator[Any]] | None
    """frames -> envelopes (None: not available in this checkout)."""

    def connection(self) -> Any:
        from tracker.ami import AmiConnection, connection

        if self.parser is None:
            return AmiConnection()
        with mock.patch.object(connection, "FrameParser", self.parser):
            return AmiConnection()


def codecs() -> list[Codec]:
    """[compiled, pure] when the extension is built, else [pure] (with a note)."""
    try:
        from tracker.ami import parser, speedups
        from tracker.events import decode
    except ImportError:  # a checkout from before the compiled codec: one codec, unnamed
        envelopes = None
        with contextlib.suppress(ImportError):
            from tracker.events import envelopes
        return [Codec("", None, envelopes)]
    out = []
    module = speedups.compiled()
    if module is not None and decode.compiled_decoder is not None:
        out.append(Codec("compiled", module.FrameParser, decode.compiled_decoder.envelopes))
    else:
        NOTES.append(f"SKIPPED the compiled codec rows: {speedups.speedups_status()}")
    out.append(Codec("pure", parser.PyFrameParser, decode.envelopes_py))
    return out
