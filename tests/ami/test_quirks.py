"""Wire quirks from real captures and hand-made edge cases."""

from __future__ import annotations

from tests.helpers import FIXTURES, feed, load, random_chunks, whole
from tracker.ami import AmiConnection, Frame, FrameKind

BANNER = b"Asterisk Call Manager/11.0.0\r\n"


def frames_of(data: bytes, **kw: object) -> list[Frame]:
    out = feed(data, whole(data), **kw)
    for seed in range(3):
        assert feed(data, random_chunks(data, seed, 7), **kw) == out
    return out


def test_repeated_headers_and_empty_values_kept_in_order() -> None:
    frames = frames_of(load(FIXTURES / "basic.ami"))
    newchannel = next(f for f in frames if f.name == "Newchannel")
    assert newchannel.get_all("ChanVariable") == ["LAB_SCENARIO=", "LAB_ROLE="]
    assert newchannel.get("AccountCode") == ""
    keys = [k for k, _ in newchannel.headers]
    assert keys[:3] == ["Event", "Privilege", "Timestamp"]
    assert keys.count("ChanVariable") == 2


def test_park_ack_value_ends_in_bare_lf() -> None:
    frames = frames_of(load(FIXTURES / "park.ami"))
    acks = [f for f in frames if f.get("Message") == "Park successful\n"]
    assert acks, "the Park ack keeps its trailing LF"
    assert acks[0].kind is FrameKind.RESPONSE
    assert acks[0].raw.endswith(b"Park successful\n\r\n\r\n")


def test_classified_by_first_header_not_by_response_header() -> None:
    frames = frames_of(load(FIXTURES / "md5_login.ami"))
    crf = [f for f in frames if f.name == "ChallengeResponseFailed"]
    assert crf and crf[0].kind is FrameKind.EVENT and crf[0].get("Response")
    orig = [f for f in frames if f.name == "OriginateResponse"]
    assert orig and all(f.kind is FrameKind.EVENT for f in orig)
    scoped = [k for f in orig for k, _ in f.headers if k.startswith("ChanVariable(")]
    assert scoped, "ChanVariable(<channel>) headers are kept verbatim"


def test_command_output_lines_and_legacy_follows() -> None:
    frames = frames_of(load(FIXTURES / "lists.ami"))
    outputs = [f for f in frames if f.kind is FrameKind.RESPONSE and f.get_all("Output")]
    assert len(outputs) == 3
    assert any("Asterisk 22" in line for f in outputs for line in f.get_all("Output"))
    legacy = (
        BANNER + b"Response: Follows\r\nPrivilege: Command\r\nActionID: 7\r\n"
        b"Asterisk 13.1\nchannel: 1\n--END COMMAND--\r\n\r\n"
    )
    f = frames_of(legacy)[1]
    assert f.kind is FrameKind.RESPONSE and f.problem is None
    assert f.get_all("Output") == ["Asterisk 13.1", "channel: 1"]
    assert f.action_id == "7"


def test_bare_lf_between_headers_splits_them() -> None:
    data = BANNER + b"Event: Agents\r\nAgent: 1001\r\nCallStarted: 0\nLoggedInTime: 5\r\n\r\n"
    f = frames_of(data)[1]
    assert f.get("CallStarted") == "0"
    assert f.get("LoggedInTime") == "5"


def test_line_without_colon_is_an_anomaly_and_parsing_resumes() -> None:
    data = BANNER + b"Event: A\r\nthis is junk\r\n\r\nEvent: B\r\nX: 1\r\n\r\n"
    frames = frames_of(data)
    assert [f.kind for f in frames] == [FrameKind.BANNER, FrameKind.ANOMALY, FrameKind.EVENT]
    assert frames[1].raw == b"Event: A\r\nthis is junk\r\n\r\n"
    assert "without" in (frames[1].problem or "")
    assert frames[2].name == "B"


def test_garbage_and_stray_line_breaks_between_frames() -> None:
    data = BANNER + b"\r\n\r\nEvent: A\r\n\r\n\xff\xfegarbage\r\n\r\nEvent: B\r\n\r\n"
    frames = frames_of(data)
    kinds = [f.kind for f in frames]
    assert kinds == [
        FrameKind.BANNER,
        FrameKind.ANOMALY,
        FrameKind.EVENT,
        FrameKind.ANOMALY,
        FrameKind.EVENT,
    ]
    assert frames[1].raw == b"\r\n\r\n"
    assert frames[3].raw == b"\xff\xfegarbage\r\n\r\n"


def test_oversized_frame_is_kept_as_anomaly_and_parsing_resumes() -> None:
    big = b"Event: Big\r\n" + b"X: " + b"a" * 5000 + b"\r\n\r\n"
    data = BANNER + big + b"Event: Small\r\nY: 2\r\n\r\n"
    for chunks in ([data], [data[i : i + 100] for i in range(0, len(data), 100)]):
        conn = AmiConnection(max_frame_size=1024)
        out: list[Frame] = []
        for c in chunks:
            conn.receive_data(c)
            out.extend(conn)
        conn.receive_data(b"")
        out.extend(conn)
        assert b"".join(f.raw for f in out) == data
        anomalies = [f for f in out if f.kind is FrameKind.ANOMALY]
        assert anomalies and b"".join(f.raw for f in anomalies) == big
        assert "larger than 1024" in (anomalies[0].problem or "")
        assert out[-1].name == "Small" and out[-1].get("Y") == "2"
        assert conn.anomalies == len(anomalies)


def test_incomplete_frame_at_eof_is_kept() -> None:
    data = BANNER + b"Event: A\r\n\r\nEvent: Trunc\r\nX: 1"
    frames = frames_of(data)
    assert frames[-1].kind is FrameKind.ANOMALY
    assert frames[-1].raw == b"Event: Trunc\r\nX: 1"


def test_stream_without_banner() -> None:
    data = b"Event: A\r\nX: 1\r\n\r\n"
    frames = frames_of(data)
    assert [f.kind for f in frames] == [FrameKind.EVENT]
    frames = frames_of(data, expect_banner=False)
    assert [f.kind for f in frames] == [FrameKind.EVENT]
