"""Per-user reminders in SQLite, set and listed through one forgiving free-text tool."""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing, suppress
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from functools import cached_property
from pathlib import Path
from typing import Iterable

from tools.registry import Tool, ToolContext, ToolInputError, tool

MAX_TASK_CHARS = 200
MAX_AHEAD = timedelta(days=366)
FORMS = "say when and what, e.g. 'in 2 hours: call mom', 'tomorrow at 9am: dentist', 'at 17:30 take the bus', or 'list'"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
LIST_WORDS = frozenset("list show reminders reminder view see check upcoming pending".split())
LIST_FILLER = LIST_WORDS | frozenset("what whats what's are my all me the do i have any please set for today got".split())
_ONES = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen " \
    "eighteen nineteen".split()
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50}
NUMBERS: dict[str, float] = {w: i + 1 for i, w in enumerate(_ONES)} | _TENS | {
    f"{ten} {one}": value + i + 1 for ten, value in _TENS.items() for i, one in enumerate(_ONES[:9])} | {
    "sixty": 60, "ninety": 90, "a": 1, "an": 1, "half a": 0.5, "half an": 0.5, "a couple of": 2, "a few": 3}
UNITS = {unit: seconds for seconds, units in ((1, "s sec secs second seconds"), (60, "m min mins minute minutes"),
         (3600, "h hr hrs hour hours"), (86400, "d day days"), (604800, "w wk week weeks")) for unit in units.split()}
PART_OF_DAY = {"morning": 9, "afternoon": 15, "evening": 19, "night": 20, "tonight": 20}

_AMOUNT = r"\d+(?:\.\d+)?|" + "|".join(w.replace(" ", r"[\s-]+") + r"\b" for w in sorted(NUMBERS, key=len, reverse=True))
_DURATION = rf"(?:{_AMOUNT})\s*(?:{'|'.join(sorted(UNITS, key=len, reverse=True))})(?![a-z])(?:\s+and\s+a\s+half)?"
_DURATIONS = rf"{_DURATION}(?:(?:\s*,\s*|\s+and\s+|\s*){_DURATION})*"
RELATIVE = re.compile(rf"\b(?:in|after)\s+(?P<a>{_DURATIONS})|\b(?P<b>{_DURATIONS})\s+from\s+now\b|"
                      rf"^(?P<c>{_DURATIONS})(?=\s*[:,-])", re.I)
PART = re.compile(r"\b(?:in\s+the\s+|this\s+|at\s+)?(?P<part>morning|afternoon|evening|night|tonight)\b", re.I)
DAY = re.compile(r"\b(?:on\s+)?(?:(?P<after>(?:the\s+)?day\s+after\s+tomorrow)|(?P<tomorrow>tomorrow)|"
                 r"(?P<today>today|tonight)|(?:next\s+|this\s+)?(?P<wd>(?:mon|tues|wednes|thurs|fri|satur|sun)day)|"
                 r"(?:(?:next|this)\s+|(?<=\bon\s))(?P<wd2>mon|tues?|wed|thu|thurs?|fri|sat|sun))\b", re.I)
_MONTH = r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|" \
    r"nov(?:ember)?|dec(?:ember)?"
DATE = re.compile(rf"\b(?:on\s+)?(?:the\s+)?(?:(?P<iso>\d{{4}}-\d{{2}}-\d{{2}})|(?P<m1>{_MONTH})\.?\s+(?P<d1>\d{{1,2}})(?:st|nd|rd|th)?|"
                  rf"(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<m2>{_MONTH})|(?P<d3>\d{{1,2}})(?:st|nd|rd|th))\b", re.I)
CLOCK = re.compile(r"(?P<at>\bat\s+)?\b(?:(?P<word>noon|midday|midnight)|(?P<h>\d{1,2})(?:(?P<sep>[:.])(?P<m>\d{2}))?"
                   r"\s*(?P<ap>[ap]\.?m\b\.?)?)(?!\w|:\d)", re.I)


@dataclass(frozen=True)
class Reminder:
    """One stored reminder; `due_utc` is an aware UTC datetime."""

    id: int
    user_id: str
    task: str
    due_utc: datetime


def _duration(text: str) -> timedelta:
    seconds = 0.0
    for part in re.finditer(rf"(?P<n>{_AMOUNT})\s*(?P<u>[a-z]+?)(?![a-z])(?P<half>\s+and\s+a\s+half)?", text, re.I):
        size = UNITS[part["u"].lower()]
        amount = part["n"].lower().replace("-", " ")
        seconds += (float(amount) if amount[0].isdigit() else NUMBERS[" ".join(amount.split())]) * size
        seconds += size / 2 if part["half"] else 0
    if seconds > MAX_AHEAD.total_seconds():
        raise ToolInputError("reminders can be at most a year ahead")
    return timedelta(seconds=seconds)


