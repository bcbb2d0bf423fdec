"""Content-based staleness: a memory about a moment that has passed ("tomorrow I'm flying to Rome")."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

STALE_AFTER = timedelta(days=7)
_SOON = re.compile(
    r"\b(today|tonight|tomorrow|this (?:morning|afternoon|evening|week|weekend)|next (?:week|weekend)|"
    r"in (?:an?|\d+|a few|two|three) (?:minutes?|hours?|days?)|right now|later today|soon)\b",
    re.I,
)


def is_stale(row: Any, now: datetime, *, after: timedelta = STALE_AFTER) -> bool:
    """True for rows older than `after` whose message is about a near moment that has gone by."""
    return now - row.timestamp > after and bool(_SOON.search(row.input))
