"""The product-page panel in a real browser: headless Chromium (the Debian package) driven by Playwright from PyPI.

The app runs for real: the embedded Gemma model answers the chat and writes the page, MiniLM embeds the catalog. The
screenshots are kept as test artifacts in $ASSISTANT_TEST_ARTIFACTS (default: test-artifacts/, ignored by git).
"""

from __future__ import annotations

import os
import shutil
import socket
from datetime import timedelta
from pathlib import Path

import pytest

from assistant.chat import Assistant
from assistant.config import Config
from memory.embeddings import SentenceEmbedder
from tests.pages_helpers import LAPTOP_HISTORY, hostile_catalog
from tools.registry import utc_now
from ui import launch

pytestmark = [pytest.mark.browser, pytest.mark.model]

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run"]
MODEL_WAIT_MS = 600_000  # a whole model turn, then a page of model text, on a shared 2-core CPU


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keep(screenshot: Path) -> Path:
    """Copy a screenshot to the artifact directory."""
    folder = Path(os.environ.get("ASSISTANT_TEST_ARTIFACTS") or Path(__file__).resolve().parent.parent / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy2(screenshot, folder / screenshot.name))


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/system-packages.sh (it installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def minilm():
    return SentenceEmbedder()


def start(tmp_path: Path, embedded, minilm):
    """The real app on a free port, over the real model; ann has searched for laptops before."""
    config = Config(data_dir=tmp_path / "data", port=free_port(), persona="off")
    assistant = Assistant(config, backend=embedded, embedder=minilm)
    now = utc_now()
    for k, query in enumerate(LAPTOP_HISTORY):
        assistant.activity.record("ann", query, when=now - timedelta(days=3 - k), kind="shop")
    demo = launch(assistant, prevent_thread_lock=True, quiet=True)
    return assistant, demo, f"http://127.0.0.1:{config.port}/"


def watch(page) -> list[str]:
    """Record every dialog (and dismiss it): a script from data would typically alert()."""
    dialogs: list[str] = []

    def on_dialog(dialog):
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return dialogs


def offer_count(page) -> int:
    return page.locator("#ai-page [data-component='offers'] article").count()


def test_a_shopping_question_opens_a_personal_page_with_working_filters(tmp_path, browser, embedded, minilm, monkeypatch):
    monkeypatch.setenv("ASSISTANT_PAGES_GENERATION_BUDGET_SECONDS", "120")
    assistant, demo, url = start(tmp_path, embedded, minilm)
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        dialogs = watch(page)
        page.goto(url)
        page.get_by_label("Your name").fill("ann")
        box = page.get_by_placeholder("Type a message and press Enter")
        box.fill("Can you find me a laptop for 3D modeling?")
        box.press("Enter")
        link = page.locator("#srp-panel button.srp-ai-link[data-org='northpeak']")
        link.wait_for(timeout=MODEL_WAIT_MS)
        assert page.locator("#srp-panel").inner_text().count("landing-page score") >= 2
        assert page.get_by_text("shop: ", exact=False).count() >= 1  # the model called the tool; the chat shows the call
        link.click()
        page.locator("#ai-page h1").wait_for(timeout=MODEL_WAIT_MS)
        assert "3D modeling" in page.locator("#ai-page").inner_text() and page.locator("#ai-page .pg-badge").count()
        assert page.locator("#ai-page [data-basis='history']").count() >= 1
        narrowed = offer_count(page)
        filters = page.locator("#ai-page-filters input[type='checkbox']")
        assert filters.count() >= 1 and filters.first.is_checked()
        filters.first.uncheck()
        page.wait_for_function(f"document.querySelectorAll(\"#ai-page [data-component='offers'] article\").length > {narrowed}",
                               timeout=60_000)
        widened = offer_count(page)
        filters.first.check()
        page.wait_for_function(f"document.querySelectorAll(\"#ai-page [data-component='offers'] article\").length == {narrowed}",
                               timeout=60_000)
        assert 0 < narrowed < widened
        page.get_by_placeholder("Ask about these offers").fill("which one is the cheapest?")
        page.locator("#ai-page-ask").click()
        page.locator("#ai-page-chat").get_by_text("$", exact=False).last.wait_for(timeout=MODEL_WAIT_MS)
        ingress = page.locator("#ai-page [data-component='ingress'] a")
        assert ingress.get_attribute("href") == "https://northpeak.example/"
        shot = tmp_path / "product-page-panel.png"
        page.screenshot(path=str(shot), full_page=True)
        assert keep(shot).stat().st_size > 10_000
        assert dialogs == [] and page.evaluate("window.__pwned") is None
        page.close()
    finally:
        demo.close()
        assistant.close()


def test_hostile_catalog_entries_never_run_in_the_browser(tmp_path, browser, embedded, minilm, monkeypatch):
    monkeypatch.setenv("ASSISTANT_PAGES_CATALOG", str(hostile_catalog(tmp_path / "hostile")))
    monkeypatch.setenv("ASSISTANT_PAGES_GENERATION_BUDGET_SECONDS", "20")
    assistant, demo, url = start(tmp_path, embedded, minilm)
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        dialogs = watch(page)
        page.goto(url)
        page.get_by_label("Your name").fill("ann")
        page.get_by_placeholder("Search the shops").fill("laptops <img src=x onerror=window.__pwned=1>")
        page.locator("#shop-search").click()
        link = page.locator("#srp-panel button.srp-ai-link[data-org='evilshop']")
        link.wait_for(timeout=MODEL_WAIT_MS)
        link.click()
        page.locator("#ai-page h1").wait_for(timeout=MODEL_WAIT_MS)
        for area in ("#srp-panel", "#ai-page"):
            page.locator(f"{area} a").first.hover()
            for image in page.locator(f"{area} img").all()[:10]:
                image.hover()
        page.get_by_placeholder("Ask about these offers").fill("<script>window.__pwned=1</script> cheapest?")
        page.locator("#ai-page-ask").click()
        page.locator("#ai-page-chat").get_by_text("cheapest", exact=False).last.wait_for(timeout=MODEL_WAIT_MS)
        page.wait_for_timeout(1500)  # time for any injected handler to fire
        assert "Evil <script>window.__pwned=1</script> Shop" in page.locator("#ai-page").inner_text()  # shown as text
        injected = page.evaluate("""() => {
            const areas = [...document.querySelectorAll('#srp-panel, #ai-page, #ai-page-chat')];
            const all = areas.flatMap(a => [...a.querySelectorAll('*')]);
            return {scripts: all.filter(e => e.tagName === 'SCRIPT' || e.tagName === 'IFRAME').length,
                    handlers: all.filter(e => [...e.attributes].some(a => a.name.startsWith('on'))).length,
                    jsLinks: all.filter(e => (e.getAttribute('href') || e.getAttribute('src') || '').trim().toLowerCase().startsWith('javascript:')).length};
        }""")
        assert injected == {"scripts": 0, "handlers": 0, "jsLinks": 0}
        shot = tmp_path / "product-page-hostile.png"
        page.screenshot(path=str(shot), full_page=True)
        keep(shot)
        assert page.evaluate("window.__pwned") is None and dialogs == []
        page.close()
    finally:
        demo.close()
        assistant.close()
