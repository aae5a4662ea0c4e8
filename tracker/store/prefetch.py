"""Running an iterator in a worker thread, a few items ahead of its reader.

Replay reads the raw log with it: the worker fetches blocks and decompresses them (the
database driver and zstd release the GIL while they work) while the reader parses and folds
the previous ones.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")

_END = object()


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetched(produce: Callable[[], Iterator[T]], ahead: int = 2) -> Iterator[T]:
    """The items of ``produce()``, made by a worker thread at most ``ahead`` items before
    they are read. An error in the worker is raised to the reader in its place; a reader
    that stops early stops the worker (it finishes the item at hand) and waits for it."""
    items: queue.Queue[object] = queue.Queue(maxsize=max(1, ahead))
    stop = threading.Event()

    def work() -> None:
        try:
            for item in produce():
                items.put(item)
                if stop.is_set():
                    return
            items.put(_END)
        except BaseException as exc:  # handed to the reader, raised there
            items.put(_Failed(exc))

    worker = threading.Thread(target=work, name="store-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = items.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while worker.is_alive():  # make room for the worker's last put, then let it end
            with contextlib.suppress(queue.Empty):
                items.get(timeout=0.05)
        worker.join()
