"""The `<shop>` tool in the agent loop: the model calls it, reads a compact summary, the result page stays per user and session."""

import pytest

from assistant.chat import Assistant
from tests.fakes import ScriptedBackend
from tools.registry import ToolContext
from tools.shop import MAX_SUMMARY_CHARS, Shop, summarize
from tests.pages_helpers import make_pages


@pytest.fixture
def assistant(config, embedder, clock):
    backend = ScriptedBackend()
    made = Assistant(config.with_(persona="off", memory_prefetch=False), backend=backend, embedder=embedder, clock=clock)
    yield made, backend
    made.close()


def test_the_assistant_registers_the_shop_tool(assistant):
    made, _ = assistant
    assert "shop" in made.tools.names() and made.pages is not None
    tool = made.tools["shop"]
    assert tool.example and "Find products" in tool.description


def test_the_model_calls_shop_and_answers_from_the_summary(assistant):
    made, backend = assistant
    backend.enqueue(" <shop>laptops for 3D modeling</shop>", " The Vireo laptops at NorthPeak look good.")
    turn = made.chat("Show me laptops for 3D modeling", user_id="ann", session_id="tab-1")
    call = turn.calls[0]
    assert call.tool == "shop" and call.ok and call.query == "laptops for 3D modeling"
    assert "laptops in" in call.result and "Best match:" in call.result and "$" in call.result
    assert "<shop-r>" in backend.prompts[-1]  # the model read the result back
    srp = made.pages.last_result("ann", "tab-1")
    assert srp is not None and srp.query == "laptops for 3D modeling" and srp.linked()
    assert made.pages.last_result("bob", "tab-1") is None and made.pages.last_result("ann", "tab-2") is None
    assert [a.kind for a in made.activity.queries("ann")][-1] == "shop"


def test_a_bad_query_is_an_observation_for_the_model(assistant):
    made, backend = assistant
    backend.enqueue(f" <shop>{'x' * 400}</shop>", " Sorry.")
    turn = made.chat("find me something", user_id="ann")
    assert not turn.calls[0].ok and "at most 300" in turn.calls[0].result


@pytest.mark.parametrize(("setting", "prompt", "registered"), [
    ("false", "agent", False), ("off", "agent", False), ("auto", "agent", True), ("auto", "agent_tuned", False), ("on", "agent_tuned", True)])
def test_the_shop_tool_setting(config, embedder, clock, monkeypatch, setting, prompt, registered):
    """auto: the tool goes to models prompted with demonstrations, not to an adapter trained before it existed."""
    monkeypatch.setenv("ASSISTANT_PAGES_SHOP_TOOL", setting)
    backend = ScriptedBackend()
    backend.prompt = prompt
    made = Assistant(config, backend=backend, embedder=embedder, clock=clock)
    assert ("shop" in made.tools.names()) is registered
    made.close()


def test_no_match_reads_as_a_sentence(tmp_path):
    from assistant.pages.models import SearchResultPage

    assert summarize(SearchResultPage(query="unicorn saddle", results=())) == "No products match 'unicorn saddle' in the shops' catalog."


def test_the_summary_is_short_and_names_shops_prices_and_links(tmp_path):
    pages = make_pages(tmp_path)
    srp = pages.handle_query("ann", "laptops")
    text = summarize(srp)
    assert len(text) <= MAX_SUMMARY_CHARS and text.startswith(f"{srp.matches} laptops in ")
    linked = [pages.catalog.organizations[r.org_id].brand_name for r in srp.linked()]
    assert "Personal pages in the side panel: " + ", ".join(linked) + "." in text
    best = max((o for r in srp.results for o in r.offers), key=lambda o: o.score)
    assert f"Best match: {best.title}" in text and best.price_label in text


def test_the_tool_uses_the_callers_user_and_session(tmp_path):
    pages = make_pages(tmp_path)
    shop = Shop(pages).tool
    shop("espresso machine", ToolContext(user_id="ann", session_id="s1"))
    shop("running shoes", ToolContext(user_id="bob", session_id="s1"))
    assert pages.last_result("ann", "s1").query == "espresso machine" and pages.last_result("bob", "s1").query == "running shoes"


def test_the_panel_follows_a_shopping_message_the_model_answered_without_the_tool(assistant):
    made, backend = assistant
    backend.enqueue(" NorthPeak sells good ones.", " Hello!", " <shop>espresso machine</shop>", " Bean & Burr has one.")
    made.chat("Do you have laptops for 3D modeling?", user_id="ann", session_id="tab-1")
    srp = made.pages.follow_chat("ann", "tab-1")
    assert srp is not None and srp.query == "Do you have laptops for 3D modeling?" and srp.category == "laptops"
    assert made.pages.last_result("ann", "tab-1") is srp and made.pages.follow_chat("ann", "tab-1") is None  # once per message
    assert made.pages.follow_chat("bob", "tab-1") is None  # ann's messages are not bob's
    made.chat("hello there", user_id="ann", session_id="tab-1")
    assert made.pages.follow_chat("ann", "tab-1") is None  # names no product
    made.chat("I need an espresso machine", user_id="ann", session_id="tab-1")
    assert made.pages.follow_chat("ann", "tab-1") is None  # the model called <shop> itself
    assert made.pages.last_result("ann", "tab-1").query == "espresso machine"


def test_following_the_chat_can_be_switched_off(config, embedder, clock, monkeypatch):
    monkeypatch.setenv("ASSISTANT_PAGES_PANEL_FOLLOWS_CHAT", "false")
    made = Assistant(config.with_(persona="off", memory_prefetch=False), backend=ScriptedBackend([" Sure."]), embedder=embedder, clock=clock)
    made.chat("Do you have laptops for 3D modeling?", user_id="ann", session_id="tab-1")
    assert made.pages.follow_chat("ann", "tab-1") is None
    made.close()
