"""Bytes that are not AMI, and events that do not fit their type, are counted by the fold."""

from __future__ import annotations

from tracker.ami import AmiConnection
from tracker.events import envelopes
from tracker.reducer import Reducer
from tracker.state import Anomaly

STREAM = (
    b"Asterisk Call Manager/11.0.0\r\n"
    b"this is not a header\r\n\r\n"
    b"Event: Newchannel\r\nPrivilege: call,all\r\nTimestamp: 1.5\r\nChannelState: x\r\n"
    b"Uniqueid: 1\r\nLinkedid: 1\r\nChannel: Local/1@a-0;1\r\n\r\n"
    b"Event: FullyBooted\r\nStatus: Fully Booted\r\n\r\n"
)


def test_protocol_and_decode_anomalies_are_recorded_not_raised() -> None:
    conn = AmiConnection()
    frames = conn.frames(STREAM)
    reducer = Reducer()
    changes = [c for env in envelopes(frames) for c in reducer.apply(env)]
    anomalies = [c for c in changes if isinstance(c, Anomaly)]
    assert [a.kind for a in anomalies] == ["protocol", "undecodable"]
    assert "without ': '" in anomalies[0].detail
    assert anomalies[1].detail.startswith("Newchannel:")
    assert reducer.world.anomalies == 2
    assert reducer.world.channels == {}  # an undecodable Newchannel creates nothing
