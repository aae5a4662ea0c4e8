"""One timed parse + fold or import in a process of its own, as ``ami-tracker import`` runs
(``bench_store.py`` starts it): modules are imported first and not timed, the database driver
included (psycopg takes ~0.1-0.2 s to import: a cost of starting Python, like SQLAlchemy's), and
so are those the import loads on first use (the reporting projection, ~8 ms; the fork's).

``process`` forks the writer process first, before this process imports anything heavy, as the
command does (:mod:`tracker.prestart`; it loads its modules while this process loads its own);
``forked`` forks it when the store opens, after them; ``thread`` writes from a worker thread.

``python bench/_import_once.py pf|process|forked|thread CAPTURE [DATABASE_URL]`` prints
``wall_seconds own_cpu_seconds writer_cpu_seconds``.
"""

from __future__ import annotations

import gc
import multiprocessing
import multiprocessing.popen_fork  # loaded by the writer process's fork
import resource
import sys
import time
from pathlib import Path


def main() -> None:
    mode, path = sys.argv[1], Path(sys.argv[2])
    prestarted = None
    if mode == "process":
        import os

        from tracker.cli.importer import writer_child
        from tracker.prestart import Opening, prestart

        prestarted = prestart(sys.argv[3], writer_child, Opening("bench", os.getpid()))

    import trio
    from sqlalchemy import make_url

    from tracker.cli.importer import IMPORT_GC_THRESHOLDS
    from tracker.replay import replay
    from tracker.runtime.importing import import_captures
    from tracker.store.models import default_projections

    if mode != "pf":
        make_url(sys.argv[3]).get_dialect().import_dbapi()
        default_projections()
    gc.set_threshold(*IMPORT_GC_THRESHOLDS)  # as the CLI's import does
    t0 = time.perf_counter()
    if mode == "pf":
        replay(path)
    else:
        url = sys.argv[3]
        trio.run(
            lambda: import_captures(
                url,
                [path],
                server="bench",
                spill_path=path.with_suffix(".spill"),
                writer_process=mode != "thread",
                prestarted=prestarted,
            )
        )
    wall = time.perf_counter() - t0
    for child in multiprocessing.active_children():  # the writer exits in the background
        child.join()
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(wall, own.ru_utime + own.ru_stime, kids.ru_utime + kids.ru_stime)


if __name__ == "__main__":
    main()
