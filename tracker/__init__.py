"""ami-tracker: an event-sourced call state tracker for the Asterisk Manager Interface."""

from __future__ import annotations

__version__ = "0.1.0"
