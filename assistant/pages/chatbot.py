"""The merchant-scoped chatbot of an AI page: answers within this merchant's catalog and the page's query.

Retrieval picks the merchant's products that fit the question (its filters, a superlative such as 'cheapest' or
'lightest', then embedding similarity to the question and the page's query); the model writes a one-line opening that
is validated like every page text (template otherwise); the products, with their exact names and prices, follow.
Questions about other merchants or categories the merchant does not sell get a scoped refusal.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from typing import Callable

from assistant.backends.base import Backend
from assistant.markup import clean_text, neutralise
from assistant.pages import templates
from assistant.pages.catalog import Catalog
from assistant.pages.generator import PROMPTS
from assistant.pages.models import AIPage, Product
from assistant.pages.offers import apply_filters
from assistant.pages.search import ProductIndex, parse_query
from assistant.pages.settings import PageSettings
from assistant.pages.validation import TextValidator
from assistant.prompts import render

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 300
MAX_TURNS = 20
ANSWER_PRODUCTS = 3


def _weight(product: Product) -> float:
    a = product.attributes
    if isinstance(a.get("weight_kg"), (int, float)):
        return float(a["weight_kg"]) * 1000
    return float(a["weight_g"]) if isinstance(a.get("weight_g"), (int, float)) else float("inf")


SUPERLATIVES: tuple[tuple[re.Pattern[str], Callable[[Product], float]], ...] = (
    (re.compile(r"\b(cheapest|least expensive|lowest price|most affordable|budget)\b", re.I), lambda p: p.price),
    (re.compile(r"\b(most expensive|priciest|premium|top of the range)\b", re.I), lambda p: -p.price),
    (re.compile(r"\b(lightest|lighter|least heavy)\b", re.I), _weight),
    (re.compile(r"\b(best rated|highest rated|top rated|best reviewed)\b", re.I), lambda p: -(p.rating or 0)),
    (re.compile(r"\b(most ram|most memory)\b", re.I), lambda p: -float(p.attributes.get("ram_gb") or 0)),
)


class MerchantChatbot:
    """Answers questions on one page, inside that page's merchant and query."""

    def __init__(self, catalog: Catalog, index: ProductIndex, settings: PageSettings | None = None, *, backend: Backend | None,
                 validator: TextValidator | None = None) -> None:
        self.catalog = catalog
        self.index = index
        self.settings = settings or PageSettings()
        self.backend = backend
        self.validator = validator or TextValidator(catalog)

    def products_for(self, page: AIPage, question: str) -> list[Product]:
        """The merchant's products that answer the question, best first (empty when the question is out of scope)."""
        asked = parse_query(question, self.catalog)
        org = self.catalog.organization(page.org_id)
        if org is None or (asked.merchants and page.org_id not in asked.merchants) or (asked.category and asked.category not in org.categories):
            return []
        if set(asked.brands) - {p.brand for p in org.product_feed}:
            return []
        category = asked.category or page.category
        filters = replace(asked, category=category, merchants=(org.id,), category_inferred=False)
        ranked = [p for p, _ in self.index.search(f"{question} {page.query}", filters=filters).ranked]
        if not ranked and (asked.max_price is not None or asked.min_price is not None or asked.min_ram_gb):
            return []  # nothing within the stated limits: say so rather than offer something else
        ranked = apply_filters(ranked, page.suggested_filters) or ranked  # within the page's pre-applied filters when any fit
        for pattern, key in SUPERLATIVES:
            if pattern.search(question):
                ranked = sorted(ranked, key=key)
                break
        return ranked[:ANSWER_PRODUCTS]

    def reply(self, page: AIPage, question: str) -> str:
        """The answer to one question; the exchange is added to the page's chatbot session."""
        question = " ".join(clean_text(question or "").split())
        if not question:
            return "Please type a question about these offers."
        if len(question) > MAX_QUESTION_CHARS:
            return f"Please keep questions under {MAX_QUESTION_CHARS} characters."
        if not page.chatbot.enabled:
            return "The chatbot is switched off for this page."
        org = self.catalog.organization(page.org_id)
        products = self.products_for(page, question)
        if org is None or not products:
            answer = templates.chatbot_nothing(brand=org.brand_name if org else page.org_id, category=page.category)
        else:
            listing = "; ".join(f"{p.title} – {p.price_label}" for p in products)
            intro = self._intro(page, question, products)
            answer = f"{intro}: {listing}."
        page.chatbot.turns.append((question, answer))
        del page.chatbot.turns[1:-MAX_TURNS]
        return answer

    def _intro(self, page: AIPage, question: str, products: list[Product]) -> str:
        org = self.catalog.organization(page.org_id)
        assert org is not None
        template = templates.chatbot_intro(brand=org.brand_name, question=question, count=len(products), variant=len(page.chatbot.turns))
        if self.settings.text_generator != "model" or self.backend is None:
            return template
        prompt = render(PROMPTS["reply"], brand=org.brand_name, category=templates.category_label(page.category),
                        query=neutralise(page.query), question=neutralise(question),
                        previous="; ".join(f'"{neutralise(q)}"' for q in page.context_used.previous_queries) or "none",
                        products="; ".join(f"{p.title} ({p.price_label})" for p in products))
        try:
            text = self.backend.complete(prompt, stop=["\n"], max_tokens=min(40, self.settings.max_tokens))
        except Exception as exc:
            log.warning("chatbot phrasing failed: %s", exc)
            return template
        text = " ".join(text.split()).strip(" \"'“”").rstrip(".:;,!")
        verdict = self.validator.check(text, org=org, limit=self.settings.reply_chars - 120, products=products,
                                       sources=[question, page.query, *(", ".join(templates.product_facts(p)) for p in products)])
        return templates.capital(text) if verdict.ok else template

