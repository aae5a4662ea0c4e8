"""Conference rooms (ConfBridge and MeetMe in one model, told apart by ``kind``)."""

from __future__ import annotations

import msgspec

from .changes import Change


class Participant(msgspec.Struct, kw_only=True, gc=False):
    uniqueid: str
    """Channel Uniqueid (MeetMe list items have none: ``meetme:<user number>`` then)."""
    channel: str = ""
    caller_id_num: str | None = None
    caller_id_name: str | None = None
    admin: bool = False
    marked: bool = False
    muted: bool = False
    talking: bool = False
    joined_at: float | None = None
    user: str | None = None
    """MeetMe user number."""
    seq: int = -1
    listed_by: str | None = None


class Conference(msgspec.Struct, kw_only=True, gc=False):
    name: str
    kind: str = "confbridge"
    """``confbridge`` or ``meetme``."""
    bridge_uniqueid: str | None = None
    started_at: float | None = None
    """None when the room was only seen in a list reply."""
    locked: bool | None = None
    """Known only from ConfbridgeListRooms (lock/unlock actions emit no events)."""
    muted: bool | None = None
    recording: bool = False
    participants: dict[str, Participant] = msgspec.field(default_factory=dict)
    seq: int = -1
    listed_by: str | None = None
    listed_seq: int = -1
    participants_listed_by: str | None = None
    participants_listed_seq: int = -1


class ConferenceStarted(Change, frozen=True):
    conference: str
    kind: str
    bridge_uniqueid: str | None = None


class ConferenceEnded(Change, frozen=True):
    conference: str
    kind: str
    participants_left: int
    """Participants still in the room when it ended (0 normally)."""
    duration: float | None = None


class ParticipantJoined(Change, frozen=True):
    conference: str
    uniqueid: str
    channel: str
    admin: bool
    muted: bool
    caller_id_num: str | None = None


class ParticipantLeft(Change, frozen=True):
    conference: str
    uniqueid: str
    channel: str
    duration: float | None = None


class ParticipantMuted(Change, frozen=True):
    conference: str
    uniqueid: str
    muted: bool


class ParticipantTalking(Change, frozen=True):
    conference: str
    uniqueid: str
    talking: bool


class ConferenceRecording(Change, frozen=True):
    conference: str
    recording: bool


class ConferenceReconciled(Change, frozen=True):
    """A list reply (ConfbridgeListRooms/ConfbridgeList/MeetmeList) corrected our state."""

    conference: str
    subject: str
    """``room`` or ``participant``."""
    key: str
    action: str
    """``created``, ``updated`` or ``removed``."""
