"""Sans-IO AMI client connection: framing plus ActionID correlation and EventList grouping.

Usage (h11 style)::

    conn = AmiConnection()
    conn.receive_data(chunk)            # b"" at end of stream
    while (frame := conn.next_frame()) is not None:
        if frame.completes: ...         # an action's full answer is here
    wire = conn.send_action("Ping")     # bytes to write; conn.last_action_id names it

List replies reuse live event names (``ParkedCalls`` answers with ``ParkedCall``), so an
``Event:`` frame is classified ``LIST_ITEM`` exactly when its ActionID belongs to an open list;
a list opens on a ``Response`` with ``EventList: start`` (or on any success response to an
action we sent as a list action) and closes on the event with ``EventList: Complete`` (or the
declared complete event name). This works on a passive capture too, without the sent actions.

Lists are bounded, since a server may open lists nobody asked for and never close them: the
items are kept (for ``ActionResult.items``) only for lists of actions sent through this
connection, at most ``max_list_items`` per list; at most ``max_open_lists`` lists are open at
once (the oldest unsolicited one is closed first). Either overflow is counted in
``list_overflows`` and noted in ``problem`` of the frame where it happened; that frame and the
ones after it still flow out, classified as before, so nothing received is lost.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator

from ..errors import LocalProtocolError
from .encode import encode_action
from .frame import ActionResult, Frame, FrameKind
from .parser import DEFAULT_MAX_FRAME_SIZE, FrameParser

DEFAULT_MAX_LIST_ITEMS = 100_000
"""Items kept for one list answer (the items after it flow out but are not kept)."""
DEFAULT_MAX_OPEN_LISTS = 1_000
"""Lists open at once (Asterisk completes each list in one go; a client has a few open)."""


class State(enum.Enum):
    AWAIT_BANNER = "await_banner"
    OPEN = "open"
    CLOSED = "closed"


class _Pending:
    __slots__ = ("action", "complete_event", "count", "follow", "items", "kind", "response")

    def __init__(
        self, action: str | None, kind: str, complete_event: str | None, follow: str | None
    ) -> None:
        self.action = action
        """The action's name when sent through this connection (its items are kept), else None."""
        self.kind = kind  # "single" | "list" | "follow"
        self.complete_event = complete_event
        self.follow = follow
        self.response: Frame | None = None
        self.items: list[Frame] = []
        self.count = 0
        """List items received (kept or not)."""


