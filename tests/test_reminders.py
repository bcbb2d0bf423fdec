import sqlite3
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tools.registry import ToolContext, ToolInputError, ToolRegistry
from tools.reminders import Reminder, Reminders

NOW = datetime(2024, 5, 14, 8, 15, tzinfo=timezone.utc)  # Tuesday 09:15 in London (BST)


def context(user: str = "alice", zone: str = "Europe/London", moment: datetime = NOW) -> ToolContext:
    return ToolContext(user, timezone=zone, clock=lambda: moment)


@pytest.fixture
def reminders(tmp_path: Path) -> Reminders:
    return Reminders(tmp_path / "nested" / "dir" / "reminders.db")


@pytest.mark.parametrize(
    "request_text, expected",
    [
        ("remind me in two hours to call mom", "Reminder set for Tue 14 May 11:15: call mom"),
        ("in 2 hours: call mom", "Reminder set for Tue 14 May 11:15: call mom"),
        ("call mom in two hours", "Reminder set for Tue 14 May 11:15: call mom"),
        ("in 30 minutes to water the plants", "Reminder set for Tue 14 May 09:45: water the plants"),
        ("remind me to buy milk at 5pm", "Reminder set for Tue 14 May 17:00: buy milk"),
        ("tomorrow at 9am: dentist", "Reminder set for Wed 15 May 09:00: dentist"),
        ("at 17:30 take the bus", "Reminder set for Tue 14 May 17:30: take the bus"),
        ("remind me in an hour to stretch", "Reminder set for Tue 14 May 10:15: stretch"),
        ("in half an hour: tea", "Reminder set for Tue 14 May 09:45: tea"),
        ("half an hour: tea", "Reminder set for Tue 14 May 09:45: tea"),
        ("in a minute check the oven", "Reminder set for Tue 14 May 09:16: check the oven"),
        ("in 1 hour and 30 minutes: leave", "Reminder set for Tue 14 May 10:45: leave"),
        ("in an hour and a half: leave", "Reminder set for Tue 14 May 10:45: leave"),
        ("in 2h30m: leave", "Reminder set for Tue 14 May 11:45: leave"),
        ("in twenty-five minutes: pizza", "Reminder set for Tue 14 May 09:40: pizza"),
        ("in 90 seconds: blink", "Reminder set for Tue 14 May 09:16: blink"),
        ("in 3 days: bins", "Reminder set for Fri 17 May 09:15: bins"),
        ("in 2 weeks: haircut", "Reminder set for Tue 28 May 09:15: haircut"),
        ("2 hours from now: ping", "Reminder set for Tue 14 May 11:15: ping"),
        ("remind me to call Bob at 5", "Reminder set for Tue 14 May 17:00: call Bob"),
        ("at 9 read", "Reminder set for Tue 14 May 21:00: read"),
        ("at 09:00 standup", "Reminder set for Wed 15 May 09:00: standup"),
        ("at 8am run", "Reminder set for Wed 15 May 08:00: run"),
        ("at 12 lunch", "Reminder set for Tue 14 May 12:00: lunch"),
        ("remind me at noon to eat", "Reminder set for Tue 14 May 12:00: eat"),
        ("at midnight: sleep", "Reminder set for Wed 15 May 00:00: sleep"),
        ("on friday at 3pm: report", "Reminder set for Fri 17 May 15:00: report"),
        ("on fri: drinks", "Reminder set for Fri 17 May 09:00: drinks"),
        ("next monday: gym", "Reminder set for Mon 20 May 09:00: gym"),
        ("tuesday at 8am: weekly review", "Reminder set for Tue 21 May 08:00: weekly review"),
        ("tomorrow at 5: tea", "Reminder set for Wed 15 May 17:00: tea"),
        ("tomorrow morning: run", "Reminder set for Wed 15 May 09:00: run"),
        ("tonight: tv", "Reminder set for Tue 14 May 20:00: tv"),
        ("this evening call dad", "Reminder set for Tue 14 May 19:00: call dad"),
        ("buy sunscreen at 5pm", "Reminder set for Tue 14 May 17:00: buy sunscreen"),
        ("meet bob at the cafe at 5 p.m.", "Reminder set for Tue 14 May 17:00: meet bob at the cafe"),
        ("read John 3:16 at 9pm", "Reminder set for Tue 14 May 21:00: read John 3:16"),
        ("Remind me to 🎂 order the cake at 18:00", "Reminder set for Tue 14 May 18:00: 🎂 order the cake"),
        ("the 14th: pay the rent", "Reminder set for Fri 14 Jun 09:00: pay the rent"),
        ("on the 20th at 6pm: party", "Reminder set for Mon 20 May 18:00: party"),
        ("the 31st: month end", "Reminder set for Fri 31 May 09:00: month end"),
        ("March 3: buy a card for Dad's birthday", "Reminder set for Mon 3 Mar 09:00: buy a card for Dad's birthday"),
        ("3rd of June at 7:30: flight", "Reminder set for Mon 3 Jun 07:30: flight"),
        ("May 20 at 8pm: call", "Reminder set for Mon 20 May 20:00: call"),
        ("2024-06-01: renew", "Reminder set for Sat 1 Jun 09:00: renew"),
        ("tomorrow at 9: read the 4th chapter", "Reminder set for Wed 15 May 09:00: read the 4th chapter"),
        ("Can you remind me in 45 minutes to check on the laundry", "Reminder set for Tue 14 May 10:00: check on the laundry"),
        ("Don't let me forget to pick up the kids at 3:30pm", "Reminder set for Tue 14 May 15:30: pick up the kids"),
        ("email Bob to remind him in 2 hours", "Reminder set for Tue 14 May 11:15: email Bob to remind him"),
        ("Please create a reminder for next Monday: submit the report",
         "Reminder set for Mon 20 May 09:00: submit the report"),
    ],
)
def test_create_from_text(reminders: Reminders, request_text: str, expected: str) -> None:
    assert reminders.tool(request_text, context()) == expected
    assert len(reminders.upcoming("alice", now=NOW)) == 1


