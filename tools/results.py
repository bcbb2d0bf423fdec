"""Named fields of tool results, for answers built from them (gold answers, plain outputs, proactive follow-ups)."""

from __future__ import annotations

import re

_TIME = re.compile(r"(\w+) (\d+ \w+ \d+), (\d\d:\d\d) \((.+)\)")
_REMINDER = re.compile(r"Reminder set for (.+?): (.+)$")
_WEATHER = re.compile(r"^(?P<place>[^,]+(?:, [^,:]+)*?), (?P<day>\w{3} \d+ \w{3}): (?P<conditions>[^,]+), "
                      r"(?P<low>-?\d+) to (?P<high>-?\d+)°C")
_CLOCK = re.compile(r"\b(\d\d):(\d\d)\b")
_BEST = re.compile(r"Best match: (?P<best>.+?) at (?P<seller>[^,]+), (?P<price>[^ ]+?)\.(?: |$)")


def twelve_hour(clock: str) -> str:
    """'08:30' -> '8:30 AM', '22:05' -> '10:05 PM'; other text unchanged."""
    match = _CLOCK.fullmatch(clock.strip())
    if not match:
        return clock
    hour, minute = int(match[1]), match[2]
    return f"{(hour - 1) % 12 + 1}:{minute} {'AM' if hour < 12 else 'PM'}"


def feel(high: int) -> str:
    """A word for how a day's top temperature feels."""
    return "freezing" if high < 3 else "cold" if high < 10 else "chilly" if high < 16 else "mild" if high < 23 else "warm" if high < 29 else "hot"


def result_fields(tool: str, result: str) -> dict[str, str]:
    """Named parts of a tool result (`result` is always there)."""
    fields = {"result": result}
    if tool == "calc" and "=" in result:
        fields["value"] = result.rsplit("=", 1)[1].strip()
    elif tool == "time":
        match = _TIME.match(result)
        if match:
            fields.update(weekday=match[1], date=f"{match[1]} {match[2]}", clock=match[3], zone=match[4], clock12=twelve_hour(match[3]))
    elif tool == "weather":
        fields["forecast"] = result.rstrip(".")
        match = _WEATHER.match(result)
        if match:
            fields.update(place=match["place"], day=match["day"], conditions=match["conditions"], low=match["low"],
                          high=match["high"], feel=feel(int(match["high"])))
    elif tool == "search":
        title, _, body = result.split(" | ")[0].partition(": ")
        first = re.split(r"(?<=[.!?])\s", body.strip(), maxsplit=1)[0]
        fields.update(title=title, first=first if first.endswith((".", "!", "?", "…")) else first + ".")
    elif tool == "shop":
        match = _BEST.search(result)
        if match:
            fields.update(best=match["best"], seller=match["seller"], best_price=match["price"])
    elif tool == "remind":
        match = _REMINDER.match(result)
        if match:
            fields.update(when=f"on {match[1]}", task=match[2], when12=_CLOCK.sub(lambda m: twelve_hour(m[0]), match[1]))
    return fields
