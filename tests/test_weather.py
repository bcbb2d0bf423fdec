import re
from datetime import date, datetime, timezone

import httpx
import pytest

from tools.registry import ToolContext, ToolInputError, ToolRegistry
from tools.weather import (
    DemoWeather,
    OpenMeteoWeather,
    Weather,
    WeatherUnavailable,
    make_weather_provider,
    parse_request,
)

TUESDAY = date(2024, 5, 14)
CTX = ToolContext("u1", timezone="Europe/London", clock=lambda: datetime(2024, 5, 14, 8, 15, tzinfo=timezone.utc))

GEO_PARIS = {
    "results": [
        {"id": 2988507, "name": "Paris", "latitude": 48.85341, "longitude": 2.3488, "elevation": 42.0,
         "feature_code": "PPLC", "country_code": "FR", "timezone": "Europe/Paris", "population": 2138551,
         "country": "France", "admin1": "Île-de-France"}
    ],
    "generationtime_ms": 0.7,
}
FORECAST_PARIS = {
    "latitude": 48.86, "longitude": 2.3399997, "generationtime_ms": 0.05, "utc_offset_seconds": 7200,
    "timezone": "Europe/Paris", "timezone_abbreviation": "CEST", "elevation": 43.0,
    "daily_units": {"time": "iso8601", "weathercode": "wmo code", "temperature_2m_max": "°C",
                    "temperature_2m_min": "°C", "precipitation_probability_max": "%"},
    "daily": {"time": ["2024-05-15"], "weathercode": [61], "temperature_2m_max": [17.4],
              "temperature_2m_min": [9.2], "precipitation_probability_max": [68]},
}


@pytest.mark.parametrize(
    "request_text, place, days",
    [
        ("Paris", "Paris", [TUESDAY]),
        ("Paris tomorrow", "Paris", [date(2024, 5, 15)]),
        ("weather in Berlin on Friday", "Berlin", [date(2024, 5, 17)]),
        ("Madrid today", "Madrid", [TUESDAY]),
        ("Nice tonight", "Nice", [TUESDAY]),
        ("London this weekend", "London", [date(2024, 5, 18), date(2024, 5, 19)]),
        ("what's the weather like in New York?", "New York", [TUESDAY]),
        ("will it rain in London tomorrow?", "London", [date(2024, 5, 15)]),
        ("is it going to be sunny in Rome on Saturday", "Rome", [date(2024, 5, 18)]),
        ("forecast for Isle of Man", "Isle of Man", [TUESDAY]),
        ("Tokyo in 3 days", "Tokyo", [date(2024, 5, 17)]),
        ("Tokyo in three days", "Tokyo", [date(2024, 5, 17)]),
        ("Berlin 5 days from now", "Berlin", [date(2024, 5, 19)]),
        ("Oslo in a week", "Oslo", [date(2024, 5, 21)]),
        ("Oslo in 2 weeks", "Oslo", [date(2024, 5, 28)]),
        ("Lima tuesday", "Lima", [TUESDAY]),
        ("Lima next tuesday", "Lima", [date(2024, 5, 21)]),
        ("Kyiv day after tomorrow", "Kyiv", [date(2024, 5, 16)]),
        ("weather Paris 2024-05-20", "Paris", [date(2024, 5, 20)]),
        ("Paris, France tomorrow", "Paris, France", [date(2024, 5, 15)]),
        ("São Paulo fri", "São Paulo", [date(2024, 5, 17)]),
        ("Paris next sun", "Paris", [date(2024, 5, 19)]),
        ("will there be sun in Paris", "Paris", [TUESDAY]),
        ("I wonder how warm it'll get in Madrid on Saturday", "Madrid", [date(2024, 5, 18)]),
        ("Any chance of thunderstorms in Miami tonight?", "Miami", [TUESDAY]),
        ("Good morning! Can you check the weather in Toronto for today?", "Toronto", [TUESDAY]),
        ("Chicago this week", "Chicago", [TUESDAY]),
        ("Rio de Janeiro in 2 days", "Rio de Janeiro", [date(2024, 5, 16)]),
    ],
)
def test_parse_request(request_text: str, place: str, days: list[date]) -> None:
    assert parse_request(request_text, today=TUESDAY) == (place, days)


def test_weekend_on_a_sunday_is_today() -> None:
    assert parse_request("Paris this weekend", today=date(2024, 5, 19)) == ("Paris", [date(2024, 5, 19)])


@pytest.mark.parametrize(
    "request_text, message",
    [
        ("weather tomorrow", "which place"),
        ("weather", "which place"),
        ("?", "which place"),
        ("Rome in 15 days", "up to 14 days"),
        ("Rome in 3 weeks", "up to 14 days"),
        ("Rome in 99999999999999999999 days", "up to 14 days"),
        ("Rome yesterday", "up to 14 days"),
        ("Rome 2024-05-01", "up to 14 days"),
        ("Paris 2024-13-01", "YYYY-MM-DD"),
        ("1h" * 249, "too long"),
    ],
)
def test_parse_request_refuses(request_text: str, message: str) -> None:
    with pytest.raises(ToolInputError, match=message):
        parse_request(request_text, today=TUESDAY)


def test_demo_is_deterministic_and_labelled() -> None:
    demo = DemoWeather()
    first = demo.forecast("Paris", TUESDAY)
    assert first == DemoWeather().forecast("Paris", TUESDAY)
    assert first == demo.forecast("  paris! ", TUESDAY)
    assert first.startswith("Paris, Tue 14 May: ")
    assert len({demo.forecast("Paris", date(2024, 5, d)) for d in range(1, 29)}) > 20


