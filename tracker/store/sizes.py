"""On-disk size of the raw log (table + indexes + TOAST), for the size budget and ``bench``."""

from __future__ import annotations

from sqlalchemy import Connection, text


def raw_log_bytes(conn: Connection, table: str = "frame_blocks") -> int:
    """Bytes ``table`` takes on disk with its indexes (SQLite: dbstat pages; PostgreSQL:
    ``pg_total_relation_size``, TOAST included)."""
    if conn.dialect.name == "sqlite":
        names = [
            r[0]
            for r in conn.execute(
                text("SELECT name FROM sqlite_master WHERE tbl_name = :t"), {"t": table}
            )
        ]
        total = 0
        for name in names:
            total += conn.execute(
                text("SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name = :n"), {"n": name}
            ).scalar_one()
        return int(total)
    return int(conn.execute(text("SELECT pg_total_relation_size(:t)"), {"t": table}).scalar_one())
