"""Unwrap single-exception groups at our context-manager edges (strict exception groups)."""

from __future__ import annotations


def leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in leaves(sub)]
    return [exc]


def single(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The only exception in ``group`` (however nested), else the group itself."""
    flat = leaves(group)
    return flat[0] if len(flat) == 1 else group
