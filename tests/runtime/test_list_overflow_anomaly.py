"""A list answer over the codec's bounds (``AmiConnection.list_overflows``, noted on the frame's
``problem``) is a recorded ``Anomaly`` of the fold: live over TCP, in a replay and from the
store alike (the World, anomaly count included, is identical)."""

from __future__ import annotations

import shutil
from pathlib import Path

import trio

from tests.helpers import FIXTURES
from tracker.ami import DEFAULT_MAX_OPEN_LISTS, FrameKind
from tracker.capture import iter_frames, read_bytes
from tracker.events import envelopes
from tracker.reducer import Reducer
from tracker.replay import import_capture, replay
from tracker.runtime import AmiClient, run_simulator
from tracker.runtime.tracker import Tracker
from tracker.state import Anomaly, Change, encode_world
from tracker.store import migrate, open_store

from ._support import SECRET, USER, url

ORPHANS = DEFAULT_MAX_OPEN_LISTS + 1
"""List answers that start and never complete: one more than a connection keeps open."""


def _overflowing_capture(tmp_path: Path) -> Path:
    """``basic.ami`` with ``ORPHANS`` list starts (no items, never completed) after its login."""
    data = read_bytes(FIXTURES / "basic.ami")
    login = next(
        f for f in iter_frames(FIXTURES / "basic.ami") if f.kind is FrameKind.RESPONSE
    ).raw  # the capture's first response answers its Login
    cut = data.index(login) + len(login)
    orphans = b"".join(
        b"Response: Success\r\nActionID: orphan-%d\r\nEventList: start\r\n"
        b"Message: Channels will follow\r\n\r\n" % n
        for n in range(ORPHANS)
    )
    path = tmp_path / "overflow.ami"
    path.write_bytes(data[:cut] + orphans + data[cut:])
    shutil.copy(FIXTURES / "basic.sent", tmp_path / "overflow.sent")
    return path


def _overflows(changes: list[Change]) -> list[Anomaly]:
    return [c for c in changes if type(c) is Anomaly and c.kind == "list_overflow"]


def test_the_frame_the_codec_flagged_is_an_anomaly_and_still_folded(tmp_path: Path) -> None:
    path = _overflowing_capture(tmp_path)
    frames = list(iter_frames(path))
    flagged = [f for f in frames if f.problem and f.kind is not FrameKind.ANOMALY]
    assert len(flagged) == 1 and "open lists" in (flagged[0].problem or "")
    envs = list(envelopes(frames))
    assert [e.problem for e in envs if e.problem] == [flagged[0].problem]
    reducer = Reducer()
    changes = [c for env in envs for c in reducer.apply(env)]
    (anomaly,) = _overflows(changes)
    assert anomaly.detail == flagged[0].problem
    assert anomaly.seq == frames.index(flagged[0])
    assert anomaly.event == "AmiResponse"
    # the same frames without the note fold to the same World, one anomaly fewer
    plain = Reducer()
    for env in envs:
        plain.apply(env._replace(problem=None))
    assert reducer.world.anomalies == plain.world.anomalies + 1
    plain.world.anomalies += 1
    assert encode_world(reducer.world) == encode_world(plain.world)
    assert replay(path).world.calls_ended == replay(FIXTURES / "basic.ami").world.calls_ended == 1


async def test_live_replay_and_store_fold_the_overflow_alike(tmp_path: Path) -> None:
    path = _overflowing_capture(tmp_path)
    expected = replay(path)
    assert len([a for a in expected.anomalies if a.kind == "list_overflow"]) == 1
    changes: list[Change] = []
    with trio.fail_after(45):
        async with run_simulator(path, username=USER, secret=SECRET) as sim:
            client = AmiClient(url(sim.port), keepalive=None)
            tracker = Tracker(client, resync=False)
            async with trio.open_nursery() as nursery:
                with tracker.subscribe(buffer=100_000) as sub:
                    nursery.start_soon(tracker.run)
                    await sim.connected.wait()
                    await sim.sessions[0].stream_done.wait()
                    await tracker.aclose()
                    async for batch in sub:
                        changes.extend(batch.changes)
    assert client.stats.list_overflows == 1
    assert len(_overflows(changes)) == 1
    assert tracker.stats.frames == expected.events
    assert encode_world(tracker.world) == encode_world(expected.world)

    store_url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    migrate.upgrade(store_url)
    with open_store(store_url) as store:
        import_capture(store, path, server="pbx")
        stored = store.world_at("pbx").world
    assert encode_world(stored) == encode_world(expected.world)