def _clock(text: str) -> tuple[re.Match[str] | None, tuple[int, ...]]:
    """The time of day in the text and its candidate hours (two when am/pm is unclear)."""
    found = [m for m in CLOCK.finditer(text) if m["word"] or m["ap"] or (m["at"] and m["h"]) or m["sep"] == ":"]
    if not found:
        return None, ()
    match = min(found, key=lambda m: not (m["at"] or m["ap"] or m["word"]))
    if match["word"]:
        return match, (0 if match["word"].lower() == "midnight" else 12,)
    hour, ap = int(match["h"]), (match["ap"] or "").lower()[:1]
    if hour > 23 or int(match["m"] or 0) > 59 or (ap and not 1 <= hour <= 12):
        raise ToolInputError(f"{match.group().strip()} is not a time of day; {FORMS}")
    if ap:
        return match, (hour % 12 + (12 if ap == "p" else 0),)
    unclear = 1 <= hour <= 11 and not match["h"].startswith("0")
    return match, (hour, hour + 12) if unclear else (hour,)


def _calendar_day(match: re.Match[str], today: date) -> date:
    """The first date after today that 'the 14th', 'March 3', '3 March' or '2024-06-01' names."""
    day, named = int(match["d1"] or match["d2"] or match["d3"] or 0), (match["m1"] or match["m2"] or "")[:3].title()
    for ahead in range(25):
        year, month = divmod(today.month - 1 + ahead, 12)
        with suppress(ValueError):  # no 31 June: try the next month
            found = date.fromisoformat(match["iso"]) if match["iso"] else date(today.year + year, month + 1, day)
            if (found > today or match["iso"]) and named in ("", MONTHS[month]):
                return found
    raise ToolInputError(f"{match.group().strip()} is not a date; {FORMS}")


def parse_due(text: str, now: datetime) -> tuple[datetime, list[tuple[int, int]]]:
    """The due time (aware, in `now`'s zone) a request asks for, and the spans of text that said so."""
    relative = RELATIVE.search(text)
    if relative:
        delta = _duration(relative["a"] or relative["b"] or relative["c"])
        return (now.astimezone(timezone.utc) + delta).astimezone(now.tzinfo), [relative.span()]
    day, part = DAY.search(text), PART.search(text)
    when = None if day else DATE.search(text)
    clock, hours = _clock(text)
    if not (day or part or clock or when):
        raise ToolInputError(f"I could not tell when; {FORMS}")
    offset, rolls = 0, (0, 1)  # with no day named, a time that has passed today means tomorrow
    if when:
        offset, rolls = (_calendar_day(when, now.date()) - now.date()).days, (0,)
    elif day and (day["after"] or day["tomorrow"]):
        offset, rolls = (2 if day["after"] else 1), (0,)
    elif day and day["today"]:
        rolls = (0,)
    elif day:
        named = (day["wd"] or day["wd2"]).lower()[:3]
        offset, rolls = (WEEKDAYS.index(next(w for w in WEEKDAYS if w.startswith(named))) - now.weekday()) % 7, (0, 7)
    if not hours:
        hours = (PART_OF_DAY[part["part"].lower()] if part else 9,)
    elif len(hours) == 2 and part:
        hours = hours[:1] if part["part"].lower() == "morning" else hours[1:]
    elif len(hours) == 2 and offset:
        hours = hours[1:] if hours[0] <= 6 else hours[:1]
    minute = int(clock["m"]) if clock and clock["m"] else 0
    for roll in rolls:
        for hour in hours:
            local = datetime.combine(now.date() + timedelta(days=offset + roll), time(hour, minute))
            if local.replace(tzinfo=now.tzinfo) > now:
                return local.replace(tzinfo=now.tzinfo), [m.span() for m in (day, part, clock, when) if m]
    raise ToolInputError("that time has already passed today; pick a later time")


def _task(text: str, spans: list[tuple[int, int]]) -> str:
    text = "".join(" " if any(a <= i < b for a, b in spans) else c for i, c in enumerate(text))
    text = " ".join(text.split())
    text = re.sub(r"^(?:[\w']+[\s,]+){0,6}?(?:reminder(?:\s+for)?|remind\s+me|forget|nudge)\b", "", text, flags=re.I)
    text = re.sub(r"^[\s:,;-]*(?:to|that|about|of)?\b[\s:,;-]*", "", text, flags=re.I)
    return text.strip(" :,;-.")


