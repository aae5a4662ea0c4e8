"""Bridges machine vs CEL BRIDGE_ENTER/BRIDGE_EXIT, and membership invariants at every step.

CEL logs one BRIDGE_ENTER/BRIDGE_EXIT per channel and bridge (extra ``bridge_id``), including the
moves that follow a BridgeMerge; our EnteredBridge/LeftBridge changes must be the same multiset.
Only parking's holding bridge outlives the calls (Asterisk keeps the lot's bridge).
"""

from __future__ import annotations

import csv
import functools
import json
from collections import Counter
from typing import Any

import pytest

from tests.helpers import FIXTURES
from tracker.reducer import Reducer
from tracker.replay import iter_envelopes
from tracker.state.bridge import BridgeMerged, EnteredBridge, LeftBridge

FULL = sorted(
    p.name
    for p in FIXTURES.glob("*.ami")
    if p.name not in ("md5_login.fail.ami", "reconnect.late.ami")
)


@functools.cache
def cel(capture: str) -> list[list[str]]:
    path = FIXTURES / (capture.split(".")[0] + ".cel.csv")
    with path.open(encoding="latin-1", newline="") as f:
        return list(csv.reader(f))


def fold_checked(capture: str) -> tuple[Reducer, list[Any]]:
    """Fold, checking after every event that bridge members and channel.bridge agree."""
    reducer = Reducer()
    out: list[Any] = []
    world = reducer.world
    for env in iter_envelopes(FIXTURES / capture):
        out.extend(reducer.apply(env))
        for bid, bridge in world.bridges.items():
            assert len(set(bridge.members)) == len(bridge.members)
            for uid in bridge.members:
                assert world.channels[uid].bridge == bid
        for ch in world.channels.values():
            if ch.bridge is not None:
                assert ch.uniqueid in world.bridges[ch.bridge].members
    return reducer, out


@pytest.mark.parametrize("capture", FULL)
def test_bridge_enter_exit_match_cel(capture: str) -> None:
    reducer, changes = fold_checked(capture)

    def cel_pairs(kind: str) -> Counter[tuple[str, str]]:
        return Counter(
            (r[15], json.loads(r[20])["bridge_id"]) for r in cel(capture) if r[0] == kind
        )

    entered = Counter((c.uniqueid, c.bridge) for c in changes if type(c) is EnteredBridge)
    left = Counter((c.uniqueid, c.bridge) for c in changes if type(c) is LeftBridge)
    assert entered == cel_pairs("BRIDGE_ENTER")
    assert left == cel_pairs("BRIDGE_EXIT")
    assert all(b.type == "parking" for b in reducer.world.bridges.values())


def test_bridge_merge_recorded_once() -> None:
    _, changes = fold_checked("transfers.ami")
    merges = [c for c in changes if type(c) is BridgeMerged]
    assert len(merges) == 1
    row = next(r for r in cel("transfers.ami") if r[0] == "ATTENDEDTRANSFER")
    extra = json.loads(row[20])
    assert (merges[0].into, merges[0].merged) == (extra["bridge1_id"], extra["bridge2_id"])
    assert merges[0].moved == (extra["transfer_target_channel_uniqueid"],)


def test_bridge_details_from_snapshot() -> None:
    reducer = Reducer()
    seen = {}
    for env in iter_envelopes(FIXTURES / "confbridge.ami"):
        reducer.apply(env)
        for bid, b in reducer.world.bridges.items():
            seen[bid] = (b.type, b.technology, len(b.members), b.name)
    conf = [v for v in seen.values() if v[0] == "base"]
    assert len(conf) == 1
    assert conf[0][1] == "softmix"
