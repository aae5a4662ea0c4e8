"""``ami-tracker inspect CAPTURE [--json]``: what a capture holds, frame by frame.

Counts frames by kind, events by name (live and list items), responses by status, and
everything the decoder could not type: unknown event names, undecodable events, latin-1
fallbacks and protocol anomalies.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._common import CAPTURE_HELP, CAPTURE_METAVAR, print_table

if TYPE_CHECKING:
    from ..ami import Frame


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("inspect", help="summarise a capture file, frame by frame")
    p.add_argument("capture", metavar=CAPTURE_METAVAR, help=CAPTURE_HELP)
    p.add_argument("--json", action="store_true", help="print one JSON object (default: text)")
    p.set_defaults(func=run)


def summarize(frames: Iterable[Frame]) -> dict[str, Any]:
    """Counts for one capture (the ``--json`` output)."""
    from ..ami import FrameKind
    from ..events import UndecodableEvent, UnknownEvent, decode_frame

    kinds: Counter[str] = Counter()
    events: Counter[str] = Counter()
    list_items: Counter[str] = Counter()
    responses: Counter[str] = Counter()
    unknown: Counter[str] = Counter()
    undecodable: Counter[str] = Counter()
    problems: Counter[str] = Counter()
    fallback_frames: Counter[str] = Counter()
    total = fallbacks = 0
    banner: str | None = None
    for frame in frames:
        total += 1
        kind = frame.kind
        kinds[kind.value] += 1
        if frame.fallback:
            fallbacks += 1
            fallback_frames[frame.name if kind is not FrameKind.ANOMALY else "(anomaly)"] += 1
        if kind is FrameKind.EVENT or kind is FrameKind.LIST_ITEM:
            name = frame.name
            events[name] += 1
            if kind is FrameKind.LIST_ITEM:
                list_items[name] += 1
            item = decode_frame(frame)
            if isinstance(item, UnknownEvent):
                unknown[name] += 1
            elif isinstance(item, UndecodableEvent):
                undecodable[name] += 1
        elif kind is FrameKind.RESPONSE:
            responses[frame.name] += 1
        elif kind is FrameKind.BANNER:
            banner = banner or frame.name
        elif kind is FrameKind.ANOMALY:
            problems[frame.problem or "anomaly"] += 1
    return {
        "frames": total,
        "banner": banner,
        "kinds": dict(sorted(kinds.items())),
        "events": dict(sorted(events.items())),
        "list_items": dict(sorted(list_items.items())),
        "responses": dict(sorted(responses.items())),
        "unknown": dict(sorted(unknown.items())),
        "undecodable": dict(sorted(undecodable.items())),
        "fallbacks": fallbacks,
        "fallback_frames": dict(sorted(fallback_frames.items())),
        "anomalies": sum(problems.values()),
        "anomaly_problems": dict(sorted(problems.items())),
    }


def _counts(title: str, rows: dict[str, int], extra: dict[str, int] | None = None) -> None:
    if not rows:
        return
    headers = [title, "count"] + (["list items"] if extra is not None else [])
    ordered = sorted(rows.items(), key=lambda kv: (-kv[1], kv[0]))
    body = [
        [key, n] + ([(extra.get(key) or "")] if extra is not None else []) for key, n in ordered
    ]
    print_table(sys.stdout, headers, body, right=(1, 2))
    sys.stdout.write("\n")


def render(path: str, s: dict[str, Any]) -> None:
    out = [f"capture:    {path}"]
    if s["banner"]:
        out.append(f"banner:     {s['banner']}")
    kinds = ", ".join(f"{k} {v}" for k, v in s["kinds"].items())
    out.append(f"frames:     {s['frames']} ({kinds})")
    out.append(f"events:     {sum(s['events'].values())} of {len(s['events'])} kinds")
    out.append(f"fallbacks:  {s['fallbacks']} (frames decoded as latin-1)")
    out.append(f"anomalies:  {s['anomalies']}")
    out.append(f"unknown:    {sum(s['unknown'].values())}")
    out.append(f"undecodable: {sum(s['undecodable'].values())}")
    sys.stdout.write("\n".join(out) + "\n\n")
    _counts("event", s["events"], s["list_items"])
    _counts("response", s["responses"])
    _counts("unknown event", s["unknown"])
    _counts("undecodable event", s["undecodable"])
    _counts("latin-1 frame", s["fallback_frames"])
    _counts("anomaly", s["anomaly_problems"])


def run(args: argparse.Namespace) -> int:
    from ..capture import check_capture, iter_frames

    path = Path(args.capture)
    check_capture(path)
    summary = summarize(iter_frames(path))
    if args.json:
        sys.stdout.write(json.dumps(summary, sort_keys=True) + "\n")
    else:
        render(str(path), summary)
    return 0
