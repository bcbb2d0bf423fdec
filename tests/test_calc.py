import time
from datetime import datetime, timezone

import pytest

from tools.calc import calc, format_number, normalise
from tools.registry import ToolContext, ToolInputError, ToolRegistry


@pytest.mark.parametrize(
    "query, expected",
    [
        ("17 * 23", "17 * 23 = 391"),
        ("17 times 23", "17 * 23 = 391"),
        ("17 x 23", "17 * 23 = 391"),
        ("17x23", "17 * 23 = 391"),
        ("17 × 23", "17 * 23 = 391"),
        ("12 plus 3", "12 + 3 = 15"),
        ("10 minus 4", "10 - 4 = 6"),
        ("10 divided by 4", "10 / 4 = 2.5"),
        ("8 ÷ 2", "8 / 2 = 4"),
        ("2^10", "2 ** 10 = 1024"),
        ("2 to the power of 10", "2 ** 10 = 1024"),
        ("5 squared", "5 ** 2 = 25"),
        ("square root of 144", "sqrt(144) = 12"),
        ("What's the square root of 144?", "sqrt(144) = 12"),
        ("√16", "sqrt(16) = 4"),
        ("15% of 80", "0.15 * 80 = 12"),
        ("what is 20 percent of 50?", "0.2 * 50 = 10"),
        ("1,000 + 1", "1000 + 1 = 1001"),
        ("1,234,567 * 2", "1234567 * 2 = 2469134"),
        ("max(1,200)", "max(1, 200) = 200"),
        ("What is 2+2?", "2 + 2 = 4"),
        ("17*23=", "17 * 23 = 391"),
        ("what is 7 times 8 divided by 4?", "7 * 8 / 4 = 14"),
        ("0.1 + 0.2", "0.1 + 0.2 = 0.3"),
        ("1/3", "1 / 3 = 0.3333333333"),
        ("2/3", "2 / 3 = 0.6666666667"),
        ("2(3+4)", "2 * (3 + 4) = 14"),
        ("(1+2)(3+4)", "(1 + 2) * (3 + 4) = 21"),
        ("7 // 2", "7 // 2 = 3"),
        ("10 mod 3", "10 % 3 = 1"),
        ("-3**2", "-3 ** 2 = -9"),
        ("3 minus negative 2", "3 - -2 = 5"),
        ("pi", "pi = 3.141592654"),
        ("3 x pi", "3 * pi = 9.424777961"),
        ("sin(pi/2)", "sin(pi / 2) = 1"),
        ("log(e)", "log(e) = 1"),
        ("ln(e)", "log(e) = 1"),
        ("log10 1000", "log10(1000) = 3"),
        ("exp(1)", "exp(1) = 2.718281828"),
        ("sqrt(2)", "sqrt(2) = 1.414213562"),
        ("round(2.567, 2)", "round(2.567, 2) = 2.57"),
        ("floor(2.5) + ceil(2.5)", "floor(2.5) + ceil(2.5) = 5"),
        ("min(3, 1, 2)", "min(3, 1, 2) = 1"),
        ("abs(-7.5)", "abs(-7.5) = 7.5"),
        ("cube root of 27", "27 ** (1 / 3) = 3"),
        ("2**64", "2 ** 64 = 18446744073709551616"),
        ("10**40", "10 ** 40 = 1e+40"),
        ("2 ** -2000", "2 ** (-2000) = 0"),
        ("-0.0", "-0.0 = 0"),
        ("4 * $3.75", "4 * 3.75 = 15"),
        ("$142 / 4", "142 / 4 = 35.5"),
        ("10€ + £2.50", "10 + 2.5 = 12.5"),
        ("$1,200 * 3", "1200 * 3 = 3600"),
    ],
)
def test_calc_exact(query: str, expected: str) -> None:
    assert calc(query) == expected


