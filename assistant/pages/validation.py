"""Checks every generated text against the merchant's catalog before it may fill a page slot.

A text passes when it is short enough, has no markup, no links and no prompt echo; names no other merchant and no
brand the merchant does not sell; names products only as the catalog does; states prices only as the catalog does;
states no number the inputs did not give; and, when the slot asks for it, mentions one of the user's terms. A failed
text is replaced by the slot's template (assistant/pages/templates.py) and the reason is recorded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from assistant.pages.catalog import Catalog
from assistant.pages.models import Organization, Product

MARKUP = re.compile(r"[<>{}\[\]`|\\]|\*\*|__|^\s*#|https?:|www\.|\.(?:com|net|org|example|io)\b|javascript:|&#?\w+;", re.I)
ECHO = re.compile(r"\b(?:user|assistant|system|shopper|headline|label|search now|earlier searches|product|facts|question|answer)\s*:", re.I)
PRICE = re.compile(r"(?:[$€£]\s?(\d[\d,]*(?:\.\d+)?))|(?:(\d[\d,]*(?:\.\d+)?)\s?(?:usd|dollars|eur|euros|gbp|pounds)\b)", re.I)
NUMBER = re.compile(r"\d+(?:\.\d+)?")
WORD = re.compile(r"[A-Za-z][A-Za-z0-9'-]*")
NOISE = re.compile(r"\b(?:click|link|subscribe|sign up|log in|lorem|ipsum|cookie|copyright|all rights)\b|@", re.I)
MAX_WORDS = {"label": 6, "headline": 18}
STOPWORDS = frozenset("a an the for and or of to in on at with from by your you my me i is are best good new top".split())


@dataclass(frozen=True)
class Verdict:
    """Whether a text may be used, and if not, why."""

    ok: bool
    reason: str = ""


def numbers_in(text: str) -> set[str]:
    """Every number in a text, normalised ('2,399.99' -> '2399.99', '16.0' -> '16')."""
    found = set()
    for match in NUMBER.finditer(text.replace(",", "")):
        value = float(match.group())
        found.add(f"{value:g}")
    return found


def terms_of(texts: Iterable[str]) -> set[str]:
    """Lower-case content words of some texts (no stop words), for relevance checks."""
    words: set[str] = set()
    for text in texts:
        for word in WORD.findall(text.lower()):
            if word not in STOPWORDS and len(word) > 1:
                words.add(word)
                if word.endswith("s") and len(word) > 3:
                    words.add(word[:-1])
    return words


class TextValidator:
    """Validates generated text for one catalog: grounding to the merchant's products, exact names and prices, limits."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._all_names = {o.brand_name for o in catalog.organizations.values()} | set(catalog.brands)

    def foreign_names(self, org: Organization) -> list[str]:
        """Merchant and brand names this merchant's page must not mention."""
        own = {org.brand_name} | {p.brand for p in org.product_feed}
        return sorted((n for n in self._all_names - own if n), key=len, reverse=True)

    def check(self, text: str, *, org: Organization, limit: int, products: Sequence[Product], sources: Sequence[str] = (),
              required_terms: Iterable[str] = (), kind: str = "") -> Verdict:
        """The verdict on one text for a slot of `org`'s page whose facts come from `products` and `sources`."""
        text = text.strip()
        if len(text) < 3:
            return Verdict(False, "empty")
        if len(text) > limit:
            return Verdict(False, f"too long ({len(text)} > {limit} characters)")
        if MARKUP.search(text):
            return Verdict(False, "markup or a link")
        if ECHO.search(text):
            return Verdict(False, "echoes the prompt")
        if NOISE.search(text):
            return Verdict(False, "web boilerplate")
        letters = sum(ch.isalpha() for ch in text)
        if letters < 0.5 * len(text.replace(" ", "")):
            return Verdict(False, "not prose")
        words = WORD.findall(text.lower())
        bigrams = list(zip(words, words[1:]))
        if any(words[i] == words[i + 1] for i in range(len(words) - 1)) or len(set(bigrams)) < len(bigrams):
            return Verdict(False, "repetitive")
        if len(words) > MAX_WORDS.get(kind, 40):
            return Verdict(False, f"too many words for a {kind}")
        low = text.lower()
        for name in self.foreign_names(org):
            if re.search(rf"(?<![\w-]){re.escape(name.lower())}(?![\w-])", low):
                return Verdict(False, f"names {name}, which this merchant does not sell")
        prices = {round(p.price, 2) for p in products}
        for match in PRICE.finditer(text):
            amount = float((match.group(1) or match.group(2)).replace(",", ""))
            if round(amount, 2) not in prices:
                return Verdict(False, f"states a price ({match.group().strip()}) the catalog does not give")
        allowed = numbers_in(" ".join([*sources, *(p.title for p in products), *(p.price_label for p in products),
                                       *(" ".join(map(str, p.attributes.values())) for p in products)]))
        for number in numbers_in(PRICE.sub(" ", text)):
            if number not in allowed:
                return Verdict(False, f"states a number ({number}) that is not in the catalog or the query")
        wrong = self._unknown_product(text, org, products)
        if wrong:
            return Verdict(False, f"names a product the catalog does not have ({wrong})")
        required = {t.lower() for t in required_terms if t}
        if required and not (terms_of([text]) & required):
            return Verdict(False, "does not mention the user's search")
        return Verdict(True)

    @staticmethod
    def _unknown_product(text: str, org: Organization, products: Sequence[Product]) -> str:
        """A 'Brand Model' mention that no product title (of the slot's products, else the merchant's) starts with."""
        titles = [p.title.lower() for p in (products or org.product_feed)] + [p.title.lower() for p in org.product_feed]
        for brand in {p.brand for p in org.product_feed if p.brand}:
            for match in re.finditer(rf"(?<![\w-]){re.escape(brand)}\s+([A-Z0-9][\w.-]*(?:\s+[A-Z0-9][\w.-]*){{0,2}})", text):
                tokens = match.group(1).split()
                mention = f"{brand} {tokens[0]}".lower()
                if org.brand_name.lower().startswith(mention):
                    continue
                if not any(t.startswith(mention) for t in titles):
                    return f"{brand} {match.group(1)}"
        return ""