class AmiConnection:
    """Client side of one AMI session, with no I/O and no clock."""

    def __init__(
        self,
        *,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        expect_banner: bool = True,
        action_id_prefix: str = "tracker",
        max_list_items: int = DEFAULT_MAX_LIST_ITEMS,
        max_open_lists: int = DEFAULT_MAX_OPEN_LISTS,
    ) -> None:
        self._parser = FrameParser(max_frame_size=max_frame_size, expect_banner=expect_banner)
        self.max_list_items = max_list_items
        self.max_open_lists = max_open_lists
        self.state = State.AWAIT_BANNER if expect_banner else State.OPEN
        self.banner: str | None = None
        self._prefix = action_id_prefix
        self._counter = 0
        self._pending: dict[str, _Pending] = {}
        self._open_lists: dict[str, _Pending] = {}
        self.last_action_id: str | None = None
        self.frames_received = 0
        self.anomalies = 0
        self.fallbacks = 0
        self.list_overflows = 0
        """Lists that went over ``max_list_items`` or were closed early (``max_open_lists``)."""

    # -- receiving -------------------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        """Feed received bytes; ``b""`` means the peer closed the stream."""
        self._parser.feed(data)

    def next_frame(self) -> Frame | None:
        frame = self._parser.next_frame()
        if frame is None:
            if self._parser.at_eof and self._parser.buffered == 0:
                self.state = State.CLOSED
            return None
        self.frames_received += 1
        kind = frame.kind
        if frame.fallback:
            self.fallbacks += 1
        if kind is FrameKind.EVENT:
            if frame.action_id is not None and self._open_lists:
                self._list_event(frame)
        elif kind is FrameKind.RESPONSE:
            self._response(frame)
        elif kind is FrameKind.BANNER:
            self.banner = frame.headers[0][1]
            self.state = State.OPEN
        elif kind is FrameKind.ANOMALY:
            self.anomalies += 1
            if self.state is State.AWAIT_BANNER:
                self.state = State.OPEN
        return frame

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.next_frame()) is not None:
            yield frame

    def frames(self, data: bytes) -> list[Frame]:
        """Feed ``data`` and return every frame now complete."""
        self.receive_data(data)
        return list(self)

    def _response(self, frame: Frame) -> None:
        aid = frame.action_id
        if aid is None:
            return
        pending = self._pending.get(aid)
        status = frame.name
        opens_list = frame.get("EventList") == "start"
        if pending is None:
            if not opens_list:
                frame.completes = ActionResult(aid, None, frame)
                return
            pending = _Pending(None, "list", None, None)
        pending.response = frame
        if opens_list or (pending.kind == "list" and status == "Success"):
            pending.kind = "list"
            self._open(aid, pending, frame)
            return
        if pending.kind == "follow" and status == "Success":
            self._open(aid, pending, frame)
            return
        self._pending.pop(aid, None)
        frame.completes = ActionResult(aid, pending.action, frame)

    def _list_event(self, frame: Frame) -> None:
        aid = frame.action_id
        assert aid is not None
        pending = self._open_lists.get(aid)
        if pending is None:
            return
        frame.kind = FrameKind.LIST_ITEM
        name = frame.name
        assert pending.response is not None
        if pending.kind == "follow" and (pending.follow is None or name == pending.follow):
            del self._open_lists[aid]
            frame.completes = ActionResult(aid, pending.action, pending.response, [frame])
            return
        if frame.get("EventList") == "Complete" or name == pending.complete_event:
            del self._open_lists[aid]
            frame.completes = ActionResult(
                aid,
                pending.action,
                pending.response,
                pending.items,
                frame,
                dropped=pending.count - len(pending.items),
            )
            return
        pending.count += 1
        if pending.count <= self.max_list_items:
            if pending.action is not None:
                pending.items.append(frame)
        elif pending.count == self.max_list_items + 1:
            self._overflow(frame, f"list {aid!r} has more than {self.max_list_items} items")

    def _open(self, aid: str, pending: _Pending, frame: Frame) -> None:
        self._pending.pop(aid, None)
        lists = self._open_lists
        lists.pop(aid, None)
        if lists and len(lists) >= self.max_open_lists:
            oldest = next((k for k, p in lists.items() if p.action is None), next(iter(lists)))
            del lists[oldest]
            self._overflow(
                frame, f"more than {self.max_open_lists} open lists: list {oldest!r} closed"
            )
        lists[aid] = pending

    def _overflow(self, frame: Frame, problem: str) -> None:
        self.list_overflows += 1
        if frame.problem is None:
            frame.problem = problem

    # -- sending ---------------------------------------------------------------------
    def next_action_id(self) -> str:
        self._counter += 1
        return f"{self._prefix}-{self._counter}"

    def send_action(
        self,
        name: str,
        params: Iterable[tuple[str, str]] = (),
        *,
        action_id: str | None = None,
        response: str = "single",
        complete_event: str | None = None,
        follow_event: str | None = None,
    ) -> bytes:
        """Register an action and return its wire bytes.

        ``response`` is ``"single"``, ``"list"`` (items until ``complete_event`` or
        ``EventList: Complete``) or ``"follow"`` (one ``follow_event`` after a Success).
        """
        if self.state is State.CLOSED:
            raise LocalProtocolError("connection is closed")
        if response not in ("single", "list", "follow"):
            raise LocalProtocolError(f"unknown response kind {response!r}")
        aid = action_id if action_id is not None else self.next_action_id()
        if aid in self._pending or aid in self._open_lists:
            raise LocalProtocolError(f"ActionID {aid!r} is already awaiting an answer")
        data = encode_action(name, aid, params)
        self._pending[aid] = _Pending(name, response, complete_event, follow_event)
        self.last_action_id = aid
        return data

    def forget(self, action_id: str) -> None:
        """Stop waiting for an action (e.g. after a timeout)."""
        self._pending.pop(action_id, None)
        self._open_lists.pop(action_id, None)

    @property
    def awaiting(self) -> frozenset[str]:
        return frozenset(self._pending) | frozenset(self._open_lists)