@pytest.mark.parametrize(
    "query, message",
    [
        ("1/0", "division by zero"),
        ("5 % 0", "division by zero"),
        ("5 // 0.0", "division by zero"),
        ("9**9**9", "too large"),
        ("2**2000", "too large"),
        ("10**308 * 10", "too large"),
        ("1e308 * 10", "too large"),
        ("exp(1000)", "too large"),
        ("sqrt(-1)", "sqrt(-1) is not defined"),
        ("log(0)", "log(0) is not defined"),
        ("(-8) ** (1/3)", "no real result"),
        ("min()", "wrong number of arguments"),
        ("round(1.5, 100)", "at most 15 digits"),
        ("__import__('os')", "unknown function __import__"),
        ("__import__('os').system('echo pwned')", "only arithmetic"),
        ("(1).real", "only arithmetic"),
        ("().__class__.__bases__", "only arithmetic"),
        ("lambda: 1", "only arithmetic"),
        ("x", "unknown name x"),
        ("open('/etc/passwd')", "unknown function open"),
        ("'a' * 3", "only arithmetic"),
        ("True + 1", "unknown name true"),
        ("[1, 2]", "only arithmetic"),
        ("1 if 1 else 2", "only arithmetic"),
        ("1 < 2", "only arithmetic"),
        ("max(1, 2, key=abs)", "only arithmetic"),
        ("🍎 + 1", "cannot read"),
        ("<pct 1.2.3>", "cannot read"),
        ("17 * ", "cannot read"),
        ("what is", "no expression"),
        ("?", "no expression"),
    ],
)
def test_calc_refuses(query: str, message: str) -> None:
    with pytest.raises(ToolInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        calc(query)


def test_huge_power_is_refused_quickly() -> None:
    started = time.perf_counter()
    for query in ("9**9**9", "10**10**10", "2**99999999", "(10**300)**(10**300)"):
        with pytest.raises(ToolInputError, match="too large"):
            calc(query)
    assert time.perf_counter() - started < 1.0


def test_long_input_is_refused_by_tool_and_function() -> None:
    with pytest.raises(ToolInputError, match="at most 500"):
        calc("1+" * 5000 + "1")
    with pytest.raises(ToolInputError, match="too long"):
        calc.function("1+" * 5000 + "1")
    with pytest.raises(ToolInputError, match="too long"):
        calc.function("1" * 201)


@pytest.mark.parametrize("query", ["", "   "])
def test_empty_query_is_refused(query: str) -> None:
    with pytest.raises(ToolInputError, match="empty query"):
        calc(query)


def test_deep_nesting_is_an_input_error() -> None:
    with pytest.raises(ToolInputError):
        calc.function("(" * 99 + "1" + ")" * 99 + "+(" * 50)


@pytest.mark.parametrize(
    "text, expected",
    [("17 times 23", "17 * 23"), ("15% of 80", "0.15* 80"), ("1,000", "1000"), ("2^3", "2**3"), ("5.", "5")],
)
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


@pytest.mark.parametrize(
    "value, expected",
    [(391, "391"), (12.0, "12"), (2.5, "2.5"), (1 / 3, "0.3333333333"), (1e20, "1e+20"), (-0.0, "0"), (10**31, "1e+31")],
)
def test_format_number(value: float, expected: str) -> None:
    assert format_number(value) == expected


def test_results_stay_short() -> None:
    assert len(calc("2**1000")) < 300
    assert len(calc("1" * 150 + " * 2")) < 400


def test_tool_metadata() -> None:
    assert calc.name == "calc"
    assert calc.example == "17 * 23"
    assert calc.parameters["required"] == ["expression"]
    assert calc.description.startswith("Calculate")


def test_errors_become_text_in_the_registry() -> None:
    registry = ToolRegistry.of([calc])
    ctx = ToolContext("u1", clock=lambda: datetime(2024, 5, 14, tzinfo=timezone.utc))
    assert registry.run("calc", "17 times 23", ctx).text == "17 * 23 = 391"
    outcome = registry.run("calc", "1/0", ctx)
    assert not outcome.ok and outcome.text == "Error: division by zero is undefined"
