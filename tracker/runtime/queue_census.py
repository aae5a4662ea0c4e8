"""The queues a captured Asterisk had at any point of its capture (the simulator's
``QueueStatus`` answer for "now", like ``census`` for ``CoreShowChannels``).

A queue is known from a ``QueueStatus`` answer recorded in the capture (its ``QueueParams``:
strategy, service level, counters). Its state at a point of the capture is read from the
capture's frames up to that point, lost ones included (Asterisk went on while a client was
away): ``QueueMemberAdded``/``Removed`` and the member events carrying a member's snapshot
(``QueueMemberStatus``, ``...Pause``, ``...Penalty``, ``...Ringinuse``) keep the members; a
member the recorded answer lists but no ``QueueMemberAdded`` before it announced was there from
the start (static, or added before the capture). A member's ``InCall``, ``CallsTaken`` and
``Status`` move with calls without an event of their own: the answer has the last announced.
``QueueCallerJoin`` / ``QueueCallerLeave`` / ``QueueCallerAbandon`` keep the waiting callers.
app_queue's ``Completed`` counter moves with
``AgentComplete`` and ``Abandoned`` with ``QueueCallerAbandon``: the counters at a point are the
recorded ones plus (or minus) those events between the answer and the point. The answer is
rendered as Asterisk 22 does: ``QueueParams``, its ``QueueMember`` items, its ``QueueEntry``
items per queue, then ``QueueStatusComplete``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from ..ami import Frame, FrameKind, encode_headers
from .census import list_answer
from .script import RecordedAnswer

PARAMS = (
    "Max",
    "Strategy",
    "Calls",
    "Holdtime",
    "TalkTime",
    "Completed",
    "Abandoned",
    "ServiceLevel",
    "ServicelevelPerf",
    "ServicelevelPerf2",
    "Weight",
)
MEMBER = (
    "Name",
    "Location",
    "StateInterface",
    "Membership",
    "Penalty",
    "CallsTaken",
    "LastCall",
    "LastPause",
    "LoginTime",
    "InCall",
    "Status",
    "Paused",
    "PausedReason",
    "Wrapuptime",
)
_MEMBER_EVENTS = frozenset(
    {
        "QueueMemberAdded",
        "QueueMemberStatus",
        "QueueMemberPause",
        "QueueMemberPenalty",
        "QueueMemberRinginuse",
    }
)
_ENTRY = ("Channel", "Uniqueid", "CallerIDNum", "CallerIDName", "ConnectedLineNum")
_RENAMED = {"MemberName": "Name", "Interface": "Location"}


class _Queue:
    __slots__ = ("callers", "members", "params")

    def __init__(self, params: dict[str, str]) -> None:
        self.params = params
        self.members: dict[str, dict[str, str]] = {}
        self.callers: dict[str, tuple[float, dict[str, str]]] = {}


def _fields(frame: Frame) -> dict[str, str]:
    return {_RENAMED.get(k, k): v for k, v in frame.headers}


def _int(text: str | None) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return 0


class QueueCensus:
    """Queues at a point of ``stream``; ``advance(position)`` reads up to it."""

    def __init__(self, stream: Sequence[Frame], answers: Sequence[RecordedAnswer]) -> None:
        self._stream = stream
        self._next = 0
        self.clock = 0.0
        self.queues: dict[str, _Queue] = {}
        recorded = sorted(answers, key=lambda a: a.position)
        first: dict[str, tuple[int, dict[str, str], list[dict[str, str]]]] = {}
        for answer in recorded:
            for frame in answer.frames:
                name = frame.name
                fields = _fields(frame)
                queue = fields.get("Queue", "")
                if name == "QueueParams" and queue not in first:
                    first[queue] = (answer.position, fields, [])
                elif name == "QueueMember" and first.get(queue, (None,))[0] == answer.position:
                    first[queue][2].append(fields)
        moved: dict[tuple[str, str], int] = {}
        added: set[tuple[str, str]] = set()
        last = max((p for p, _, _ in first.values()), default=-1)
        for i in range(last + 1):
            frame = stream[i]
            if frame.kind is not FrameKind.EVENT:
                continue
            queue = frame.get("Queue") or ""
            at = first.get(queue, (-1,))[0]
            if i > at:
                continue
            name = frame.name
            if name in ("AgentComplete", "QueueCallerAbandon"):
                key = (queue, "Completed" if name == "AgentComplete" else "Abandoned")
                moved[key] = moved.get(key, 0) + 1
            elif name == "QueueMemberAdded":
                added.add((queue, frame.get("Interface") or ""))
        for queue, (_, params, members) in first.items():
            for counter in ("Completed", "Abandoned"):
                base = _int(params.get(counter)) - moved.get((queue, counter), 0)
                params[counter] = str(base)  # the counter at the start of the stream
            q = self.queues[queue] = _Queue(params)
            for m in members:
                if (queue, m.get("Location", "")) not in added:
                    q.members[m.get("Location", "")] = m

    def advance(self, position: int) -> None:
        stream = self._stream
        end = min(position, len(stream))
        for i in range(self._next, end):
            frame = stream[i]
            if frame.kind is FrameKind.EVENT:
                self._read(frame)
        self._next = max(self._next, end)

    def _read(self, frame: Frame) -> None:
        stamp = frame.get("Timestamp")
        if stamp is not None:
            with contextlib.suppress(ValueError):
                self.clock = max(self.clock, float(stamp))
        q = self.queues.get(frame.get("Queue") or "")
        if q is None:
            return
        name = frame.name
        if name in _MEMBER_EVENTS:
            fields = _fields(frame)
            q.members[fields.get("Location", "")] = fields
        elif name == "QueueMemberRemoved":
            q.members.pop(frame.get("Interface") or "", None)
        elif name == "QueueCallerJoin":
            q.callers[frame.get("Uniqueid") or ""] = (self.clock, _fields(frame))
        elif name in ("QueueCallerLeave", "QueueCallerAbandon"):
            q.callers.pop(frame.get("Uniqueid") or "", None)
        if name in ("AgentComplete", "QueueCallerAbandon"):
            counter = "Completed" if name == "AgentComplete" else "Abandoned"
            q.params[counter] = str(_int(q.params.get(counter)) + 1)

    def answer(self, action_id: str | None) -> bytes:
        """The whole ``QueueStatus`` answer (response, items, complete) for now."""
        aid: list[tuple[str, str]] = [] if action_id is None else [("ActionID", action_id)]
        items = []
        for name, q in self.queues.items():
            params = {**q.params, "Calls": str(len(q.callers))}
            head = [("Event", "QueueParams"), ("Queue", name)]
            items.append(encode_headers([*head, *((k, params.get(k, "")) for k in PARAMS), *aid]))
            for m in q.members.values():
                head = [("Event", "QueueMember"), ("Queue", name)]
                items.append(encode_headers([*head, *((k, m.get(k, "")) for k in MEMBER), *aid]))
            for position, (joined, c) in enumerate(q.callers.values(), 1):
                entry = [
                    ("Event", "QueueEntry"),
                    ("Queue", name),
                    ("Position", str(position)),
                    *((k, c.get(k, "")) for k in _ENTRY),
                    ("ConnectedLineName", c.get("ConnectedLineName", "")),
                    ("Wait", str(max(0, int(self.clock - joined)))),
                    ("Priority", "0"),
                    *aid,
                ]
                items.append(encode_headers(entry))
        return list_answer(action_id, "Queue status will follow", "QueueStatusComplete", items)


__all__ = ["QueueCensus"]
