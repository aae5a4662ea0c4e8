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
    """``blind``, ``attended`` or ``redirect``.

    ``redirect``: the channel left its bridge and continued in the dialplan at another
    extension (AMI ``Redirect``, with or without ``ExtraChannel``, or ``ChannelRedirect()``);
    one transfer per moved channel, no transferer (the AMI client is not a channel).
    """
    at: float
    result: str = ""
    """BlindTransfer/AttendedTransfer ``Result``; ``Success`` for a redirect (only a redirect
    that Asterisk carried out shows up in the stream)."""
    transferer: str = ""
    """Channel name of the party that transferred (empty for a redirect)."""
    transferee: str = ""
    """Channel name of the party that was transferred."""
    target: str = ""
    """Attended: channel name of the transfer target; blind and redirect: ``exten@context``."""
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
    joined_late: bool = False
    """The caller's ``QueueCallerJoin`` was not seen (the tracker connected while it waited, or
    the join was filtered out): the passage was made from ``AgentConnect`` /
    ``QueueCallerAbandon`` / ``QueueCallerLeave``; ``joined`` is estimated (now minus
    ``HoldTime``, or the queue list's ``Wait``), ``wait`` is None when neither is known."""


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
    removed, so the ended value is the call record. It reads the call as the caller experienced
    it: answered when the caller was connected to the party that answered (a click-to-dial's B,
    not the agent's own phone; not a callee that declined a screening; a conference room at the
    caller's join). The rules per pattern: tracker/reducer/calls.py and docs/call-records.md.
    """

    linkedid: str
    start: float
    origin: str = ""
    """``originate`` when the call's first channel was placed by an AMI ``Originate`` (or a call
    file): the PBX rang party A (the caller) first and then called B; empty when the first
    channel called in by itself."""
    caller_answer: float | None = None
    """Originated calls: when party A answered the Originate (B is called after that)."""
    answer: float | None = None
    """When the caller was first connected to the party that answered (see calls.py)."""
    end: float | None = None
    duration: float = 0.0
    billsec: float = 0.0
    disposition: str = ""
    """CDR vocabulary: ANSWERED, NO ANSWER, BUSY, FAILED, CONGESTION (set when the call ends)."""
    hangup_cause: int | None = None
    hangup_cause_txt: str = ""
    caller: Party = msgspec.field(default_factory=Party)
    callee: Party | None = None
    """The party the caller reached or tried to: the dialled channel (a Local channel is named by
    its extension), the queue agent, the conference room, or an Originate's ``Exten``."""
    legs: list[str] = msgspec.field(default_factory=list)
    """Every Uniqueid that belonged to the call, in order of arrival."""
    live: list[str] = msgspec.field(default_factory=list)
    """Uniqueids still up."""
    dial_status: str = ""
    """Last dial outcome on the called side (DialEnd status; dials ringing the caller's own
    phone for a click-to-dial do not count)."""
    transfers: list[Transfer] = msgspec.field(default_factory=list)
    queue: QueuePassage | None = None
    parked: Parking | None = None
    conference: str | None = None
    ended_while_disconnected: bool = False
    """Its last channel was closed by the channel list of a resync: it ended unseen, while the
    tracker was disconnected (end time = the list's time)."""
    reconciled: bool = False
    """Its last channel was closed by a periodic channel list while connected: Asterisk no
    longer had it, but its Hangup never arrived (end time = the list's time)."""
    joined_late: bool = False
    """First seen in a resync list: start is estimated, an earlier answer time is unknown."""
    gap: bool = False
    """The call was up during a gap between two AMI sessions, when the tracker saw nothing:
    up when a new session began, or first met in the resync after one. Whatever happened to
    it in the gap (an answer, a transfer, its end) is unknown or estimated from the resync."""
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
    """The party the caller reached or tried to: the dialled channel (a Local channel is named by
    its extension), the queue agent, the conference room, or an Originate's ``Exten``."""


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
