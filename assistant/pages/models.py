"""The data structures of the product-pages spec (§3): catalog, result page, context, AI page, feedback."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from assistant.errors import AssistantError


class PageError(AssistantError):
    """A result page or an AI page cannot be made or shown as asked; the message says why."""


class NoPreviousQuery(PageError):
    """The user has no previous query and the `no_previous_query` setting is `error`."""


def host_of(url: str) -> str:
    """The lower-case host of a URL ('' when it has none)."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def on_domain(url: str, website_url: str) -> bool:
    """True when `url` is an http(s) URL on the website's host or one of its subdomains."""
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return False
    home, host = host_of(website_url), host_of(url)
    return scheme in ("http", "https") and bool(home) and (host == home or host.endswith("." + home))


@dataclass(frozen=True)
class LandingPage:
    """A merchant's landing page and the metrics it is scored on; None means the metric is unknown."""

    url: str
    org_id: str
    category: str = ""  # the product category the page is about ('' = the whole shop)
    conversion_rate: float | None = None  # share of visits that buy, 0-1
    bounce_rate: float | None = None  # share of visits that leave at once, 0-1
    ctr: float | None = None  # click-through rate of the merchant's result, 0-1
    design_quality: float | None = None  # 0 (poor) - 1 (excellent), a human rating
    content_quality: float | None = None  # 0 (poor) - 1 (excellent), a human rating
    has_product_filter: bool | None = None
    performance_metrics: dict[str, float] = field(default_factory=dict)  # e.g. {"load_time_s": 3.2}


@dataclass(frozen=True)
class Product:
    """One offer of one merchant."""

    id: str
    org_id: str
    category: str
    brand: str
    title: str
    price: float
    pdp_url: str  # the product detail page, on the merchant's domain
    product_page_url: str  # where a call-to-action leads (buy page); defaults to the detail page
    currency: str = "USD"
    rating: float | None = None  # 0-5
    review_count: int = 0
    description: str = ""
    image: str = ""  # an http(s) URL or a file inside the catalog directory
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def price_label(self) -> str:
        """The exact price as the catalog states it, e.g. '$1,899.00'."""
        return price_label(self.price, self.currency)


def price_label(price: float, currency: str = "USD") -> str:
    """A price with its currency sign and two decimals."""
    sign = {"USD": "$", "EUR": "€", "GBP": "£"}.get(currency.upper())
    return f"{sign}{price:,.2f}" if sign else f"{price:,.2f} {currency.upper()}"


@dataclass(frozen=True)
class Organization:
    """A merchant: brand, logo, website, landing pages and product feed."""

    id: str
    brand_name: str
    website_url: str
    logo: str = ""
    colour: str = "#555555"
    landing_pages: tuple[LandingPage, ...] = ()
    product_feed: tuple[Product, ...] = ()

    def landing_page_for(self, category: str = "") -> LandingPage | None:
        """The landing page of a category, else the first one."""
        for page in self.landing_pages:
            if category and page.category == category:
                return page
        return self.landing_pages[0] if self.landing_pages else None

    @property
    def categories(self) -> tuple[str, ...]:
        """Categories of the merchant's products, in catalog order."""
        return tuple(dict.fromkeys(p.category for p in self.product_feed))


@dataclass(frozen=True)
class Sitelink:
    """A link under a result or on a page, to a product detail page."""

    label: str
    pdp_url: str


@dataclass(frozen=True)
class Offer:
    """A product as a result page lists it (exact title and price from the catalog)."""

    product_id: str
    title: str
    price: float
    currency: str
    pdp_url: str
    score: float = 0.0

    @property
    def price_label(self) -> str:
        """The exact price, e.g. '$1,899.00'."""
        return price_label(self.price, self.currency)

    @classmethod
    def of(cls, product: Product, score: float = 0.0) -> "Offer":
        """The offer of a catalog product, with its exact title, price and detail page."""
        return cls(product.id, product.title, product.price, product.currency, product.pdp_url, round(float(score), 4))


@dataclass(frozen=True)
class SearchResult:
    """One merchant's result on the result page."""

    org_id: str
    landing_page_url: str
    title: str
    snippet: str
    sitelinks: tuple[Sitelink, ...] = ()
    is_sponsored: bool = False
    ai_page_link: str | None = None
    offers: tuple[Offer, ...] = ()
    landing_page_score: float | None = None


