"""Whether the compiled fast path (``tracker/ami/_speedups.c``) is used, and why not.

The pure-Python parser and decoder are the reference and always present; the extension is
built by ``pip install`` when a C compiler is available. ``AMI_TRACKER_NO_EXTENSIONS=1``
forces the pure path (read once, at import).
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

ENV_DISABLE = "AMI_TRACKER_NO_EXTENSIONS"

_module: ModuleType | None = None
_missing: str | None = None
try:
    _module = importlib.import_module(f"{__package__}._speedups")
except ImportError as exc:
    if isinstance(exc, ModuleNotFoundError) and exc.name == f"{__package__}._speedups":
        _missing = "not built (no C compiler at install time?)"
    else:
        _missing = f"not loadable: {exc}"


def compiled() -> ModuleType | None:
    """The extension module when it is built, whatever ``AMI_TRACKER_NO_EXTENSIONS`` says."""
    return _module


def disabled_by_env() -> bool:
    return os.environ.get(ENV_DISABLE, "").strip() not in ("", "0")


ENABLED = _module is not None and not disabled_by_env()
"""True when FrameParser and decode_headers are the compiled ones."""


def speedups_status() -> str:
    """One line for ``ami-tracker --version``: which codec runs, and why."""
    if ENABLED:
        return "codec: compiled (tracker.ami._speedups)"
    if _module is not None:
        return f"codec: pure Python ({ENV_DISABLE} is set; the compiled one is built)"
    return f"codec: pure Python (the compiled one is {_missing})"