def local_label(moment: datetime, zone: tzinfo | None) -> str:
    """'Tue 14 May 11:15' in the given timezone."""
    local = moment.astimezone(zone)
    return f"{WEEKDAYS[local.weekday()][:3].title()} {local.day} {MONTHS[local.month - 1]} {local:%H:%M}"


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("reminder times must be timezone-aware")
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


class Reminders:
    """Reminders stored per user in one SQLite file; safe to call from several threads."""

    def __init__(self, path: Path, *, max_per_user: int = 500) -> None:
        self.path = Path(path)
        self.max_per_user = max_per_user
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("CREATE TABLE IF NOT EXISTS reminders (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                         "user_id TEXT NOT NULL, task TEXT NOT NULL, due_utc TEXT NOT NULL, "
                         "delivered INTEGER NOT NULL DEFAULT 0)")
            conn.execute("CREATE INDEX IF NOT EXISTS reminders_user_due ON reminders (user_id, delivered, due_utc)")

    def _connect(self) -> closing[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        conn.execute("PRAGMA synchronous=NORMAL")  # safe with WAL, and much faster
        return closing(conn)

    @cached_property
    def tool(self) -> Tool:
        """The `remind` tool for the registry."""
        return tool(self.remind, name="remind")

    def create(self, user_id: str, task: str, due_utc: datetime) -> int:
        """Store a reminder and return its id."""
        task = " ".join(task.split())
        if not task:
            raise ToolInputError(f"what should I remind you of? {FORMS}")
        if len(task) > MAX_TASK_CHARS:
            raise ToolInputError(f"the reminder text is too long; keep it under {MAX_TASK_CHARS} characters")
        with self._connect() as conn, conn:  # the inner `conn` commits, or rolls back on error
            conn.execute("BEGIN IMMEDIATE")  # count and insert atomically, across threads and processes
            (count,) = conn.execute("SELECT COUNT(*) FROM reminders WHERE user_id = ? AND delivered = 0",
                                    (user_id,)).fetchone()
            if count >= self.max_per_user:
                raise ToolInputError(f"you already have {count} reminders, the most I keep; wait for some to pass")
            cursor = conn.execute("INSERT INTO reminders (user_id, task, due_utc) VALUES (?, ?, ?)",
                                  (user_id, task, _iso(due_utc)))
        return int(cursor.lastrowid or 0)

    def _select(self, user_id: str, condition: str, now: datetime) -> list[Reminder]:
        with self._connect() as conn:
            rows = conn.execute(f"SELECT id, user_id, task, due_utc FROM reminders WHERE user_id = ? "
                                f"AND delivered = 0 AND due_utc {condition} ? ORDER BY due_utc, id",
                                (user_id, _iso(now))).fetchall()
        return [Reminder(row[0], row[1], row[2], datetime.fromisoformat(row[3])) for row in rows]

    def upcoming(self, user_id: str, *, now: datetime) -> list[Reminder]:
        """Undelivered reminders due after `now`, soonest first."""
        return self._select(user_id, ">", now)

    def due(self, user_id: str, *, now: datetime) -> list[Reminder]:
        """Reminders that have come due by `now` and were not delivered yet."""
        return self._select(user_id, "<=", now)

    def mark_delivered(self, ids: Iterable[int]) -> None:
        """Record that these reminders were shown to their user."""
        with self._connect() as conn:
            conn.executemany("UPDATE reminders SET delivered = 1 WHERE id = ?", [(int(i),) for i in ids])

    def remind(self, request: str, ctx: ToolContext) -> str:
        """Set a reminder for a time, or list the user's reminders.

        Args:
            request: when and what, e.g. in 2 hours: call mom, tomorrow at 9am: dentist; or list

        Example:
            in 2 hours: call mom
        """
        now = ctx.now()
        words = re.sub(r"[^\w\s']", " ", request.lower()).split()
        if words and set(words) <= LIST_FILLER and set(words) & LIST_WORDS:
            return self._listing(self.upcoming(ctx.user_id, now=now), now)
        due, spans = parse_due(request, now)
        if not now < due <= now + MAX_AHEAD:
            raise ToolInputError("pick a time after now and at most a year ahead")
        task = " ".join(_task(request, spans).split())
        self.create(ctx.user_id, task, due)
        return f"Reminder set for {local_label(due, now.tzinfo)}: {task}"

    @staticmethod
    def _listing(items: list[Reminder], now: datetime) -> str:
        shown = [f"{local_label(item.due_utc, now.tzinfo)} {item.task}" for item in items]
        text = "; ".join(shown)
        while len(text) > 250 and len(shown) > 1:  # one short line: drop the latest ones
            shown.pop()
            text = "; ".join(shown) + f"; and {len(items) - len(shown)} more"
        return f"{len(items)} reminder{'s' * (len(items) != 1)}: {text}" if items else "No reminders."
