"""The search result page (spec §4): merchants' results for a query, every landing page scored, AI-page links added by the gate.

    build(query)  -> the original page: one result per merchant (best first) with its landing page, sitelinks and offers,
                     and every landing page's score (step 3);
    gate(page)    -> the updated page: a merchant whose landing page exceeds the threshold gets a link to its AI page,
                     on its own result or (link_in_sponsored) on an added sponsored item; nothing else changes (step 4).

The link is the app-internal address of the AI page, `/pages/ORG?q=QUERY`; the side panel opens it and
`python -m assistant page ORG --query QUERY` renders it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence
from urllib.parse import parse_qs, quote, quote_plus, unquote, urlsplit

from assistant.pages.catalog import Catalog
from assistant.pages.models import LandingPage, Offer, PageError, Product, SearchResult, SearchResultPage, Sitelink
from assistant.pages.scoring import LandingPageScorer, ScoreBreakdown
from assistant.pages.search import ProductIndex, SearchOutcome
from assistant.pages.settings import PageSettings
from assistant.pages.templates import category_label, joined, short_title

PAGE_PATH = "/pages/"
SITELINKS_PER_RESULT = 3


def page_link(org_id: str, query: str) -> str:
    """The address of a merchant's AI page for a query."""
    return f"{PAGE_PATH}{quote(org_id, safe='')}?q={quote_plus(query)}"


def parse_page_link(link: str) -> tuple[str, str]:
    """(org_id, query) of an AI-page address; PageError when it is not one."""
    parts = urlsplit(link or "")
    if parts.scheme or parts.netloc or not parts.path.startswith(PAGE_PATH) or len(parts.path) == len(PAGE_PATH):
        raise PageError(f"not an AI-page link: {link[:80]!r}")
    return unquote(parts.path[len(PAGE_PATH):]), parse_qs(parts.query).get("q", [""])[0]


class ResultPageBuilder:
    """Builds a query's result page from the catalog and gates it by the landing-page scores."""

    def __init__(self, catalog: Catalog, index: ProductIndex, settings: PageSettings | None = None) -> None:
        self.catalog = catalog
        self.index = index
        self.settings = settings or PageSettings()
        self.scorer = LandingPageScorer(catalog.landing_pages(), self.settings)
        self._pages = {page.url: page for page in catalog.landing_pages()}

    def landing_page(self, org_id: str, category: str) -> LandingPage | None:
        """The merchant's landing page for a category (its first one when it has none for it)."""
        org = self.catalog.organization(org_id)
        return org.landing_page_for(category) if org else None

    def breakdown(self, page: LandingPage, category: str = "") -> ScoreBreakdown:
        """One landing page's score and verdict for a query category (the category counts only with score_scope=query)."""
        return self.scorer.breakdown(page, query_category=category)

    def build(self, query: str, outcome: SearchOutcome | None = None, *, user_id: str = "", created: str = "") -> SearchResultPage:
        """The original result page: merchants ordered by their best match, each landing page scored, no AI-page links."""
        outcome = outcome or self.index.search(query)
        category = outcome.filters.category
        by_org: dict[str, list[tuple[Product, float]]] = {}
        for product, score in outcome.ranked:
            by_org.setdefault(product.org_id, []).append((product, score))
        results, scores = [], {}
        for org_id, ranked in list(by_org.items())[: self.settings.max_results]:
            org = self.catalog.organization(org_id)
            page = self.landing_page(org_id, category or ranked[0][0].category)
            if org is None or page is None:
                continue
            verdict = self.breakdown(page, category)
            scores[page.url] = verdict.score
            offers = tuple(Offer.of(p, s) for p, s in ranked[: self.settings.offers_per_result])
            sitelinks = tuple(Sitelink(short_title(p.title), p.pdp_url) for p, _ in ranked[:SITELINKS_PER_RESULT])
            results.append(SearchResult(org_id=org_id, landing_page_url=page.url, title=f"{org.brand_name} – {category_label(page.category or category)}",
                                        snippet=snippet([p for p, _ in ranked], category or ranked[0][0].category), sitelinks=sitelinks,
                                        offers=offers, landing_page_score=verdict.score))
        return SearchResultPage(query=query, results=tuple(results), user_id=user_id, filters=outcome.filters.to_dict(),
                                matches=len(outcome.ranked), threshold=self.settings.threshold, scores=scores, category=category,
                                created=created)

    def gate(self, srp: SearchResultPage) -> SearchResultPage:
        """The updated page: one AI-page link per merchant whose landing page exceeds the threshold, added, never substituted."""
        updated: list[SearchResult] = []
        for result in srp.results:
            page = self._pages.get(result.landing_page_url)
            if page is None or not self.breakdown(page, srp.category).link:
                updated.append(result)
                continue
            link = page_link(result.org_id, srp.query)
            if self.settings.link_in_sponsored:
                org = self.catalog.organization(result.org_id)
                brand = org.brand_name if org else result.org_id
                updated.append(SearchResult(org_id=result.org_id, landing_page_url=result.landing_page_url,
                                            title=f"{brand} – a page made for your search", snippet=f"Sponsored: {brand}'s offers, "
                                            f"arranged for {srp.query[:60]!r} and your earlier searches.", sitelinks=result.sitelinks,
                                            is_sponsored=True, ai_page_link=link, offers=result.offers,
                                            landing_page_score=result.landing_page_score))
                updated.append(result)
            else:
                updated.append(replace(result, ai_page_link=link))
        return replace(srp, results=tuple(updated))


def snippet(products: Sequence[Product], category: str) -> str:
    """A deterministic summary of a merchant's matches: how many, the price range, the brands."""
    prices = [p.price for p in products]
    low, high = min(prices), max(prices)
    brands = list(dict.fromkeys(p.brand for p in products if p.brand))[:4]
    cheapest = next(p for p in products if p.price == low)
    span = cheapest.price_label if low == high else f"{cheapest.price_label} to {next(p for p in products if p.price == high).price_label}"
    count = f"{len(products)} matching {category_label(category)}" if len(products) != 1 else f"1 matching {category_label(category).rstrip('s')}"
    return f"{count}, {span}" + (f"; {joined(brands)}" if brands else "") + "."
