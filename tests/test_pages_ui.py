"""The side panel of the real Gradio app, driven through gradio_client (scripted model, hashing embedder)."""

import re
import socket
from datetime import timedelta

import pytest
from gradio_client import Client

from assistant.chat import Assistant
from tests.fakes import ScriptedBackend
from tests.pages_helpers import NOW, LAPTOP_HISTORY
from ui import launch


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def app(config, embedder, clock):
    backend = ScriptedBackend()
    assistant = Assistant(config.with_(port=free_port(), persona="off", memory_prefetch=False), backend=backend, embedder=embedder,
                          clock=clock)
    for k, query in enumerate(LAPTOP_HISTORY):
        assistant.activity.record("ann", query, when=NOW - timedelta(days=3 - k), kind="shop")
    demo = launch(assistant, prevent_thread_lock=True, quiet=True)
    client = Client(f"http://127.0.0.1:{assistant.config.port}/", verbose=False)
    yield client, backend, assistant
    client.close()
    demo.close()
    assistant.close()


def text_of(message: dict) -> str:
    content = message["content"]
    return " ".join(c.get("text", "") for c in content) if isinstance(content, list) else str(content)


def articles(markup: str, component: str = "offers") -> int:
    return len(re.findall(r"<article", markup.split(f'data-component="{component}"')[1].split("</section>")[0]))


def test_a_shopping_answer_fills_the_panel_and_a_page_opens_with_working_filters(app):
    client, backend, assistant = app
    backend.enqueue(" <shop>laptops for 3D modeling</shop>", " NorthPeak has the Vireo Forge.")
    history, _ = client.predict("Show me laptops for 3D modeling", [], "ann", api_name="/chat")
    assert history[1]["metadata"]["title"] == "🛠️ shop: laptops for 3D modeling"
    srp = next(r for (user, kind, _), r in assistant.pages._results.items() if user == "ann" and kind == "session")
    assert srp.query == "laptops for 3D modeling" and srp.linked()

    srp_html, choice = client.predict("laptops for 3D modeling", "ann", api_name="/shop_search")
    assert "AI page: NorthPeak Computers" in srp_html and "<script" not in srp_html and "landing-page score" in srp_html
    assert ["NorthPeak Computers", "northpeak"] in choice["choices"]

    page_html, filters, chat, parts = client.predict("northpeak", "ann", api_name="/open_page")
    assert 'data-component="headline"' in page_html and "For 3D modeling" in page_html and 'data-basis="history"' in page_html
    assert filters["value"] and set(filters["value"]) <= {c[1] for c in filters["choices"]}
    assert chat[0]["role"] == "assistant" and "NorthPeak Computers" in text_of(chat[0])
    assert ["Headline", "headline"] in parts["choices"]
    narrowed = articles(page_html)

    widened = client.predict([], "ann", api_name="/apply_filters")
    assert articles(widened) > narrowed
    again = client.predict(filters["value"], "ann", api_name="/apply_filters")
    assert articles(again) == narrowed

    chat, box = client.predict("which is the cheapest?", "ann", api_name="/ask_shop")
    assert box == "" and text_of(chat[-2]) == "which is the cheapest?" and "$" in text_of(chat[-1])

    before = re.search(r"<h1>(.*?)</h1>", page_html).group(1)
    page_html, *_ = client.predict("headline", filters["value"], "ann", api_name="/reject_part")
    assert re.search(r"<h1>(.*?)</h1>", page_html).group(1) != before
    assert [e["signal"] for e in assistant.pages.feedback_log.events(user_id="ann")] == ["reject"]


def test_another_user_cannot_open_a_page_from_someone_elses_search(app):
    client, _, _ = app
    client.predict("laptops", "ann", api_name="/shop_search")  # ann's result page, in this browser session
    with pytest.raises(Exception, match="Search for something first"):
        client.predict("northpeak", "bob", api_name="/open_page")  # same tab, another name: ann's results are not his


def test_panel_errors_are_messages(app):
    client, _, _ = app
    with pytest.raises(Exception, match="the query is empty"):
        client.predict("   ", "ann", api_name="/shop_search")
    with pytest.raises(Exception, match="enter your name"):
        client.predict("laptops", "  ", api_name="/shop_search")
