"""Tools as typed functions: derived schemas, validation, failures as text."""

import pytest

from tools.registry import MAX_QUERY_CHARS, ToolContext, ToolInputError, ToolRegistry, tool


@tool
def shout(text: str) -> str:
    """Say it louder.

    Args:
        text: what to shout

    Example:
        hello
    """
    return text.upper()


@tool(name="whoami")
def who_am_i(question: str = "", *, ctx: ToolContext) -> str:
    """Tell the user who they are."""
    return f"{ctx.user_id} asked {question!r}"


def test_schema_is_derived_from_signature_and_docstring():
    assert shout.name == "shout"
    assert shout.description == "Say it louder."
    assert shout.example == "hello"
    assert shout.parameters == {
        "type": "object",
        "properties": {"text": {"type": "string", "description": "what to shout"}},
        "required": ["text"],
    }


def test_optional_query_and_injected_context():
    assert who_am_i.parameters["required"] == []
    assert who_am_i.wants_context
    assert who_am_i("  ", ToolContext(user_id="ann")) == "ann asked ''"


def test_context_is_required_when_declared():
    with pytest.raises(ToolInputError):
        who_am_i("x")


@pytest.mark.parametrize(
    ("query", "message"),
    [("", "empty query"), ("   \n ", "empty query"), ("x" * (MAX_QUERY_CHARS + 1), "at most")],
)
def test_bad_queries_are_refused_with_a_reason(query, message):
    with pytest.raises(ToolInputError, match=message):
        shout(query)


def test_whitespace_is_normalised():
    assert shout("  a \n b ") == "A B"


@pytest.mark.parametrize(
    "bad",
    [
        lambda: tool(lambda q: q),  # no docstring
        lambda: tool(name="Bad Name")(shout.function),
    ],
)
def test_badly_declared_tools_are_rejected(bad):
    with pytest.raises(ValueError):
        bad()


def test_tools_need_exactly_one_string_query():
    def two(a: str, b: str) -> str:
        """Two args."""

    def number(n: int) -> str:
        """Not text."""

    for fn in (two, number):
        with pytest.raises(ValueError):
            tool(fn)


def test_registry_refuses_duplicates_and_reports_unknown_tools():
    registry = ToolRegistry.of([shout])
    with pytest.raises(ValueError):
        registry.add(shout)
    outcome = registry.run("nope", "x", ToolContext(user_id="u"))
    assert not outcome.ok and outcome.text == "Error: there is no tool called nope. Tools: shout."


def test_registry_turns_validation_errors_into_text():
    outcome = ToolRegistry.of([shout]).run("shout", "", ToolContext(user_id="u"))
    assert not outcome.ok and outcome.text == "Error: empty query; shout needs text"


def test_non_string_results_are_converted():
    @tool
    def number(q: str) -> str:
        """Returns an int by mistake."""
        return 42  # type: ignore[return-value]

    assert ToolRegistry.of([number]).run("number", "x", ToolContext(user_id="u")).text == "42"
