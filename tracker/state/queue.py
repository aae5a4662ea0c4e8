"""Queue state (by queue name): parameters, members (by interface), waiting callers (by uniqueid)
and the agent sessions app_queue reports (AgentCalled/Connect/Complete...)."""

from __future__ import annotations

import msgspec

from .changes import Change


class Member(msgspec.Struct, kw_only=True, gc=False):
    """A queue member, keyed by its interface (``Local/601@phones``); ``name`` is the MemberName
    app_queue writes in queue_log for CONNECT/PAUSE lines."""

    interface: str
    name: str = ""
    state_interface: str = ""
    membership: str = ""
    status: int | None = None
    """app_queue device status (1 not in use, 2 in use, 5 unavailable, 6 ringing, ...)."""
    paused: bool = False
    paused_reason: str = ""
    penalty: int = 0
    calls_taken: int = 0
    last_call: int = 0
    last_pause: int = 0
    login_time: int = 0
    in_call: bool = False
    ring_in_use: bool | None = None
    wrapup_time: int = 0
    ringing: str | None = None
    """Uniqueid of the caller this member is being offered (AgentCalled), if any."""
    connected: str | None = None
    """Uniqueid of the caller this member talks to (AgentConnect .. AgentComplete)."""
    seq: int = -1
    """Frame that created this entry (used by list reconciliation)."""
    listed_by: str | None = None


class Caller(msgspec.Struct, kw_only=True, gc=False):
    """A caller waiting in a queue."""

    uniqueid: str
    channel: str = ""
    position: int = 0
    original_position: int = 0
    since: float = 0.0
    """Join time (QueueCallerJoin's Timestamp, or list time minus ``Wait`` for QueueEntry)."""
    caller_id_num: str | None = None
    caller_id_name: str | None = None
    linkedid: str | None = None
    ringing: list[str] = msgspec.field(default_factory=list)
    """Interfaces currently offered this caller."""
    abandoned: bool = False
    seq: int = -1
    listed_by: str | None = None


class Session(msgspec.Struct, kw_only=True, gc=False):
    """A caller connected to an agent (AgentConnect until AgentComplete/AgentDump)."""

    uniqueid: str
    interface: str
    member_name: str = ""
    agent_uniqueid: str | None = None
    connected_at: float = 0.0
    hold_time: int | None = None
    ring_time: int | None = None


class Queue(msgspec.Struct, kw_only=True, gc=False):
    name: str
    strategy: str | None = None
    max: int | None = None
    service_level: int | None = None
    calls: int = 0
    """Callers waiting (kept equal to ``len(callers)``)."""
    holdtime: int = 0
    """Asterisk's running hold-time average (weighted 3:1 like app_queue)."""
    talktime: int = 0
    completed: int = 0
    abandoned: int = 0
    counted: bool = False
    """``completed``/``abandoned`` are Asterisk's counters (a ``QueueParams`` was read; live
    events move them since), not only the calls the fold saw."""
    servicelevel_perf: float | None = None
    servicelevel_perf2: float | None = None
    weight: int | None = None
    members: dict[str, Member] = msgspec.field(default_factory=dict)
    callers: dict[str, Caller] = msgspec.field(default_factory=dict)
    sessions: dict[str, Session] = msgspec.field(default_factory=dict)
    """Connected callers by caller uniqueid."""
    left_unseen: list[str] = msgspec.field(default_factory=list)
    """Callers a ``QueueStatus`` no longer listed while their channel was still up: they left
    the queue unseen, maybe to an agent (kept until their channel is gone)."""
    departed: dict[str, float] = msgspec.field(default_factory=dict)
    """Join time of callers that just left (bounded): lets AgentConnect compute the wait."""
    seq: int = -1
    listed_by: str | None = None
    listed_seq: int = -1


# ---- change records -------------------------------------------------------------------------


class QueueCallerJoined(Change, frozen=True):
    queue: str
    uniqueid: str
    channel: str
    position: int
    caller_id_num: str | None = None
    caller_id_name: str | None = None


class QueueCallerLeft(Change, frozen=True):
    queue: str
    uniqueid: str
    position: int
    wait: float | None = None
    """Seconds since we saw the caller join (None when the join was not seen)."""


class QueueCallerAbandoned(Change, frozen=True):
    queue: str
    uniqueid: str
    position: int
    original_position: int | None
    hold_time: int | None
    wait: float | None = None


class QueueMemberAdded(Change, frozen=True):
    queue: str
    interface: str
    member_name: str
    paused: bool
    penalty: int


class QueueMemberRemoved(Change, frozen=True):
    queue: str
    interface: str
    member_name: str


class QueueMemberStatusChanged(Change, frozen=True):
    queue: str
    interface: str
    status: int | None
    in_call: bool


class QueueMemberPaused(Change, frozen=True):
    queue: str
    interface: str
    member_name: str
    paused: bool
    reason: str = ""


class QueueMemberPenaltyChanged(Change, frozen=True):
    queue: str
    interface: str
    penalty: int


class QueueMemberRingInUseChanged(Change, frozen=True):
    queue: str
    interface: str
    ring_in_use: bool


class AgentCalled(Change, frozen=True):
    queue: str
    uniqueid: str
    interface: str
    member_name: str
    agent_channel: str | None = None
    agent_uniqueid: str | None = None


class AgentConnected(Change, frozen=True):
    queue: str
    uniqueid: str
    interface: str
    member_name: str
    hold_time: int | None
    ring_time: int | None
    agent_uniqueid: str | None = None
    wait: float | None = None
    """Our own measure: connect time minus the join time we saw."""


class AgentCompleted(Change, frozen=True):
    queue: str
    uniqueid: str
    interface: str
    member_name: str
    hold_time: int | None
    talk_time: int | None
    reason: str | None


class AgentRingNoAnswer(Change, frozen=True):
    queue: str
    uniqueid: str
    interface: str
    member_name: str
    ring_time: int | None


class AgentDumped(Change, frozen=True):
    queue: str
    uniqueid: str
    interface: str
    member_name: str


class QueueReconciled(Change, frozen=True):
    """A list reply (QueueStatus) corrected our state: never a live transition."""

    queue: str
    subject: str
    """``queue``, ``member`` or ``caller``."""
    key: str
    action: str
    """``created``, ``updated`` or ``removed``."""
