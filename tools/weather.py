"""Weather forecasts for a place and day: an offline demo provider and Open-Meteo behind one interface."""

from __future__ import annotations

import hashlib
import math
import re
import threading
from datetime import date, timedelta
from functools import cached_property
from typing import Any, Protocol

import httpx

from tools.registry import Tool, ToolContext, ToolInputError, tool

MAX_DAYS_AHEAD = 14
MAX_PLACE_CHARS = 80
GEOCODING_URL = "https://geocoding-api.open-meteo.com/v1/search"
FORECAST_URL = "https://api.open-meteo.com/v1/forecast"
DAILY = "weathercode,temperature_2m_max,temperature_2m_min,precipitation_probability_max"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
WMO_CODES = {
    0: "clear sky", 1: "mainly clear", 2: "partly cloudy", 3: "overcast", 45: "fog", 48: "freezing fog",
    51: "light drizzle", 53: "drizzle", 55: "heavy drizzle", 56: "freezing drizzle", 57: "heavy freezing drizzle",
    61: "light rain", 63: "rain", 65: "heavy rain", 66: "freezing rain", 67: "heavy freezing rain",
    71: "light snow", 73: "snow", 75: "heavy snow", 77: "snow grains", 80: "light showers", 81: "showers",
    82: "violent showers", 85: "snow showers", 86: "heavy snow showers", 95: "thunderstorm",
    96: "thunderstorm with hail", 99: "thunderstorm with heavy hail",
}
DEMO_CONDITIONS = (("sunny", 5), ("clear sky", 5), ("partly cloudy", 15), ("cloudy", 25), ("overcast", 30),
                   ("fog", 20), ("light rain", 60), ("showers", 70), ("rain", 85), ("thunderstorm", 80))
FILLER = frozenset(
    "what what's whats how how's hows is it the weather weather's forecast like in for at on of will going to be "
    "gonna rain raining rainy snow snowing sunny hot cold warm windy cloudy temperature temperatures please tell "
    "me give show get check about do does i need an umbrella there outside a any chance and should expected "
    "look looks".split()
)
_NUMBERS = {w: n for n, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve "
                                         "thirteen fourteen".split())} | {"a": 1, "an": 1, "a couple of": 2}
_NUMBER = r"\d+|" + "|".join(sorted(_NUMBERS, key=len, reverse=True))
_WEEKDAY = r"(?:mon|tues|wednes|thurs|fri|satur|sun)day|mon|tues?|wed|thu(?:rs?)?|fri|sat|(?<=on\s|xt\s|is\s)sun"
_LEAD = r"(?:\b(?:on|for|this|the|coming)\s+)*"
_DAY_PHRASES = (
    ("after", rf"{_LEAD}\bday\s+after\s+tomorrow\b"),
    ("tomorrow", rf"{_LEAD}\b(?:tomorrow|tmrw|tomorow|tommorow)(?:\s+(?:morning|afternoon|evening|night))?\b"),
    ("ahead", rf"\b(?:in|within)\s+(?P<n>{_NUMBER})\s+(?P<unit>days?|weeks?)\b|"
              rf"\b(?P<n2>{_NUMBER})\s+(?P<unit2>days?|weeks?)\s+from\s+now\b"),
    ("today", rf"{_LEAD}\b(?:today|tonight|right\s+now|now|(?:this\s+)?(?:morning|afternoon|evening|week)|"
              r"(?:over\s+)?the\s+(?:next|coming)\s+few\s+days)\b"),
    ("yesterday", r"\byesterday\b"),
    ("weekend", rf"{_LEAD}\b(?P<next>next\s+)?weekend\b"),
    ("next week", rf"{_LEAD}\bnext\s+week\b"),
    ("weekday", rf"{_LEAD}\b(?P<next>next\s+)?(?P<wd>{_WEEKDAY})\b"),
    ("iso", r"\b(?:on\s+)?(?P<iso>\d{4}-\d{2}-\d{2})\b"),
)


class WeatherProvider(Protocol):
    """Anything that can describe the weather for a place on a day in one short line."""

    def forecast(self, place: str, day: date) -> str:
        """One line: place, day, conditions, temperatures."""


