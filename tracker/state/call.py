"""Call state (by Linkedid), the ended-call record and its change records."""

from __future__ import annotations

import msgspec

from .changes import Change


class Party(msgspec.Struct, kw_only=True, gc=False, omit_defaults=True):
    num: str = ""
    name: str = ""
    channel: str = ""


class Transfer(msgspec.Struct, kw_only=True, gc=False):
    kind: str
    """``blind`` or ``attended``."""
    at: float
    result: str = ""
    transferer: str = ""
    """Channel name of the party that transferred."""
    transferee: str = ""
    """Channel name of the party that was transferred."""
    target: str = ""
    """Attended: channel name of the transfer target; blind: ``exten@context``."""
    dest_type: str = ""


class QueuePassage(msgspec.Struct, kw_only=True, gc=False):
    name: str
    joined: float
    position: int = 0
    left: float | None = None
    wait: float | None = None
    """Seconds from joining to being connected or leaving."""
    outcome: str = "waiting"
    """``waiting``, ``answered``, ``abandoned`` or ``timeout``."""
    agent: str | None = None


class Parking(msgspec.Struct, kw_only=True, gc=False):
    lot: str
    space: str
    at: float
    outcome: str = "parked"
    """``parked``, ``retrieved``, ``timeout`` or ``giveup``."""


class Leg(msgspec.Struct, kw_only=True, gc=False):
    """One channel of a call, as it left the call (hung up, or moved to another call)."""

    uniqueid: str
    channel: str
    num: str = ""
    name: str = ""
    created: float
    answered: float | None = None
    hungup: float | None = None
    """Hangup time; None when the channel moved to another call instead (``moved_to``)."""
    cause: int | None = None
    cause_txt: str = ""
    dialed_by: str | None = None
    """Uniqueid of the channel that dialled this one ("" for an Originate, None if not dialled)."""
    moved_to: str | None = None
    """Linkedid of the call the channel moved to (bridge propagation)."""


class Call(msgspec.Struct, kw_only=True, gc=False):
    """A call: every channel sharing a Linkedid, from the first one's creation to the last hangup.

    While active it lives in ``World.calls``; when it ends it is emitted as ``CallEnded`` and
    removed, so the ended value is the call record.
    """

    linkedid: str
    start: float
    answer: float | None = None
    end: float | None = None
    duration: float = 0.0
    billsec: float = 0.0
    disposition: str = ""
    """CDR vocabulary: ANSWERED, NO ANSWER, BUSY, FAILED, CONGESTION (set when the call ends)."""
    hangup_cause: int | None = None
    hangup_cause_txt: str = ""
    caller: Party = msgspec.field(default_factory=Party)
    callee: Party | None = None
    legs: list[str] = msgspec.field(default_factory=list)
    """Every Uniqueid that belonged to the call, in order of arrival."""
    live: list[str] = msgspec.field(default_factory=list)
    """Uniqueids still up."""
    dial_status: str = ""
    """Last dial outcome seen (DialEnd status of a dial made by one of the call's channels)."""
    transfers: list[Transfer] = msgspec.field(default_factory=list)
    queue: QueuePassage | None = None
    parked: Parking | None = None
    conference: str | None = None
    ended_while_disconnected: bool = False
    joined_late: bool = False
    """First seen in a resync list: start is estimated, an earlier answer time is unknown."""
    first_seq: int = -1
    """Seq of the frame that started the call (its first channel)."""
    last_seq: int = -1
    """Seq of the frame that ended it: every frame of the call lies in ``first_seq..last_seq``."""
    ended_legs: list[Leg] = msgspec.field(default_factory=list)
    """Each channel as it left the call, in leaving order (the store's ``call_legs``)."""


CallRecord = Call
"""An ended call (what ``CallEnded`` carries)."""


class CallStarted(Change, frozen=True):
    linkedid: str
    caller: Party


class CallAnswered(Change, frozen=True):
    linkedid: str
    callee: Party | None = None


class CallLegAdded(Change, frozen=True):
    linkedid: str
    uniqueid: str


class Transferred(Change, frozen=True):
    linkedid: str
    transfer: Transfer


class QueueEntered(Change, frozen=True):
    linkedid: str
    queue: str
    position: int


class QueueLeft(Change, frozen=True):
    linkedid: str
    queue: str
    outcome: str


class CallEnded(Change, frozen=True):
    record: Call
