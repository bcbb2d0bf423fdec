"""The activity log: past queries of each user, with the context of the session they came from.

Persona rewrites are precomputed from it (`python -m assistant personas precompute`), and product pages read a
user's previous shopping queries from it. Reads for one user never return another user's rows; `everyone()` is
for offline jobs with population scope only.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

MAX_QUERY_CHARS = 4000
MAX_ROWS_PER_USER = 5000  # the oldest rows go first


@dataclass(frozen=True)
class Activity:
    """One logged query."""

    id: int
    user_id: str
    query: str
    when: datetime  # aware, UTC
    kind: str = "chat"  # chat | shop | page
    context: dict[str, Any] = field(default_factory=dict)  # time_of_day, day_of_week, location, position, session_id...
    tools: tuple[str, ...] = ()  # tools the turn used
    answer: str = ""  # what the assistant answered (the plain output)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"id": self.id, "user_id": self.user_id, "query": self.query, "when": self.when.isoformat(), "kind": self.kind,
                "context": self.context, "tools": list(self.tools), "answer": self.answer}


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("activity times must be timezone-aware")
    return moment.astimezone(timezone.utc)


class ActivityLog:
    """Every user's past queries in one SQLite file; safe across threads and processes."""

    def __init__(self, path: Path, *, max_rows_per_user: int = MAX_ROWS_PER_USER) -> None:
        self.path = Path(path)
        self.max_rows_per_user = max_rows_per_user
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("CREATE TABLE IF NOT EXISTS activity (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL, "
                         "query TEXT NOT NULL, at TEXT NOT NULL, kind TEXT NOT NULL, context TEXT NOT NULL, tools TEXT NOT NULL, "
                         "answer TEXT NOT NULL)")
            conn.execute("CREATE INDEX IF NOT EXISTS activity_user ON activity (user_id, kind, at)")

    def _connect(self) -> closing[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        conn.execute("PRAGMA synchronous=NORMAL")
        return closing(conn)

    def record(self, user_id: str, query: str, *, when: datetime, kind: str = "chat", context: dict[str, Any] | None = None,
               tools: Sequence[str] = (), answer: str = "") -> Activity:
        """Log one query; blank queries are refused, long ones cut."""
        query = " ".join(str(query).split())[:MAX_QUERY_CHARS]
        if not query:
            raise ValueError("an empty query is not logged")
        moment = _utc(when)
        context = dict(context or {})
        with self._connect() as conn, conn:
            cursor = conn.execute(
                "INSERT INTO activity (user_id, query, at, kind, context, tools, answer) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (user_id, query, moment.isoformat(timespec="seconds"), kind, json.dumps(context, ensure_ascii=False, default=str),
                 json.dumps(list(tools)), answer[:MAX_QUERY_CHARS]))
            conn.execute("DELETE FROM activity WHERE user_id = ? AND id NOT IN "
                         "(SELECT id FROM activity WHERE user_id = ? ORDER BY id DESC LIMIT ?)",
                         (user_id, user_id, self.max_rows_per_user))
        return Activity(int(cursor.lastrowid or 0), user_id, query, moment, kind, context, tuple(tools), answer[:MAX_QUERY_CHARS])

    @staticmethod
    def _row(row: tuple) -> Activity:
        return Activity(row[0], row[1], row[2], datetime.fromisoformat(row[3]), row[4], json.loads(row[5]), tuple(json.loads(row[6])),
                        row[7])

    _COLUMNS = "id, user_id, query, at, kind, context, tools, answer"

    def queries(self, user_id: str, *, kind: str | None = None, since: datetime | None = None, limit: int = 50) -> list[Activity]:
        """This user's logged queries, newest first (optionally of one kind, since a moment)."""
        sql, args = f"SELECT {self._COLUMNS} FROM activity WHERE user_id = ?", [user_id]
        if kind is not None:
            sql, args = sql + " AND kind = ?", [*args, kind]
        if since is not None:
            sql, args = sql + " AND at >= ?", [*args, _utc(since).isoformat(timespec="seconds")]
        with self._connect() as conn:
            rows = conn.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, max(0, int(limit)))).fetchall()
        return [self._row(r) for r in rows]

    def everyone(self, *, kind: str | None = None) -> Iterator[Activity]:
        """Every user's logged queries, oldest first (population scope, for offline jobs)."""
        sql, args = f"SELECT {self._COLUMNS} FROM activity", ()
        if kind is not None:
            sql, args = sql + " WHERE kind = ?", (kind,)
        with self._connect() as conn:
            rows = conn.execute(sql + " ORDER BY id", args).fetchall()
        yield from (self._row(r) for r in rows)

    def delete_user(self, user_id: str) -> int:
        """Forget every logged query of this user; returns how many."""
        with self._connect() as conn:
            return conn.execute("DELETE FROM activity WHERE user_id = ?", (user_id,)).rowcount