class WeatherUnavailable(RuntimeError):
    """The weather service could not be reached or answered with an error."""


def day_label(day: date) -> str:
    """'Tue 14 May'."""
    return f"{WEEKDAYS[day.weekday()][:3].title()} {day.day} {MONTHS[day.month - 1]}"


def _summary(place: str, day: date, condition: str, low: float, high: float, rain: Any) -> str:
    rain_text = f", {round(rain)}% chance of rain" if isinstance(rain, (int, float)) else ""
    return f"{place}, {day_label(day)}: {condition}, {round(low)} to {round(high)}°C{rain_text}"


class DemoWeather:
    """Offline made-up weather, the same for the same place and day; every line says '(demo data)'."""

    def forecast(self, place: str, day: date) -> str:
        """A plausible, deterministic forecast."""
        name = " ".join(re.sub(r"[^\w\s-]", " ", place.lower()).split())
        place_bytes = hashlib.sha256(name.encode()).digest()
        day_bytes = hashlib.sha256(f"{name}|{day.isoformat()}".encode()).digest()
        season = 13 - 10 * math.cos(2 * math.pi * (day.timetuple().tm_yday - 20) / 365.25)
        high = round(season + place_bytes[0] % 17 - 8 + day_bytes[0] % 9 - 4)
        low = high - 3 - day_bytes[1] % 8
        condition, rain = DEMO_CONDITIONS[day_bytes[2] % len(DEMO_CONDITIONS)]
        if high <= 1 and rain >= 60:
            condition = "snow"
        wind = 3 + day_bytes[3] % 35
        line = _summary(name.title()[:MAX_PLACE_CHARS] or "Somewhere", day, condition, low, high, rain)
        return f"{line}, wind {wind} km/h (demo data)"


