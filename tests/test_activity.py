"""The activity log: past queries per user with their context."""

from datetime import datetime, timedelta, timezone

import pytest

from memory.activity import ActivityLog

NOW = datetime(2024, 5, 14, 8, 30, tzinfo=timezone.utc)


def test_queries_are_per_user_newest_first_and_filterable(tmp_path):
    log = ActivityLog(tmp_path / "a.db")
    log.record("ann", "best laptop for architecture", when=NOW - timedelta(days=3), kind="shop")
    log.record("ann", "what time is it?", when=NOW - timedelta(days=2), context={"time_of_day": "morning"}, tools=["time"],
               answer="It's 8:30 AM.")
    log.record("ann", "best laptop for 3D modeling", when=NOW - timedelta(days=1), kind="shop")
    log.record("bob", "running shoes", when=NOW, kind="shop")
    assert [a.query for a in log.queries("ann")] == ["best laptop for 3D modeling", "what time is it?", "best laptop for architecture"]
    assert [a.query for a in log.queries("ann", kind="shop", limit=1)] == ["best laptop for 3D modeling"]
    assert [a.query for a in log.queries("ann", since=NOW - timedelta(days=2))] == ["best laptop for 3D modeling", "what time is it?"]
    chat = log.queries("ann", kind="chat")[0]
    assert chat.context == {"time_of_day": "morning"} and chat.tools == ("time",) and chat.answer == "It's 8:30 AM."
    assert all(a.user_id == "ann" for a in log.queries("ann"))
    assert [a.user_id for a in log.everyone(kind="shop")] == ["ann", "ann", "bob"]


def test_the_log_keeps_the_newest_rows_per_user(tmp_path):
    log = ActivityLog(tmp_path / "a.db", max_rows_per_user=3)
    for i in range(5):
        log.record("ann", f"q{i}", when=NOW + timedelta(minutes=i))
    log.record("bob", "mine", when=NOW)
    assert [a.query for a in log.queries("ann")] == ["q4", "q3", "q2"]
    assert [a.query for a in log.queries("bob")] == ["mine"]


def test_bad_input_is_refused_or_cut(tmp_path):
    log = ActivityLog(tmp_path / "a.db")
    with pytest.raises(ValueError, match="empty"):
        log.record("ann", "   ", when=NOW)
    with pytest.raises(ValueError, match="timezone"):
        log.record("ann", "hello", when=datetime(2024, 1, 1))
    long = log.record("ann", "x" * 10_000, when=NOW)
    assert len(long.query) == 4000
    hostile = log.record("ann", "<script>alert(1)</script>'; DROP TABLE activity; --", when=NOW)
    assert log.queries("ann")[0].query == hostile.query
    assert log.delete_user("ann") == 2 and log.queries("ann") == []
