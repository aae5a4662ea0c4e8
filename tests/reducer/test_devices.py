"""Device/extension state vs Asterisk's own DeviceStateList / ExtensionStateList replies.

``lists.ami`` asks for both lists while calls are up. The replies reuse the live event names
(``DeviceStateChange``, ``ExtensionStatus``); only ``list_item`` tells them apart. Just before each
reply item is applied, every name we have seen live must have the state Asterisk lists, and the
item must not produce a live-looking change.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from tracker.capture import iter_frames
from tracker.events import DeviceStateChange, ExtensionStatus, envelopes
from tracker.reducer import Reducer
from tracker.state import Change, World
from tracker.state.device import DeviceStateChanged, ExtensionStateChanged

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


@functools.cache
def fold(name: str) -> tuple[World, tuple[Change, ...], tuple[tuple[Any, Any], ...], int]:
    """World, live changes, (ours, Asterisk's) pairs before each list item, list-item changes."""
    reducer = Reducer()
    changes: list[Change] = []
    pairs: list[tuple[Any, Any]] = []
    from_list = 0
    for env in envelopes(iter_frames(FIXTURES / f"{name}.ami")):
        item = env.item
        if env.list_item and isinstance(item, DeviceStateChange):
            known = reducer.world.devices.devices.get(str(item.device))
            pairs.append((None if known is None else known.state, item.state))
        elif env.list_item and isinstance(item, ExtensionStatus):
            key = f"{item.exten}@{item.context}"
            ext = reducer.world.devices.extensions.get(key)
            pairs.append(
                (
                    None if ext is None else (ext.status, ext.status_text),
                    (item.status, item.status_text),
                )
            )
        out = reducer.apply(env)
        if env.list_item:
            from_list += sum(1 for c in out if type(c).__module__ == "tracker.state.device")
        else:
            changes.extend(out)
    return reducer.world, tuple(changes), tuple(pairs), from_list


def test_known_states_equal_asterisk_lists() -> None:
    _, _, pairs, _ = fold("lists")
    known = [(ours, theirs) for ours, theirs in pairs if ours is not None]
    assert len(known) >= 5
    for ours, theirs in known:
        assert ours == theirs


def test_list_items_emit_changes_only_for_unknown_names() -> None:
    """Names with no live event yet are learnt (flagged reconciled); known ones change nothing."""
    _, _, pairs, from_list = fold("lists")
    assert from_list == sum(1 for ours, _ in pairs if ours is None)


def test_live_changes_follow_the_stream() -> None:
    """Each live DeviceStateChange that differs from the last known state is one change, never
    flagged reconciled, and the final state is the last event's."""
    world, changes, _, _ = fold("queue")
    last: dict[str, str] = {}
    expected = 0
    for env in envelopes(iter_frames(FIXTURES / "queue.ami")):
        item = env.item
        if isinstance(item, DeviceStateChange) and not env.list_item:
            name, state = str(item.device), str(item.state)
            expected += last.get(name) != state
            last[name] = state
    ours = [c for c in changes if isinstance(c, DeviceStateChanged)]
    assert len(ours) == expected
    assert not any(c.reconciled for c in ours)
    assert {k: v.state for k, v in world.devices.devices.items()} == last


def test_extension_status_tracked() -> None:
    world, changes, _, _ = fold("queue")
    ext = [c for c in changes if isinstance(c, ExtensionStateChanged)]
    assert ext
    assert world.devices.extensions["601@phones"].hint == "Local/601@phones"


def test_presence_state_last_known() -> None:
    """No presence providers in the lab: typed events built by hand."""
    from tracker import events as ev
    from tracker.events.envelope import Envelope
    from tracker.state.device import PresenceStateChanged

    reducer = Reducer()
    first = reducer.apply(
        Envelope(
            0, ev.PresenceStateChange(presentity="CustomPresence:1", status="away", timestamp=1.0)
        )
    )
    again = reducer.apply(
        Envelope(
            1,
            ev.PresenceStateChange(presentity="CustomPresence:1", status="away"),
            True,
        )
    )
    changed = [c for c in first if isinstance(c, PresenceStateChanged)]
    assert [(c.key, c.status, c.reconciled) for c in changed] == [
        ("CustomPresence:1", "away", False)
    ]
    assert again == []
    assert reducer.world.devices.presence["CustomPresence:1"].status == "away"
