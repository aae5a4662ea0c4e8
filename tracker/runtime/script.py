"""What the simulator serves from a capture: banner, the frames to stream, recorded answers.

The capture's ``.sent`` file (same stem) names the actions behind the captured responses: its
``ActionID``s correlate each recorded answer (response + list items + complete event) with the
action name and parameters that produced it, so the simulator can replay it for a client.
Without a ``.sent`` file, list answers are still found by their complete event's name (from
the typed actions' metadata); single responses then cannot be attributed.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

from ..ami import Frame, FrameKind, FrameParser
from ..capture import iter_frames, read_bytes
from ..events.actions import ACTION_TYPES

Params = tuple[tuple[str, str], ...]


@dataclasses.dataclass(frozen=True)
class RecordedAnswer:
    action: str
    """Action name as the capture's client sent it."""
    params: Params
    """The sent headers other than ``Action``/``ActionID``, in order."""
    action_id: str
    frames: tuple[Frame, ...]
    """Response, then list items and the complete event (list actions)."""
    position: int = -1
    """Index in ``CaptureScript.stream`` of the answer's last frame (-1: before the stream).
    The answer describes the PBX at that point of the capture."""
    timestamp: float | None = None
    """Latest ``Timestamp`` in the stream before that point (None: none yet)."""


@dataclasses.dataclass(frozen=True)
class CaptureScript:
    banner: bytes
    stream: tuple[Frame, ...]
    """Frames after the capture's own login response (minus a final ``Goodbye``)."""
    answers: dict[str, tuple[RecordedAnswer, ...]]
    """Lower-cased action name -> recorded answers, in capture order."""

    def find_answer(self, action: str, params: Params) -> RecordedAnswer | None:
        """The recorded answer whose sent params equal ``params``, else the first one."""
        recorded = self.answers.get(action.lower())
        if not recorded:
            return None
        wanted = _normalise(params)
        for answer in recorded:
            if _normalise(answer.params) == wanted:
                return answer
        return recorded[0]


def _normalise(params: Params) -> Params:
    return tuple((k.lower(), v) for k, v in params if k.lower() != "actionid")


def sent_path(capture: Path) -> Path:
    name = capture.name
    for suffix in (".ami.gz", ".ami"):
        if name.endswith(suffix):
            return capture.with_name(name[: -len(suffix)] + ".sent")
    return capture.with_name(name + ".sent")


def read_sent(path: Path) -> dict[str, tuple[str, Params]]:
    """ActionID -> (action name, other headers) of every action in a ``.sent`` file."""
    parser = FrameParser(expect_banner=False)
    parser.feed(read_bytes(path))
    parser.feed(b"")
    actions: dict[str, tuple[str, Params]] = {}
    while (frame := parser.next_frame()) is not None:
        if frame.kind is not FrameKind.ACTION or frame.action_id is None:
            continue
        params = tuple((k, v) for k, v in frame.headers[1:] if k != "ActionID")
        actions[frame.action_id] = (frame.name, params)
    return actions


def _list_actions_by_complete_event() -> dict[str, str]:
    out: dict[str, str] = {}
    for cls in ACTION_TYPES.values():
        if cls.__response__ == "list" and cls.__complete_event__:
            out.setdefault(cls.__complete_event__, cls.__wire__)
    return out


def _is_login_response(frame: Frame, sent: dict[str, tuple[str, Params]]) -> bool:
    if frame.kind is not FrameKind.RESPONSE:
        return False
    if frame.action_id is not None and frame.action_id in sent:
        return sent[frame.action_id][0].lower() == "login"
    return frame.get("Challenge") is None and frame.get("Message") in (
        "Authentication accepted",
        "Authentication failed",
    )


def load_script(capture: str | Path) -> CaptureScript:
    """Index a capture (``.ami`` or ``.ami.gz``) for serving."""
    path = Path(capture)
    side = sent_path(path)
    sent = read_sent(side) if side.exists() else {}
    frames = list(iter_frames(path))
    banner = frames[0].raw if frames and frames[0].kind is FrameKind.BANNER else b""
    start = next((i + 1 for i, f in enumerate(frames) if _is_login_response(f, sent)), None)
    if start is None:  # no login in the capture: everything after the banner is stream
        start = 1 if banner else 0
    stream = frames[start:]
    if stream and stream[-1].kind is FrameKind.RESPONSE and stream[-1].name == "Goodbye":
        stream = stream[:-1]

    index = {id(f): i - start for i, f in enumerate(frames)}
    stamps: list[float | None] = []
    last: float | None = None
    for frame in stream:
        stamps.append(last)
        value = frame.get("Timestamp")
        if value is not None:
            with contextlib.suppress(ValueError):
                last = float(value)
    by_complete = _list_actions_by_complete_event()
    by_name: dict[str, list[RecordedAnswer]] = {}
    listed: dict[str, list[Frame]] = {}  # the connection keeps no items of a passive capture
    for frame in frames:
        if frame.kind is FrameKind.LIST_ITEM and frame.action_id is not None:
            listed.setdefault(frame.action_id, []).append(frame)
        result = frame.completes
        if result is None:
            continue
        items = [f for f in listed.pop(result.action_id, ()) if f is not result.complete]
        if result.action_id in sent:
            name, params = sent[result.action_id]
        elif result.complete is not None and result.complete.name in by_complete:
            name, params = by_complete[result.complete.name], ()
        else:
            continue
        parts = [result.response, *items]
        if result.complete is not None:
            parts.append(result.complete)
        position = max(-1, index[id(parts[-1])])
        stamp = (
            stamps[position] if 0 <= position < len(stamps) else (last if position >= 0 else None)
        )
        answer = RecordedAnswer(name, params, result.action_id, tuple(parts), position, stamp)
        by_name.setdefault(name.lower(), []).append(answer)
    answers = {k: tuple(v) for k, v in by_name.items()}
    return CaptureScript(banner=banner, stream=tuple(stream), answers=answers)


def with_action_id(raw: bytes, old: str, new: str | None) -> bytes:
    """``raw`` with its ``ActionID: old`` header replaced by ``new`` (removed when None)."""
    needle = b"\r\nActionID: " + old.encode("utf-8") + b"\r\n"
    repl = b"\r\n" if new is None else b"\r\nActionID: " + new.encode("utf-8") + b"\r\n"
    return raw.replace(needle, repl, 1)
