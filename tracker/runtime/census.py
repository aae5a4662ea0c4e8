"""The channels a captured Asterisk had at any point of its capture (the simulator's
``CoreShowChannels`` answer for "now").

A recorded list answer describes the PBX only where it was taken. To answer a
``CoreShowChannels`` sent at another point, the census reads the capture's own frames up to that
point: ``Newchannel`` adds a channel and ``Hangup`` removes it; every event that carries a
channel's snapshot (``Uniqueid``, ``Channel``, ``ChannelState``, ..., ``ChanVariable``)
refreshes it; ``Newexten`` sets its application, ``BridgeEnter``/``BridgeLeave`` its bridge; the
items of a ``CoreShowChannels`` answer in the capture add channels created before the capture
began. The answer is rendered as Asterisk 22 does (``manager_channels.c``): ``Response: Success``
with ``EventList: start``, one ``CoreShowChannel`` per channel in creation order, then
``CoreShowChannelsComplete`` with ``ListItems``.

The census reads frames the simulator may withhold from a client (fault injection: events lost
on the way), so a client that lost a ``Hangup`` is told what Asterisk really has.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence

from ..ami import Frame, FrameKind, encode_headers

SNAPSHOT = (
    "Channel",
    "ChannelState",
    "ChannelStateDesc",
    "CallerIDNum",
    "CallerIDName",
    "ConnectedLineNum",
    "ConnectedLineName",
    "Language",
    "AccountCode",
    "Context",
    "Exten",
    "Priority",
    "Uniqueid",
    "Linkedid",
)
"""A channel snapshot's unprefixed headers, in Asterisk's order."""
_FIELDS = frozenset(SNAPSHOT)
GONE_KEEP = 4096
"""Hung-up Uniqueids remembered, so that a late list item does not revive them."""


class _Channel:
    __slots__ = ("app", "app_data", "bridge", "created", "fields", "variables")

    def __init__(self, created: float) -> None:
        self.fields: dict[str, str] = {}
        self.variables: list[str] = []
        self.app = ""
        self.app_data = ""
        self.bridge = ""
        self.created = created

    def refresh(self, frame: Frame) -> None:
        variables: list[str] = []
        fields = self.fields
        for key, value in frame.headers:
            if key in _FIELDS:
                fields[key] = value
            elif key == "ChanVariable":
                variables.append(value)
        if variables:
            self.variables = variables


def _duration(seconds: float) -> str:
    total = max(0, int(seconds))
    return f"{total // 3600:02d}:{total // 60 % 60:02d}:{total % 60:02d}"


def _seconds(text: str | None) -> float:
    total = 0
    for part in (text or "").split(":"):
        if not part.isdigit():
            return 0.0
        total = total * 60 + int(part)
    return float(total)


class ChannelCensus:
    """Live channels at a point of ``stream``; ``advance(position)`` reads up to it."""

    def __init__(self, stream: Sequence[Frame], before: Iterable[Frame] = ()) -> None:
        self._stream = stream
        self._next = 0
        self.position = 0
        """Frames of ``stream`` read so far."""
        self.clock = 0.0
        """Latest ``Timestamp`` read (the capture's time at ``position``)."""
        self.live: dict[str, _Channel] = {}
        self._gone: dict[str, None] = {}
        for frame in before:  # list answers recorded before the stream began
            self._read(frame)

    def advance(self, position: int) -> None:
        stream = self._stream
        end = min(position, len(stream))
        read = self._read
        for i in range(self._next, end):
            read(stream[i])
        self._next = self.position = max(self._next, end)

    def _read(self, frame: Frame) -> None:
        kind = frame.kind
        if kind is FrameKind.EVENT:
            stamp = frame.get("Timestamp")
            if stamp is not None:
                with contextlib.suppress(ValueError):
                    self.clock = max(self.clock, float(stamp))
            uid = frame.get("Uniqueid")
            if not uid:
                return
            name = frame.headers[0][1]
            ch = self.live.get(uid)
            if ch is None:
                if name != "Newchannel" or uid in self._gone:
                    return
                ch = self.live[uid] = _Channel(self.clock)
            elif name == "Hangup":
                del self.live[uid]
                self._forget(uid)
                return
            ch.refresh(frame)
            if name == "Newexten":
                ch.app = frame.get("Application") or ""
                ch.app_data = frame.get("AppData") or ""
            elif name == "BridgeEnter":
                ch.bridge = frame.get("BridgeUniqueid") or ""
            elif name == "BridgeLeave":
                ch.bridge = ""
        elif kind is FrameKind.LIST_ITEM and frame.headers[0][1] == "CoreShowChannel":
            uid = frame.get("Uniqueid")
            if not uid or uid in self.live or uid in self._gone:
                return
            ch = self.live[uid] = _Channel(self.clock - _seconds(frame.get("Duration")))
            ch.refresh(frame)
            ch.app = frame.get("Application") or ""
            ch.app_data = frame.get("ApplicationData") or ""
            ch.bridge = frame.get("BridgeId") or ""

    def _forget(self, uid: str) -> None:
        gone = self._gone
        gone[uid] = None
        if len(gone) > GONE_KEEP:
            del gone[next(iter(gone))]

    def answer(self, action_id: str | None) -> bytes:
        """The whole ``CoreShowChannels`` answer (response, items, complete) for now."""
        aid: list[tuple[str, str]] = [] if action_id is None else [("ActionID", action_id)]
        items = []
        for ch in self.live.values():
            fields = ch.fields
            headers = [("Event", "CoreShowChannel"), *aid]
            headers.extend((key, fields.get(key, "")) for key in SNAPSHOT)
            headers.extend(("ChanVariable", v) for v in ch.variables)
            headers += [
                ("Application", ch.app),
                ("ApplicationData", ch.app_data),
                ("Duration", _duration(self.clock - ch.created)),
                ("BridgeId", ch.bridge),
            ]
            items.append(encode_headers(headers))
        return list_answer(action_id, "Channels will follow", "CoreShowChannelsComplete", items)


def list_answer(action_id: str | None, message: str, complete: str, items: list[bytes]) -> bytes:
    """A list action's whole answer as Asterisk writes it: ``Response: Success`` with
    ``EventList: start``, the (encoded) items, then the complete event with ``ListItems``."""
    aid: list[tuple[str, str]] = [] if action_id is None else [("ActionID", action_id)]
    head = [("Response", "Success"), *aid, ("EventList", "start"), ("Message", message)]
    tail = [("Event", complete), *aid, ("EventList", "Complete"), ("ListItems", str(len(items)))]
    return b"".join([encode_headers(head), *items, encode_headers(tail)])


__all__ = ["ChannelCensus", "list_answer"]
