"""The structured parts of an AI page, all from the merchant's catalog: the offer pool, suggested filters, clusters,
broader offers, calls to action, the product feed and sitelinks. No model is involved here.

The pool is every product of the merchant in the query's category (the head query: its broad form), ranked by the
query. Suggested filters come from the query (price, RAM, brand, uses, terms), then from the user's history and
profile; all are pre-applied, except that history and profile filters are left unapplied when they would leave no
offer. Clusters come from earlier searches (basis `history`: a use, a brand, a term or a budget they named) and from
the head query (basis `head_query`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Sequence

from assistant.pages.catalog import Catalog
from assistant.pages.models import Context, Organization, PageError, Product, SuggestedFilter, price_label
from assistant.pages.search import USE_WORDS, ProductIndex, QueryFilters, parse_query, product_text
from assistant.pages.settings import PageSettings
from assistant.pages.templates import category_label

POOL_SIZE = 40
FEED_SIZE = 8
BROADER_SIZE = 6
CTA_COUNT = 3
SITELINK_COUNT = 4


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")[:40] or "x"


def unique(products: Iterable[Product]) -> list[Product]:
    """Products without repeats (by id), in order."""
    return list({p.id: p for p in reversed(list(products))}.values())[::-1]


def uses_of(product: Product) -> set[str]:
    """The uses a product is tagged with, lower-case."""
    return {str(u).lower() for u in product.attributes.get("uses") or []}


def filter_matches(product: Product, item: SuggestedFilter) -> bool:
    """True when the product passes one suggested filter."""
    key, value = item.key, item.value
    if key == "max_price":
        return product.price <= float(value)
    if key == "min_price":
        return product.price >= float(value)
    if key == "min_ram_gb":
        ram = product.attributes.get("ram_gb")
        return isinstance(ram, (int, float)) and ram >= float(value)
    if key == "brand":
        return product.brand == value
    if key == "use":
        return str(value).lower() in uses_of(product)
    if key == "term":
        return str(value).lower() in product_text(product).lower()
    if key.startswith("attr:"):
        return product.attributes.get(key[5:]) == value
    return True


def apply_filters(products: Iterable[Product], filters: Sequence[SuggestedFilter], active: Iterable[str] | None = None) -> list[Product]:
    """The products that pass every active filter (default: the filters marked applied)."""
    chosen = set(active) if active is not None else {f.id for f in filters if f.applied}
    on = [f for f in filters if f.id in chosen]
    return [p for p in products if all(filter_matches(p, f) for f in on)]


@dataclass
class ClusterPlan:
    """A cluster before its label is written: its basis, what it came from, its products."""

    id: str
    basis: str  # head_query | history
    source_query: str
    products: list[Product]
    use: str = ""
    brand: str = ""
    term: str = ""
    max_price: float | None = None


@dataclass
class PagePlan:
    """Everything structured on a page, before the text slots are filled."""

    org: Organization
    query: str
    category: str
    head_query: str
    filters_of_query: QueryFilters
    pool: list[Product]
    filters: list[SuggestedFilter]
    clusters: list[ClusterPlan]
    broader: list[Product]
    feed: list[Product]
    ctas: list[Product]
    sitelinks: list[Product]
    uses: list[str]  # the user's uses, from the query, the history and the interests, most relevant first
    terms: set[str] = field(default_factory=set)  # the user's words, for ranking generated text


class OfferPlanner:
    """Plans the structured parts of a page for one merchant, query and context."""

    def __init__(self, catalog: Catalog, index: ProductIndex, settings: PageSettings | None = None) -> None:
        self.catalog = catalog
        self.index = index
        self.settings = settings or PageSettings()

    def pool(self, org: Organization, query: str, category: str) -> list[Product]:
        """The merchant's products in the category (all of them without one), ranked by the query."""
        filters = QueryFilters(text=query, category=category, merchants=(org.id,),
                               uses=parse_query(query, self.catalog).uses, terms=parse_query(query, self.catalog).terms)
        return [p for p, _ in self.index.search(query, filters=filters).ranked][:POOL_SIZE]

    def plan(self, org: Organization, query: str, context: Context, *, category: str = "") -> PagePlan:
        """The structured page for `org`, `query` and the user's `context`."""
        parsed = parse_query(query, self.catalog)
        category = category or parsed.category
        pool = self.pool(org, query, category)
        if not pool:
            what = category_label(category) if category else "products"
            raise PageError(f"{org.brand_name} sells no {what} for {query[:60]!r}")
        category = category or pool[0].category
        history = [parse_query(q, self.catalog) for q in context.previous_queries]
        interests = [USE_WORDS[w.lower()] for w in context.interests if w.lower() in USE_WORDS]
        uses = list(dict.fromkeys([*parsed.uses, *(u for h in history for u in h.uses), *interests]))
        filters = self._filters(org, parsed, history, context, pool)
        clusters = self._clusters(org, query, category, parsed, context, pool, filters)
        in_clusters = {p.id for c in clusters for p in c.products}
        broader = self._broader(org, category, pool, in_clusters, filters)
        feed = sorted(org.product_feed, key=lambda p: (-(p.rating or 0), -p.review_count, p.price, p.id))[:FEED_SIZE]
        first = clusters[0].products if clusters else pool
        head = next((c.products for c in clusters if c.basis == "head_query"), pool)
        terms = {w.lower() for w in [*uses, category_label(category), *re.findall(r"[A-Za-z]{3,}", query),
                                     *(w for q in context.previous_queries for w in re.findall(r"[A-Za-z]{3,}", q))]}
        return PagePlan(org=org, query=query, category=category, head_query=category_label(category), filters_of_query=parsed,
                        pool=pool, filters=filters, clusters=clusters, broader=broader, feed=feed, ctas=first[:CTA_COUNT],
                        sitelinks=head[:SITELINK_COUNT], uses=uses, terms=terms)

    # -- suggested filters -------------------------------------------------------------------------------------
    def _filters(self, org: Organization, parsed: QueryFilters, history: Sequence[QueryFilters], context: Context,
                 pool: Sequence[Product]) -> list[SuggestedFilter]:
        own_brands = {p.brand for p in org.product_feed}
        found: list[tuple[SuggestedFilter, str]] = []  # (filter, origin: query | history | profile)

        def add(item: SuggestedFilter, origin: str) -> None:
            if all(f.id != item.id for f, _ in found) and any(filter_matches(p, item) for p in pool):
                found.append((item, origin))

        if parsed.max_price is not None:
            add(SuggestedFilter("price-max", f"Under {price_label(parsed.max_price)}", "max_price", parsed.max_price), "query")
        if parsed.min_price is not None:
            add(SuggestedFilter("price-min", f"Over {price_label(parsed.min_price)}", "min_price", parsed.min_price), "query")
        if parsed.min_ram_gb:
            add(SuggestedFilter("ram", f"{parsed.min_ram_gb} GB RAM or more", "min_ram_gb", parsed.min_ram_gb), "query")
        for brand in parsed.brands:
            if brand in own_brands:
                add(SuggestedFilter(f"brand-{_slug(brand)}", brand, "brand", brand), "query")
        for use in parsed.uses:
            add(SuggestedFilter(f"use-{_slug(use)}", f"For {use}", "use", use), "query")
        for term in [t for t in parsed.terms if t.lower() not in {u.lower() for u in parsed.uses}][:2]:
            add(SuggestedFilter(f"term-{_slug(term)}", term.capitalize(), "term", term), "query")
        for earlier in history:  # newest first: the most recent use and budget of the user's history
            if any(f.key == "use" for f, _ in found):
                break
            for use in earlier.uses:
                add(SuggestedFilter(f"use-{_slug(use)}", f"For {use}", "use", use), "history")
        if parsed.max_price is None:
            budget = next((h.max_price for h in history if h.max_price is not None), None)
            if budget is not None:
                add(SuggestedFilter("price-max", f"Under {price_label(budget)} (your earlier budget)", "max_price", budget), "history")
        for brand in context.preferences.get("brands", ()):
            if brand in own_brands:
                add(SuggestedFilter(f"brand-{_slug(brand)}", f"{brand} (your preference)", "brand", brand), "profile")
        items = [f for f, _ in found]
        origins = [o for _, o in found]
        # Pre-apply all; leave personal filters (newest added last) unapplied while they would empty the list.
        for k in reversed(range(len(items))):
            if apply_filters(pool, items):
                break
            if origins[k] != "query":
                items[k] = replace(items[k], applied=False)
        if not apply_filters(pool, items):
            items = [replace(f, applied=False) for f in items]
        return items

    # -- clusters ----------------------------------------------------------------------------------------------
    def _clusters(self, org: Organization, query: str, category: str, parsed: QueryFilters, context: Context,
                  pool: Sequence[Product], filters: Sequence[SuggestedFilter]) -> list[ClusterPlan]:
        s = self.settings
        own_brands = {p.brand for p in org.product_feed}
        clusters: list[ClusterPlan] = []
        seen: list[set[str]] = []

        def add(plan: ClusterPlan) -> None:
            ids = {p.id for p in plan.products}
            if plan.products and ids not in seen:
                seen.append(ids)
                clusters.append(plan)

        for k, previous in enumerate(context.previous_queries):
            if len(clusters) >= s.max_clusters - 1:
                break
            earlier = parse_query(previous, self.catalog)
            n = s.offers_per_cluster
            for use in earlier.uses:
                add(ClusterPlan(f"h{k}-{_slug(use)}", "history", previous, [p for p in pool if use.lower() in uses_of(p)][:n], use=use))
            for brand in (b for b in earlier.brands if b in own_brands):
                add(ClusterPlan(f"h{k}-{_slug(brand)}", "history", previous, [p for p in pool if p.brand == brand][:n], brand=brand))
            if not earlier.uses and not earlier.brands:
                for term in earlier.terms[:1]:
                    add(ClusterPlan(f"h{k}-{_slug(term)}", "history", previous,
                                    [p for p in pool if term.lower() in product_text(p).lower()][:n], term=term))
                if earlier.max_price is not None and not earlier.terms:
                    add(ClusterPlan(f"h{k}-under", "history", previous, [p for p in pool if p.price <= earlier.max_price][:n],
                                    max_price=earlier.max_price))
        clusters = clusters[: max(0, s.max_clusters - 1)]
        head = apply_filters(pool, [f for f in filters if f.applied]) or list(pool)
        return [*clusters, ClusterPlan("head", "head_query", query, head[: s.offers_per_cluster])]

    # -- broader offers ----------------------------------------------------------------------------------------
    def _broader(self, org: Organization, category: str, pool: Sequence[Product], shown: set[str],
                 filters: Sequence[SuggestedFilter]) -> list[Product]:
        others = [p for p in org.product_feed if p.category != category]
        others.sort(key=lambda p: (-(p.rating or 0), p.price, p.id))
        matching = {p.id for p in apply_filters(pool, filters)}
        outside = [p for p in pool if p.id not in shown and p.id not in matching]  # beyond the pre-applied filters first
        rest = [p for p in pool if p.id not in shown and p.id in matching]
        chosen = unique([*others[:3], *outside, *rest])[:BROADER_SIZE]
        if self.settings.broader_offers_scope == "catalog":
            elsewhere = [p for p in self.catalog.products if p.category == category and p.org_id != org.id]
            elsewhere.sort(key=lambda p: (-(p.rating or 0), p.price, p.id))
            chosen += elsewhere[:3]
        return chosen


def describe_filters(filters: Sequence[SuggestedFilter]) -> list[dict[str, Any]]:
    """Filters as JSON-ready dicts."""
    return [{"id": f.id, "label": f.label, "key": f.key, "value": f.value, "applied": f.applied} for f in filters]