@pytest.mark.parametrize(
    "request_text, message",
    [
        ("in 2 hours", "what should I remind you of"),
        ("remind me at 5pm", "what should I remind you of"),
        ("call mom", "could not tell when"),
        ("remind me", "could not tell when"),
        ("🎂🎂🎂", "could not tell when"),
        ("at 25:00 party", "not a time of day"),
        ("at 13pm party", "not a time of day"),
        ("today at 8am: late", "already passed"),
        ("in 0 minutes: now", "after now"),
        ("2030-01-01: far", "at most a year"),
        ("2024-05-01: past", "already passed"),
        ("February 30: never", "not a date"),
        ("in 400 days: far", "at most a year"),
        ("in 99999999999 days: far", "at most a year"),
        ("x" * 250 + " in 2 hours", "too long"),
    ],
)
def test_refuses_bad_requests(reminders: Reminders, request_text: str, message: str) -> None:
    with pytest.raises(ToolInputError, match=message):
        reminders.tool(request_text, context())
    assert reminders.upcoming("alice", now=NOW) == []


def test_refusal_explains_the_accepted_forms(reminders: Reminders) -> None:
    outcome = ToolRegistry.of([reminders.tool]).run("remind", "call mom", context())
    assert not outcome.ok
    assert "'in 2 hours: call mom'" in outcome.text and "'list'" in outcome.text and len(outcome.text) < 300


@pytest.mark.parametrize(
    "request_text", ["list", "list reminders", "what are my reminders", "show", "Show my reminders?", "any reminders for today?"]
)
def test_list(reminders: Reminders, request_text: str) -> None:
    ctx = context()
    assert reminders.tool(request_text, ctx) == "No reminders."
    reminders.tool("tomorrow at 9am: dentist", ctx)
    assert reminders.tool(request_text, ctx) == "1 reminder: Wed 15 May 09:00 dentist"
    reminders.tool("in 2 hours: call mom", ctx)
    assert reminders.tool(request_text, ctx) == "2 reminders: Tue 14 May 11:15 call mom; Wed 15 May 09:00 dentist"


def test_list_hides_past_and_delivered(reminders: Reminders) -> None:
    ctx = context()
    past = reminders.create("alice", "old", NOW - timedelta(hours=1))
    soon = reminders.create("alice", "soon", NOW + timedelta(minutes=5))
    assert reminders.tool("list", ctx) == "1 reminder: Tue 14 May 09:20 soon"
    assert [r.id for r in reminders.due("alice", now=NOW)] == [past]
    later = NOW + timedelta(minutes=10)
    assert [r.task for r in reminders.due("alice", now=later)] == ["old", "soon"]
    reminders.mark_delivered([past, soon])
    assert reminders.due("alice", now=later) == [] and reminders.upcoming("alice", now=NOW) == []


