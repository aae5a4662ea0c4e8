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
from typing import Any

from ..ami import Frame, FrameKind
from ..capture import iter_frames
from ..events import UndecodableEvent, UnknownEvent, decode_frame


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("inspect", help="summarise a capture file (.ami / .ami.gz)")
    p.add_argument("capture", help="capture file (.ami, or .ami.gz)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def summarize(frames: Iterable[Frame]) -> dict[str, Any]:
    """Counts for one capture (the ``--json`` output)."""
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


def _table(title: str, rows: dict[str, int], extra: dict[str, int] | None = None) -> list[str]:
    if not rows:
        return []
    width = max(len(title), *(len(k) for k in rows))
    head = f"{title:<{width}}  {'count':>7}" + ("  list items" if extra is not None else "")
    lines = [head, "-" * len(head)]
    for key, n in sorted(rows.items(), key=lambda kv: (-kv[1], kv[0])):
        line = f"{key:<{width}}  {n:>7}"
        if extra is not None and extra.get(key):
            line += f"  {extra[key]:>10}"
        lines.append(line)
    return [*lines, ""]


def render(path: str, s: dict[str, Any]) -> str:
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
    out.append("")
    out += _table("event", s["events"], s["list_items"])
    out += _table("response", s["responses"])
    out += _table("unknown event", s["unknown"])
    out += _table("undecodable event", s["undecodable"])
    out += _table("latin-1 frame", s["fallback_frames"])
    out += _table("anomaly", s["anomaly_problems"])
    return "\n".join(out).rstrip() + "\n"


def run(args: argparse.Namespace) -> int:
    path = Path(args.capture)
    if not path.exists():
        print(f"ami-tracker inspect: no such file: {path}", file=sys.stderr)
        return 2
    summary = summarize(iter_frames(path))
    if args.json:
        sys.stdout.write(json.dumps(summary, sort_keys=True) + "\n")
    else:
        sys.stdout.write(render(str(path), summary))
    return 0