@pytest.mark.parametrize("place", ["Paris", "Reykjavik", "Cairo", "new york", "Ho Chi Minh City", "🍎"])
@pytest.mark.parametrize("day", [date(2024, 1, 15), date(2024, 7, 15), date(2024, 10, 3)])
def test_demo_is_plausible(place: str, day: date) -> None:
    text = DemoWeather().forecast(place, day)
    assert text.endswith("(demo data)")
    low, high = (int(t) for t in re.search(r"(-?\d+) to (-?\d+)°C", text).groups())
    assert -30 <= low <= high <= 45
    wind = int(re.search(r"wind (\d+) km/h", text).group(1))
    assert 0 <= wind <= 40
    assert len(text) < 300


def test_weather_tool_with_demo() -> None:
    weather = Weather(DemoWeather())
    assert weather.tool.name == "weather"
    assert weather.tool.example == "Paris tomorrow"
    assert weather.tool("Paris tomorrow", CTX) == DemoWeather().forecast("Paris", date(2024, 5, 15))
    weekend = weather.tool("London this weekend", CTX)
    assert weekend.count("(demo data)") == 2 and "Sat 18 May" in weekend and "Sun 19 May" in weekend
    assert len(weekend) < 300


def test_weather_tool_errors_through_registry() -> None:
    registry = ToolRegistry.of([Weather(DemoWeather()).tool])
    outcome = registry.run("weather", "weather tomorrow", CTX)
    assert not outcome.ok and outcome.text.startswith("Error: which place?")
    outcome = registry.run("weather", "Paris in 20 days", CTX)
    assert outcome.text == "Error: I can only forecast from today up to 14 days ahead"


def mock_client(handler) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


def test_open_meteo_forecast() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "geocoding-api.open-meteo.com":
            return httpx.Response(200, json=GEO_PARIS)
        return httpx.Response(200, json=FORECAST_PARIS)

    provider = OpenMeteoWeather(client=mock_client(handler))
    assert provider.forecast("Paris", date(2024, 5, 15)) == (
        "Paris, France, Wed 15 May: light rain, 9 to 17°C, 68% chance of rain"
    )
    geo, forecast = seen
    assert geo.url.path == "/v1/search" and geo.url.params["name"] == "Paris" and geo.url.params["count"] == "1"
    assert forecast.url.path == "/v1/forecast"
    assert forecast.url.params["latitude"] == "48.85341" and forecast.url.params["longitude"] == "2.3488"
    assert forecast.url.params["daily"] == "weathercode,temperature_2m_max,temperature_2m_min,precipitation_probability_max"
    assert forecast.url.params["timezone"] == "auto"
    assert forecast.url.params["start_date"] == forecast.url.params["end_date"] == "2024-05-15"


def test_open_meteo_through_the_tool() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=GEO_PARIS if "search" in request.url.path else FORECAST_PARIS)

    weather = Weather(make_weather_provider("open-meteo", client=mock_client(handler)))
    assert weather.tool("what's the weather in Paris tomorrow?", CTX).startswith("Paris, France, Wed 15 May: light rain")


def test_open_meteo_unknown_place() -> None:
    provider = OpenMeteoWeather(client=mock_client(lambda r: httpx.Response(200, json={"generationtime_ms": 0.3})))
    with pytest.raises(ToolInputError, match="could not find a place called 'Atlantis'"):
        provider.forecast("Atlantis", TUESDAY)


def test_open_meteo_http_500() -> None:
    provider = OpenMeteoWeather(client=mock_client(lambda r: httpx.Response(500, text="Internal Server Error")))
    with pytest.raises(WeatherUnavailable, match="HTTP 500"):
        provider.forecast("Paris", TUESDAY)


def test_open_meteo_400_reason_is_shown() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "search" in request.url.path:
            return httpx.Response(200, json=GEO_PARIS)
        return httpx.Response(400, json={"error": True, "reason": "Parameter 'end_date' is out of allowed range"})

    provider = OpenMeteoWeather(client=mock_client(handler))
    with pytest.raises(WeatherUnavailable, match="HTTP 400 Parameter 'end_date' is out of allowed range"):
        provider.forecast("Paris", TUESDAY)


@pytest.mark.parametrize("response", [httpx.Response(200, text="<html>oops</html>"), httpx.Response(200, json=[1, 2])])
def test_open_meteo_unreadable_answer(response: httpx.Response) -> None:
    provider = OpenMeteoWeather(client=mock_client(lambda r: response))
    with pytest.raises(WeatherUnavailable, match="unreadable answer"):
        provider.forecast("Paris", TUESDAY)


def test_open_meteo_network_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    provider = OpenMeteoWeather(client=mock_client(handler))
    with pytest.raises(WeatherUnavailable, match="could not reach Open-Meteo"):
        provider.forecast("Paris", TUESDAY)
    outcome = ToolRegistry.of([Weather(provider).tool]).run("weather", "Paris", CTX)
    assert not outcome.ok and "could not reach Open-Meteo" in outcome.text


def test_open_meteo_missing_day() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "search" in request.url.path:
            return httpx.Response(200, json=GEO_PARIS)
        return httpx.Response(200, json={"daily": {"time": ["2024-05-15"], "weathercode": [None],
                                                   "temperature_2m_max": [None], "temperature_2m_min": [None]}})

    provider = OpenMeteoWeather(client=mock_client(handler))
    with pytest.raises(WeatherUnavailable, match="no forecast for Paris, France on Wed 15 May"):
        provider.forecast("Paris", date(2024, 5, 15))


def test_make_weather_provider() -> None:
    assert isinstance(make_weather_provider("demo"), DemoWeather)
    assert isinstance(make_weather_provider(" Open_Meteo "), OpenMeteoWeather)
    with pytest.raises(ValueError, match="'demo' or 'open-meteo'"):
        make_weather_provider("accuweather")