class OpenMeteoWeather:
    """Real forecasts from the free Open-Meteo geocoding and forecast APIs."""

    def __init__(self, *, client: httpx.Client | None = None, timeout: float = 10.0) -> None:
        self._client = client
        self._timeout = timeout
        self._lock = threading.Lock()

    @property
    def client(self) -> httpx.Client:
        """The HTTP client, created on first use."""
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(timeout=self._timeout, headers={"User-Agent": "assistant-weather/1"})
            return self._client

    def _get(self, url: str, params: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self.client.get(url, params=params)
        except httpx.HTTPError as exc:
            raise WeatherUnavailable(f"could not reach Open-Meteo ({type(exc).__name__}); try again later") from exc
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code != 200:
            reason = str(data.get("reason", ""))[:120] if isinstance(data, dict) else ""
            raise WeatherUnavailable(f"Open-Meteo answered HTTP {response.status_code} {reason}".strip())
        if not isinstance(data, dict):
            raise WeatherUnavailable("Open-Meteo sent an unreadable answer")
        return data

    def forecast(self, place: str, day: date) -> str:
        """Geocode the place, then fetch that day's daily forecast."""
        name = place.split(",")[0].strip()
        found = self._get(GEOCODING_URL, {"name": name, "count": 1, "language": "en", "format": "json"})
        if not found.get("results"):
            raise ToolInputError(f"I could not find a place called {place[:40]!r}; try a city name like Paris")
        hit = found["results"][0]
        params = {"latitude": hit["latitude"], "longitude": hit["longitude"], "daily": DAILY, "timezone": "auto",
                  "start_date": day.isoformat(), "end_date": day.isoformat()}
        daily = self._get(FORECAST_URL, params).get("daily", {})
        label = ", ".join(part for part in (hit.get("name"), hit.get("country")) if part)
        try:
            index = daily["time"].index(day.isoformat())
            code, high, low = (daily[key][index] for key in ("weathercode", "temperature_2m_max", "temperature_2m_min"))
            rain = daily.get("precipitation_probability_max", [None] * (index + 1))[index]
            if high is None or low is None:
                raise ValueError
        except (KeyError, ValueError, IndexError, TypeError):
            raise WeatherUnavailable(f"Open-Meteo has no forecast for {label} on {day_label(day)}") from None
        return _summary(label, day, WMO_CODES.get(code, "unknown conditions"), low, high, rain)


def parse_request(request: str, *, today: date) -> tuple[str, list[date]]:
    """Split 'weather in Berlin on Friday' into ('Berlin', [the coming Friday]); a weekend gives two days."""
    text, offset, found = request, 0, ""
    for kind, pattern in _DAY_PHRASES:
        match = re.search(pattern, text, flags=re.IGNORECASE)
        if match:
            offset, found = _day_offset(kind, match, today), kind
            text = re.sub(pattern, " ", text, flags=re.IGNORECASE)
            break
    words = re.sub(r"[?!.;:]", " ", text).split()
    while words and words[0].lower().strip(",") in FILLER:
        words.pop(0)
    while words and words[-1].lower().strip(",") in FILLER:
        words.pop()
    lowered = [word.lower() for word in words]
    for marker in ("in", "for"):  # 'how warm will it get in Madrid' -> 'Madrid'
        if len(words) > 2 and marker in lowered[1:-1]:
            words = words[len(lowered) - lowered[::-1].index(marker):]
            lowered = [word.lower() for word in words]
    place = " ".join(words).strip(" ,")
    if not place:
        raise ToolInputError("which place? Name a city, e.g. Paris tomorrow")
    if len(place) > MAX_PLACE_CHARS:
        raise ToolInputError("that place name is too long; give just the city, e.g. Paris tomorrow")
    if not 0 <= offset <= MAX_DAYS_AHEAD:
        raise ToolInputError(f"I can only forecast from today up to {MAX_DAYS_AHEAD} days ahead")
    first = today + timedelta(days=offset)
    span = 2 if found == "weekend" and first.weekday() == 5 and offset < MAX_DAYS_AHEAD else 1
    return place, [first + timedelta(days=i) for i in range(span)]


def _day_offset(kind: str, match: re.Match[str], today: date) -> int:
    groups = {key: value.lower() for key, value in match.groupdict().items() if value}
    if kind == "ahead":
        count = groups.get("n") or groups.get("n2", "1")
        number = int(count) if count.isdigit() else _NUMBERS[" ".join(count.split())]
        return number * (7 if (groups.get("unit") or groups.get("unit2", "")).startswith("week") else 1)
    if kind == "iso":
        try:
            return (date.fromisoformat(groups["iso"]) - today).days
        except ValueError:
            raise ToolInputError("write dates as YYYY-MM-DD, e.g. 2024-05-20") from None
    if kind == "weekend":
        if today.weekday() >= 5:  # already the weekend: 'this' is today, 'next' is the coming Saturday
            return ((5 - today.weekday()) % 7 or 7) if "next" in groups else 0
        return 5 - today.weekday()
    if kind == "weekday":
        ahead = (WEEKDAYS.index(next(d for d in WEEKDAYS if d.startswith(groups["wd"][:3]))) - today.weekday()) % 7
        return ahead or (7 if "next" in groups else 0)
    return {"after": 2, "tomorrow": 1, "today": 0, "yesterday": -1, "next week": 7}[kind]


class Weather:
    """The weather tool, bound to one provider."""

    def __init__(self, provider: WeatherProvider) -> None:
        self.provider = provider

    @cached_property
    def tool(self) -> Tool:
        """The `weather` tool for the registry."""
        return tool(self.weather, name="weather")

    def weather(self, request: str, ctx: ToolContext) -> str:
        """Weather forecast for a city, today or up to 14 days ahead.

        Args:
            request: a city and optionally a day, e.g. Paris tomorrow, Berlin on Friday, Madrid in 3 days

        Example:
            Paris tomorrow
        """
        place, days = parse_request(request, today=ctx.now().date())
        return "; ".join(self.provider.forecast(place, day) for day in days)


def make_weather_provider(name: str, *, client: httpx.Client | None = None) -> WeatherProvider:
    """'demo' or 'open-meteo'."""
    key = name.strip().lower().replace("_", "-")
    if key == "demo":
        return DemoWeather()
    if key in ("open-meteo", "openmeteo"):
        return OpenMeteoWeather(client=client)
    raise ValueError(f"unknown weather provider {name!r}; choose 'demo' or 'open-meteo'")