def test_long_list_stays_short(reminders: Reminders) -> None:
    for i in range(40):
        reminders.create("alice", f"task number {i} with some words", NOW + timedelta(hours=i + 1))
    text = reminders.tool("list", context())
    assert text.startswith("40 reminders: Tue 14 May 10:15 task number 0 with some words;")
    assert text.endswith("more") and len(text) < 300


def test_users_are_isolated(reminders: Reminders) -> None:
    reminders.tool("in 2 hours: alice's secret", context("alice"))
    assert reminders.tool("list", context("bob")) == "No reminders."
    assert reminders.upcoming("bob", now=NOW) == []
    assert reminders.due("bob", now=NOW + timedelta(days=1)) == []
    assert [r.task for r in reminders.upcoming("alice", now=NOW)] == ["alice's secret"]


def test_stored_in_utc_shown_in_local_time(reminders: Reminders) -> None:
    ctx = context("carol", zone="America/New_York")  # 04:15 EDT
    assert reminders.tool("at 5pm: call", ctx) == "Reminder set for Tue 14 May 17:00: call"
    (stored,) = reminders.upcoming("carol", now=NOW)
    assert stored == Reminder(stored.id, "carol", "call", datetime(2024, 5, 14, 21, 0, tzinfo=timezone.utc))
    assert reminders.tool("list", context("carol", zone="Asia/Tokyo")) == "1 reminder: Wed 15 May 06:00 call"
    with sqlite3.connect(reminders.path) as conn:
        assert conn.execute("SELECT due_utc FROM reminders").fetchone() == ("2024-05-14T21:00:00+00:00",)


def test_relative_time_across_dst_change(reminders: Reminders) -> None:
    ctx = context(moment=datetime(2024, 3, 31, 0, 30, tzinfo=timezone.utc))  # 00:30 GMT; clocks jump at 01:00 UTC
    assert reminders.tool("in 2 hours: check clocks", ctx) == "Reminder set for Sun 31 Mar 03:30: check clocks"
    assert reminders.upcoming("alice", now=ctx.clock())[0].due_utc == datetime(2024, 3, 31, 2, 30, tzinfo=timezone.utc)


def test_create_validates(reminders: Reminders) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        reminders.create("alice", "naive", datetime(2024, 5, 14, 12, 0))
    with pytest.raises(ToolInputError, match="too long"):
        reminders.create("alice", "x" * 201, NOW)
    with pytest.raises(ToolInputError, match="remind you of"):
        reminders.create("alice", "   ", NOW)
    assert reminders.create("alice", "x" * 200, NOW) > 0


def test_cap_per_user(tmp_path: Path) -> None:
    store = Reminders(tmp_path / "r.db", max_per_user=3)
    for i in range(3):
        store.tool(f"in {i + 1} hours: task {i}", context())
    with pytest.raises(ToolInputError, match="already have 3 reminders"):
        store.tool("in 5 hours: one too many", context())
    assert store.tool("in 5 hours: bob's", context("bob")).endswith("bob's")


def test_persists_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    Reminders(path).create("alice", "survive restart", NOW + timedelta(hours=1))
    assert [r.task for r in Reminders(path).upcoming("alice", now=NOW)] == ["survive restart"]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_concurrent_creates(reminders: Reminders) -> None:
    errors: list[BaseException] = []

    def work(user: str) -> None:
        try:
            for i in range(25):
                reminders.tool(f"in {i + 1} minutes: {user} task {i}", context(user))
        except BaseException as exc:  # collected so the main thread can fail the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"user{n % 4}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    items = [r for n in range(4) for r in reminders.upcoming(f"user{n}", now=NOW)]
    assert len(items) == 200 and len({r.id for r in items}) == 200
    assert all(r.task.startswith(r.user_id) for r in items)


def test_concurrent_creates_respect_the_cap(tmp_path: Path) -> None:
    store = Reminders(tmp_path / "r.db", max_per_user=10)
    results: list[str] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        try:
            store.create("alice", f"task {n}", NOW + timedelta(hours=1))
            outcome = "ok"
        except ToolInputError:
            outcome = "refused"
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count("ok") == 10 and results.count("refused") == 20
    assert len(store.upcoming("alice", now=NOW)) == 10


def test_tool_metadata(reminders: Reminders) -> None:
    assert reminders.tool.name == "remind"
    assert reminders.tool.wants_context
    assert reminders.tool.example == "in 2 hours: call mom"
    assert reminders.tool is reminders.tool
