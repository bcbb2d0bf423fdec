"""The current date and time, for the user or for a place or IANA timezone."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from tools.registry import ToolContext, tool

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
REGIONS = ("Africa", "America", "Antarctica", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific")
FILLER = frozenset(
    "what whats what's is it the time in at now right current currently local clock please tell me my "
    "here date today day zone timezone there o'clock".split()
)
ALIASES = {
    "san francisco": "America/Los_Angeles", "sf": "America/Los_Angeles", "la": "America/Los_Angeles",
    "california": "America/Los_Angeles", "seattle": "America/Los_Angeles", "las vegas": "America/Los_Angeles",
    "nyc": "America/New_York", "washington": "America/New_York", "boston": "America/New_York",
    "miami": "America/New_York", "atlanta": "America/New_York", "usa": "America/New_York", "est": "America/New_York",
    "pst": "America/Los_Angeles", "cst": "America/Chicago", "pacific": "America/Los_Angeles",
    "mountain": "America/Denver", "central": "America/Chicago", "eastern": "America/New_York",
    "texas": "America/Chicago", "dallas": "America/Chicago", "houston": "America/Chicago",
    "canada": "America/Toronto", "brazil": "America/Sao_Paulo", "rio de janeiro": "America/Sao_Paulo",
    "mexico": "America/Mexico_City", "uk": "Europe/London", "england": "Europe/London",
    "britain": "Europe/London", "united kingdom": "Europe/London", "scotland": "Europe/London",
    "germany": "Europe/Berlin", "munich": "Europe/Berlin", "france": "Europe/Paris", "spain": "Europe/Madrid",
    "barcelona": "Europe/Madrid", "italy": "Europe/Rome", "milan": "Europe/Rome", "netherlands": "Europe/Amsterdam",
    "moscow": "Europe/Moscow", "russia": "Europe/Moscow", "beijing": "Asia/Shanghai", "china": "Asia/Shanghai",
    "mumbai": "Asia/Kolkata", "delhi": "Asia/Kolkata", "new delhi": "Asia/Kolkata", "bangalore": "Asia/Kolkata",
    "india": "Asia/Kolkata", "japan": "Asia/Tokyo", "korea": "Asia/Seoul", "south korea": "Asia/Seoul",
    "vietnam": "Asia/Ho_Chi_Minh", "hanoi": "Asia/Ho_Chi_Minh", "uae": "Asia/Dubai", "abu dhabi": "Asia/Dubai",
    "sydney": "Australia/Sydney", "australia": "Australia/Sydney", "new zealand": "Pacific/Auckland",
    "wellington": "Pacific/Auckland", "egypt": "Africa/Cairo", "south africa": "Africa/Johannesburg",
    "cape town": "Africa/Johannesburg", "kenya": "Africa/Nairobi", "nigeria": "Africa/Lagos",
}


@lru_cache(maxsize=1)
def _zone_index() -> dict[str, str]:
    """Lower-case zone keys and city names ('new york') to zone keys; continents win over legacy links."""
    keys = sorted(available_timezones(), key=lambda k: (k.split("/")[0] not in REGIONS, k))
    index = {key.lower(): key for key in keys}
    for key in keys:
        index.setdefault(key.rsplit("/", 1)[-1].replace("_", " ").lower(), key)
    return index


def find_zone(place: str) -> str | None:
    """The IANA zone for a place name, country alias or zone key, or None."""
    text = unicodedata.normalize("NFKD", place).encode("ascii", "ignore").decode()
    text = " ".join(text.lower().replace("_", " ").split())
    text = re.sub(r"\s*/\s*", "/", text)
    index = _zone_index()
    candidates = [text, *(part.strip() for part in text.split(","))]
    words = text.replace(",", " ").split()
    for size in range(len(words), 0, -1):
        candidates += [" ".join(words[i:i + size]) for i in range(len(words) - size + 1)]
    for candidate in candidates:
        zone = ALIASES.get(candidate) or index.get(candidate) or index.get(candidate.replace(" ", "_"))
        if zone:
            return zone
    return None


def describe(moment: datetime, zone: str) -> str:
    """'Tuesday 14 May 2024, 09:15 (Europe/London)'."""
    return f"{WEEKDAYS[moment.weekday()]} {moment.day} {MONTHS[moment.month - 1]} {moment.year}, {moment:%H:%M} ({zone})"


def _place_words(query: str) -> str:
    words = re.sub(r"[?!.;]", " ", query).split()
    return " ".join(word for word in words if word.lower().strip(",") not in FILLER).strip(" ,")


@tool(name="time")
def current_time(place: str = "", *, ctx: ToolContext) -> str:
    """Current date and time for the user, or in a city, country or timezone.

    Args:
        place: "now" for the user's own time, or a place like Tokyo or an IANA zone like Europe/Paris

    Example:
        Tokyo
    """
    own = describe(ctx.now(), ctx.timezone)
    wanted = _place_words(place)
    if not wanted:
        return own
    zone = find_zone(wanted)
    if zone is None:
        return f"I don't know the place {wanted[:40]!r}; your own time is {own}"
    return describe(ctx.clock().astimezone(ZoneInfo(zone)), zone)
