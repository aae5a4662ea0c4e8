"""Persistence (SQLAlchemy, blocking; run in worker threads by the runtime). Coming next."""

from __future__ import annotations
