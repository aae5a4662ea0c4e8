"""Channel state (by Uniqueid) and its change records. Filled in by the channels machine."""

from __future__ import annotations

import msgspec

from .changes import Change


class Channel(msgspec.Struct, kw_only=True, gc=False):
    """One live channel, as last described by Asterisk."""

    uniqueid: str
    linkedid: str
    name: str
    order: int = 0
    """Creation order (the counter after the dot of the Uniqueid): older channels sort first."""
    state: int = 0
    state_desc: str = ""
    caller_num: str = ""
    caller_name: str = ""
    connected_num: str = ""
    connected_name: str = ""
    account_code: str = ""
    language: str = ""
    context: str = ""
    exten: str = ""
    priority: int = 0
    app: str = ""
    app_data: str = ""
    variables: dict[str, str] = msgspec.field(default_factory=dict)
    dialing: list[str] | None = None
    """Uniqueids this channel is dialling right now (DialBegin .. DialEnd)."""
    dialed_by: str | None = None
    """Uniqueid of the channel dialling this one ("" for Originate-made dials, None: not seen)."""
    caller_side: bool = False
    """On the calling party's side of its call: the call's first channel, its Local peer, and
    what those (other than the first channel itself) dial, e.g. the caller's own phone that a
    click-to-dial Originate rings first. Everything else in the call is the called side."""
    dial_status: str = ""
    """Last DialState/DialEnd status of a dial this channel made or received."""
    on_hold: bool = False
    moh_class: str | None = None
    """Music-on-hold class while MOH plays to the channel."""
    recording: bool = False
    recording_muted: str | None = None
    """MixMonitor mute direction (read/write/both) while muted."""
    dtmf: str = ""
    """Digits completed (DTMFEnd), last 32."""
    dtmf_pending: str | None = None
    """Digit being received (DTMFBegin ``Direction: Received``) and not yet ended."""
    dtmf_sending: str | None = None
    """Digit being sent (DTMFBegin ``Direction: Sent``) and not yet ended."""
    bridge: str | None = None
    local_peer: str | None = None
    """The other half of a Local channel pair."""
    optimizing: bool = False
    created: float = 0.0
    answered: float | None = None
    """Time the channel first went Up."""
    hangup_cause: int | None = None
    hangup_cause_txt: str = ""
    from_list: bool = False
    """Known only from a list reply (resync), its creation was not seen."""
    touched: int = -1
    """Seq of the last frame that described this channel (resync only closes older ones)."""


class ChannelCreated(Change, frozen=True):
    uniqueid: str
    linkedid: str
    name: str
    from_list: bool = False


class ChannelStateChanged(Change, frozen=True):
    uniqueid: str
    state: int
    state_desc: str


class ChannelRenamed(Change, frozen=True):
    uniqueid: str
    old: str
    new: str


class ChannelCallerChanged(Change, frozen=True):
    uniqueid: str
    caller_num: str
    caller_name: str
    connected_num: str
    connected_name: str


class ChannelLinkedidChanged(Change, frozen=True):
    uniqueid: str
    old: str
    new: str


class ChannelDialplan(Change, frozen=True):
    """Newexten: the channel runs a new dialplan step."""

    uniqueid: str
    context: str
    exten: str
    priority: int
    app: str
    app_data: str


class ChannelVariableSet(Change, frozen=True):
    uniqueid: str
    variable: str
    value: str


class ChannelHold(Change, frozen=True):
    uniqueid: str
    on_hold: bool
    music_class: str | None = None


class ChannelMusicOnHold(Change, frozen=True):
    uniqueid: str
    playing: bool
    music_class: str | None = None


class ChannelRecording(Change, frozen=True):
    uniqueid: str
    recording: bool
    muted: str | None = None


class ChannelDtmf(Change, frozen=True):
    uniqueid: str
    digit: str
    direction: str
    end: bool
    end_only: bool = False
    """A DTMFEnd with no DTMFBegin before it: Asterisk reports digits whose source delivers only
    the end (SIP INFO, digits queued by Atxfer/CancelAtxfer, a lost RFC 4733 start) this way."""


class LocalPaired(Change, frozen=True):
    one: str
    two: str


class LocalOptimization(Change, frozen=True):
    one: str
    two: str
    begun: bool
    success: bool | None = None


class DialStarted(Change, frozen=True):
    caller: str | None
    """Uniqueid of the dialling channel (None for Originate)."""
    dest: str
    dial_string: str = ""


class DialStateChanged(Change, frozen=True):
    caller: str | None
    dest: str
    status: str


class DialEnded(Change, frozen=True):
    caller: str | None
    dest: str
    status: str


class ChannelHungUp(Change, frozen=True):
    uniqueid: str
    linkedid: str
    name: str
    cause: int | None = None
    cause_txt: str = ""
    ended_while_disconnected: bool = False
    """Closed by a resync list that no longer listed it (its Hangup was never seen)."""
    reconciled: bool = False
    """Closed by a periodic channel list while connected (its Hangup was lost)."""
