"""The merchant-scoped chatbot: answers within this merchant's catalog and the page's query (checklist 20)."""

import re

import pytest

from assistant.pages.settings import PageSettings
from tests.fakes import ScriptedBackend
from tests.pages_helpers import make_pages, shopped


@pytest.fixture
def page_and_pages(tmp_path):
    backend = ScriptedBackend()
    pages = make_pages(tmp_path, backend=backend, settings=PageSettings(model_annotations=0))
    shopped(pages, "ann")
    page = pages.view("ann", "northpeak", "laptops")
    return pages, page, backend


def named_products(pages, answer):
    return [p for p in pages.catalog.products if p.title in answer]


def test_answers_name_only_this_merchants_products_with_exact_prices(page_and_pages):
    pages, page, _ = page_and_pages
    answer = pages.ask("ann", page.page_id, "Which one has 64GB RAM?")
    found = named_products(pages, answer)
    assert found and all(p.org_id == "northpeak" and p.attributes["ram_gb"] >= 64 and p.price_label in answer for p in found)
    assert page.chatbot.turns[-1] == ("Which one has 64GB RAM?", answer)


def test_superlatives_sort_the_merchants_offers(page_and_pages):
    pages, page, _ = page_and_pages
    answer = pages.ask("ann", page.page_id, "what is the cheapest laptop under $1500?")
    prices = [float(x.replace(",", "")) for x in re.findall(r"\$([\d,]+\.\d\d)", answer)]
    cheapest = min(p.price for p in pages.catalog.organizations["northpeak"].product_feed if p.category == "laptops")
    assert prices and prices[0] == cheapest and prices == sorted(prices) and max(prices) <= 1500


@pytest.mark.parametrize("question", ["Does Pixelforge have it cheaper?", "Do you sell espresso machines?", "Any laptops under $100?"])
def test_questions_outside_the_merchant_and_query_get_a_scoped_answer(page_and_pages, question):
    pages, page, _ = page_and_pages
    answer = pages.ask("ann", page.page_id, question)
    assert answer.startswith("I can only help with NorthPeak Computers' laptops") and not named_products(pages, answer)


@pytest.mark.parametrize(("question", "expected"), [("", "Please type a question"), ("x" * 400, "under 300 characters")])
def test_bad_questions_get_a_message(page_and_pages, question, expected):
    pages, page, _ = page_and_pages
    assert expected in pages.ask("ann", page.page_id, question)


def test_the_models_opening_is_validated(page_and_pages):
    pages, page, backend = page_and_pages
    backend.enqueue(" Sure! For 3D modeling these two stand out")
    answer = pages.ask("ann", page.page_id, "best for 3D modeling?")
    assert answer.startswith("Sure! For 3D modeling these two stand out: ")
    assert "3D modeling" in backend.prompts[-1] and "laptops" in backend.prompts[-1]  # the question and the page's query
    backend.enqueue(" Pixelforge sells them for less")
    answer = pages.ask("ann", page.page_id, "best for 3D modeling?")
    assert "Pixelforge" not in answer and named_products(pages, answer)
    assert answer.startswith(("NorthPeak Computers has", "Here is what NorthPeak Computers offers", "These NorthPeak Computers products"))


def test_another_user_cannot_use_the_chatbot_of_a_page(page_and_pages):
    from assistant.pages.models import PageError

    pages, page, _ = page_and_pages
    with pytest.raises(PageError):
        pages.ask("bob", page.page_id, "cheapest?")


def test_answers_stay_within_the_pages_pre_applied_filters(page_and_pages):
    pages, page, _ = page_and_pages
    applied = [f for f in page.suggested_filters if f.applied]
    assert any(f.key == "use" and f.value == "3D modeling" for f in applied)  # from ann's history
    answer = pages.ask("ann", page.page_id, "which one is the cheapest?")
    found = named_products(pages, answer)
    assert found and all("3D modeling" in p.attributes["uses"] for p in found if p.org_id == "northpeak")
