from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from tools.clock import ALIASES, current_time, describe, find_zone
from tools.registry import ToolContext, ToolRegistry

MAY = datetime(2024, 5, 14, 8, 15, tzinfo=timezone.utc)  # a Tuesday; London is on BST (UTC+1)
JANUARY = datetime(2024, 1, 9, 23, 30, tzinfo=timezone.utc)  # a Tuesday; London is on GMT


def context(moment: datetime = MAY, zone: str = "Europe/London") -> ToolContext:
    return ToolContext("u1", timezone=zone, clock=lambda: moment)


@pytest.mark.parametrize(
    "query, expected",
    [
        ("now", "Tuesday 14 May 2024, 09:15 (Europe/London)"),
        ("", "Tuesday 14 May 2024, 09:15 (Europe/London)"),
        ("what's the time right now?", "Tuesday 14 May 2024, 09:15 (Europe/London)"),
        ("Tokyo", "Tuesday 14 May 2024, 17:15 (Asia/Tokyo)"),
        ("time in London", "Tuesday 14 May 2024, 09:15 (Europe/London)"),
        ("New York", "Tuesday 14 May 2024, 04:15 (America/New_York)"),
        ("what time is it in new york?", "Tuesday 14 May 2024, 04:15 (America/New_York)"),
        ("Europe/Paris", "Tuesday 14 May 2024, 10:15 (Europe/Paris)"),
        ("europe/paris", "Tuesday 14 May 2024, 10:15 (Europe/Paris)"),
        ("Asia/Kolkata", "Tuesday 14 May 2024, 13:45 (Asia/Kolkata)"),
        ("Beijing", "Tuesday 14 May 2024, 16:15 (Asia/Shanghai)"),
        ("San Francisco", "Tuesday 14 May 2024, 01:15 (America/Los_Angeles)"),
        ("California", "Tuesday 14 May 2024, 01:15 (America/Los_Angeles)"),
        ("Mumbai", "Tuesday 14 May 2024, 13:45 (Asia/Kolkata)"),
        ("India", "Tuesday 14 May 2024, 13:45 (Asia/Kolkata)"),
        ("UK", "Tuesday 14 May 2024, 09:15 (Europe/London)"),
        ("Germany", "Tuesday 14 May 2024, 10:15 (Europe/Berlin)"),
        ("Sydney", "Tuesday 14 May 2024, 18:15 (Australia/Sydney)"),
        ("Moscow", "Tuesday 14 May 2024, 11:15 (Europe/Moscow)"),
        ("Paris, France", "Tuesday 14 May 2024, 10:15 (Europe/Paris)"),
        ("Buenos Aires", "Tuesday 14 May 2024, 05:15 (America/Argentina/Buenos_Aires)"),
        ("time in São Paulo", "Tuesday 14 May 2024, 05:15 (America/Sao_Paulo)"),
        ("Isle of Man", "Tuesday 14 May 2024, 09:15 (Europe/Isle_of_Man)"),
        ("UTC", "Tuesday 14 May 2024, 08:15 (UTC)"),
        ("pacific time", "Tuesday 14 May 2024, 01:15 (America/Los_Angeles)"),
    ],
)
def test_time_for_places(query: str, expected: str) -> None:
    assert current_time(query, context()) == expected


def test_unknown_place_gives_own_time() -> None:
    assert current_time("Narnia", context()) == (
        "I don't know the place 'Narnia'; your own time is Tuesday 14 May 2024, 09:15 (Europe/London)"
    )


@pytest.mark.parametrize("query", ["🍎", "x" * 500, "'; DROP TABLE zones; --"])
def test_hostile_place_is_answered_not_raised(query: str) -> None:
    answer = current_time(query, context())
    assert answer.endswith("your own time is Tuesday 14 May 2024, 09:15 (Europe/London)")
    assert len(answer) < 300


def test_winter_time_and_date_change() -> None:
    ctx = context(JANUARY)
    assert current_time("now", ctx) == "Tuesday 9 January 2024, 23:30 (Europe/London)"
    assert current_time("Tokyo", ctx) == "Wednesday 10 January 2024, 08:30 (Asia/Tokyo)"
    assert current_time("Los Angeles", ctx) == "Tuesday 9 January 2024, 15:30 (America/Los_Angeles)"


def test_own_timezone_comes_from_context() -> None:
    assert current_time("now", context(zone="America/New_York")) == "Tuesday 14 May 2024, 04:15 (America/New_York)"
    assert current_time("London", context(zone="America/New_York")) == "Tuesday 14 May 2024, 09:15 (Europe/London)"


def test_deterministic_under_injected_clock() -> None:
    ctx = context()
    assert {current_time("Tokyo", ctx) for _ in range(5)} == {"Tuesday 14 May 2024, 17:15 (Asia/Tokyo)"}


def test_every_alias_is_a_real_zone() -> None:
    for place, zone in ALIASES.items():
        assert ZoneInfo(zone).key == zone, place
        assert find_zone(place) == zone


@pytest.mark.parametrize(
    "place, zone",
    [("tokyo", "Asia/Tokyo"), ("los angeles", "America/Los_Angeles"), ("LOS_ANGELES", "America/Los_Angeles"),
     ("Zürich", "Europe/Zurich"), ("tokyo japan", "Asia/Tokyo"), ("atlantis", None), ("", None)],
)
def test_find_zone(place: str, zone: str | None) -> None:
    assert find_zone(place) == zone


def test_describe() -> None:
    assert describe(MAY.astimezone(ZoneInfo("Europe/London")), "Europe/London") == "Tuesday 14 May 2024, 09:15 (Europe/London)"


def test_tool_metadata_and_registry() -> None:
    assert current_time.name == "time"
    assert current_time.wants_context
    assert current_time.parameters["required"] == []
    assert current_time.example == "Tokyo"
    outcome = ToolRegistry.of([current_time]).run("time", "Tokyo", context())
    assert outcome.ok and outcome.text == "Tuesday 14 May 2024, 17:15 (Asia/Tokyo)"