@dataclass(frozen=True)
class SearchResultPage:
    """The result page of one query: ordered results, and the gate's verdicts."""

    query: str
    results: tuple[SearchResult, ...]
    user_id: str = ""
    filters: dict[str, Any] = field(default_factory=dict)  # what the query parser understood
    matches: int = 0  # products that matched
    threshold: float | None = None
    scores: dict[str, float] = field(default_factory=dict)  # landing page URL -> score
    personalized_headline: str = ""
    suggested_filters: tuple[str, ...] = ()
    suggested_clusters: tuple[str, ...] = ()
    category: str = ""  # the product category the query is about ('' when none)
    created: str = ""  # ISO time the query was received

    def linked(self) -> list[SearchResult]:
        """Results that carry an AI-page link."""
        return [r for r in self.results if r.ai_page_link]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass(frozen=True)
class Context:
    """What the context provider read from the requesting user's own account."""

    user_id: str
    previous_queries: tuple[str, ...]  # newest first; at least one unless the query_only fallback applied
    user_name: str = ""
    location: str = ""
    interests: tuple[str, ...] = ()
    preferences: dict[str, tuple[str, ...]] = field(default_factory=dict)
    search_context: str = ""  # the current query
    interactions: tuple[str, ...] = ()  # earlier feedback signals of this user
    fallback: str = ""  # '' ; 'query_only' when there was no previous query; 'opted_out' when the user turned history off
    previous_when: tuple[str, ...] = ()  # ISO time of each previous query, same order


@dataclass(frozen=True)
class SuggestedFilter:
    """A filter the page pre-applies; `key` names what it tests."""

    id: str
    label: str
    key: str  # 'max_price', 'min_ram_gb', 'attr:gpu', 'use', 'brand', ...
    value: Any
    applied: bool = True


@dataclass(frozen=True)
class Cluster:
    """A group of offers built from the head query or from the search history."""

    id: str
    label: str
    basis: str  # head_query | history
    offers: tuple[Offer, ...]
    annotations: tuple[str, ...] = ()
    source_query: str = ""  # the query the cluster came from


@dataclass(frozen=True)
class CtaButton:
    """A call to action leading to one product's page."""

    label: str
    product_page_url: str
    product_id: str = ""


@dataclass
class ChatbotSession:
    """The merchant-scoped chatbot: its scope and its exchanges."""

    enabled: bool = True
    org_id: str = ""
    query: str = ""
    turns: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class AIPage:
    """The generated page for one user, one merchant and one query."""

    page_id: str
    org_id: str
    query: str
    user_id: str
    context_used: Context
    personalized_headline: str
    suggested_filters: list[SuggestedFilter]
    clusters: list[Cluster]
    offer_annotations: dict[str, list[str]]
    sponsored_badge: bool
    attribution: dict[str, str]  # brand, logo
    website_ingress_url: str
    broader_offers: list[Offer]
    cta_buttons: list[CtaButton]
    product_feed: list[Offer]
    sitelinks: list[Sitelink]
    chatbot: ChatbotSession
    previous_query_info: str
    component_annotations: dict[str, str]
    generated_assets: dict[str, Any] = field(default_factory=dict)  # text, image, audio, video
    offers: list[Offer] = field(default_factory=list)  # every offer the page may show, before filters
    fallbacks: dict[str, str] = field(default_factory=dict)  # slot -> why the template was used
    text_sources: dict[str, str] = field(default_factory=dict)  # slot -> model | template | edit
    head_query: str = ""  # the broad form of the query the head cluster is built from
    category: str = ""  # the product category of the page
    approved: bool = True  # False while approval_required and not yet approved
    approvals: list[str] = field(default_factory=list)  # actors (user, organization) who approved the page
    created: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["created"] = self.created.isoformat() if self.created else None
        return data


SIGNALS = ("approve", "reject", "edit", "click", "dwell")


@dataclass(frozen=True)
class FeedbackEvent:
    """One signal on one component of one page, by a user or an organization approver."""

    page_id: str
    component_id: str
    signal: str  # approve | reject | edit | click | dwell
    actor: str  # user | organization
    user_id: str = ""
    org_id: str = ""
    value: str = ""  # the edited text, the dwell seconds, the clicked URL
    when: str = ""  # ISO time

    def __post_init__(self) -> None:
        if self.signal not in SIGNALS:
            raise ValueError(f"signal must be one of {', '.join(SIGNALS)}, got {self.signal!r}")
        if self.actor not in ("user", "organization"):
            raise ValueError(f"actor must be user or organization, got {self.actor!r}")
