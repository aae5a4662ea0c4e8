"""The fold's clock on real captures with bad or stepped ``Timestamp`` headers.

A far-future (or non-numeric) Timestamp used to pin the clock: every later call got duration 0
and nothing was recorded. Here such frames are injected into real captures and the call records
are compared with those of the unmodified capture.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from tests.helpers import FIXTURES
from tracker.ami import AmiConnection
from tracker.capture import read_bytes
from tracker.events import envelopes
from tracker.reducer import Reducer
from tracker.state import Anomaly
from tracker.state.call import Call, CallEnded

_STAMP = re.compile(rb"\r\nTimestamp: ([^\r]*)\r\n")
_EPOCH = re.compile(rb"\b(\d{10})\.(\d+)\b")
_LIFE = re.compile(rb"Event: (Newchannel|Hangup)\r\n(?:[^\r]*\r\n)*?Uniqueid: ([^\r]*)")


def _fold(data: bytes, reducer: Reducer | None = None) -> tuple[list[Call], list[Anomaly]]:
    conn = AmiConnection()
    conn.receive_data(data)
    conn.receive_data(b"")
    reducer = reducer if reducer is not None else Reducer()
    records: list[Call] = []
    anomalies: list[Anomaly] = []
    for env in envelopes(list(conn)):
        for change in reducer.apply(env):
            if type(change) is CallEnded:
                records.append(change.record)
            elif type(change) is Anomaly:
                anomalies.append(change)
    return records, anomalies


def _stamps(data: bytes) -> list[re.Match[bytes]]:
    return list(_STAMP.finditer(data))


def _restamp(data: bytes, which: int, value: bytes) -> bytes:
    """``data`` with the value of its ``which``-th Timestamp header replaced by ``value``."""
    m = _stamps(data)[which]
    return data[: m.start(1)] + value + data[m.end(1) :]


def _shift_after(data: bytes, offset: int, seconds: int, *, ids: bool) -> bytes:
    """Every Timestamp after byte ``offset`` moved by ``seconds`` (and, with ``ids``, every
    ``<epoch>.<n>`` value: Uniqueids and Linkedids come from the same clock)."""
    if ids:
        pattern, head = _EPOCH, data[:offset]

        def move(m: re.Match[bytes]) -> bytes:
            return b"%d.%s" % (int(m.group(1)) + seconds, m.group(2))

        return head + pattern.sub(move, data[offset:])

    def restamp(m: re.Match[bytes]) -> bytes:
        return b"\r\nTimestamp: %.6f\r\n" % (float(m.group(1)) + seconds)

    return data[:offset] + _STAMP.sub(restamp, data[offset:])


def _durations(records: list[Call]) -> dict[str, float]:
    return {r.linkedid: r.duration for r in records}


def _kinds(anomalies: list[Anomaly]) -> list[str]:
    return [a.kind for a in anomalies if a.kind.startswith(("clock", "bad_timestamp"))]


@pytest.fixture(scope="module")
def load() -> bytes:
    return read_bytes(FIXTURES / "load.ami.gz")


@pytest.mark.parametrize("value", [b"9999999999", b"9999999999.000000", b"inf", b"nan", b"-1"])
@pytest.mark.parametrize("capture", ["basic.ami", "load.ami.gz"])
def test_one_bad_timestamp_is_an_anomaly_and_leaves_durations_alone(
    capture: str, value: bytes
) -> None:
    data = read_bytes(FIXTURES / capture)
    base, base_anomalies = _fold(data)
    assert not _kinds(base_anomalies)
    stamps = _stamps(data)
    bad = _restamp(data, len(stamps) // 3, value)
    records, anomalies = _fold(bad)
    kind = "bad_timestamp" if value in (b"inf", b"nan", b"-1") else "clock_jump"
    assert _kinds(anomalies) == [kind]
    assert len(records) == len(base)
    durations = _durations(records)
    for linkedid, duration in _durations(base).items():
        # only the bad frame's own time changes (to the previous event's): at most a few ms
        assert durations[linkedid] == pytest.approx(duration, abs=0.05), linkedid
    assert any(d > 1 for d in durations.values())


def test_far_future_first_timestamp_is_stepped_back_after_agreeing_events() -> None:
    data = read_bytes(FIXTURES / "basic.ami")
    base, _ = _fold(data)
    records, anomalies = _fold(_restamp(data, 0, b"9999999999.5"))
    kinds = _kinds(anomalies)
    assert kinds[-1] == "clock_step" and kinds.count("clock_step") == 1
    assert _durations(records) == pytest.approx(_durations(base), abs=0.05)


@pytest.mark.parametrize("seconds", [2 * 86400, -2 * 86400])
def test_a_pbx_clock_step_is_followed_after_a_few_events(load: bytes, seconds: int) -> None:
    """Timestamps (only) jump by two days mid-capture, as when the PBX clock is corrected."""
    base, _ = _fold(load)
    at = _stamps(load)[len(_stamps(load)) // 2].start()
    records, anomalies = _fold(_shift_after(load, at, seconds, ids=False))
    kinds = _kinds(anomalies)
    assert kinds == ["clock_jump"] * 2 + ["clock_step"]
    step = next(a for a in anomalies if a.kind == "clock_step")
    # calls that began after the step (and its confirmation) keep their exact durations
    after = [r for r in records if step.at <= r.start < step.at + 86400]
    assert len(after) > 50
    want = _durations(base)
    for r in after:
        assert r.duration == pytest.approx(want[r.linkedid], abs=1e-6)
        assert r.start == pytest.approx(
            next(b.start for b in base if b.linkedid == r.linkedid) + seconds, abs=1e-6
        )


@pytest.mark.parametrize("capture", ["queue.ami", "transfers.ami", "unanswered.ami"])
def test_a_quiet_night_is_not_an_anomaly_when_a_new_channel_confirms_it(capture: str) -> None:
    """Eight quiet hours before a call that starts when no channel is up: its Newchannel's
    Uniqueid was made by the same clock, so every call keeps its exact duration."""
    data = read_bytes(FIXTURES / capture)
    base, _ = _fold(data)
    live: set[bytes] = set()
    cuts = []
    for m in _LIFE.finditer(data):
        if m.group(1) == b"Newchannel":
            if not live:
                cuts.append(m.start())
            live.add(m.group(2))
        else:
            live.discard(m.group(2))
    assert len(cuts) > 1
    records, anomalies = _fold(_shift_after(data, cuts[-1], 8 * 3600, ids=True))
    assert not _kinds(anomalies)
    assert len(records) == len(base) > 1
    # the Linkedids moved with the clock: compare in record order
    assert [r.duration for r in records] == pytest.approx([r.duration for r in base], abs=1e-6)
    assert records[-1].start == pytest.approx(base[-1].start + 8 * 3600, abs=1e-6)


def test_max_clock_jump_is_configurable() -> None:
    data = read_bytes(FIXTURES / "basic.ami")
    stamps = _stamps(data)
    later = float(stamps[len(stamps) // 2].group(1)) + 120
    bad = _restamp(data, len(stamps) // 2, b"%.6f" % later)

    def kinds(make: Callable[[], Reducer]) -> list[str]:
        return _kinds(_fold(bad, make())[1])

    assert kinds(Reducer) == []  # two minutes is within the default hour
    assert kinds(lambda: Reducer(max_clock_jump=60)) == ["clock_jump"]


def test_replay_of_the_same_frames_gives_the_same_clock(load: bytes) -> None:
    at = _stamps(load)[1000].start()
    data = _restamp(_shift_after(load, at, -86400, ids=False), 500, b"inf")
    first, second = Reducer(), Reducer()
    assert _fold(data, first) == _fold(data, second)
    assert first.world == second.world
