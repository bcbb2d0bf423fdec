"""Deterministic texts for every slot of a page: the fallback when the model's text fails validation, and good on their own.

Each slot has a few variants (`variant` picks one, cycling); a rejected text is regenerated with the next variant when the
model cannot do better. Every function is pure: the same inputs give the same text.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Sequence

from assistant.pages.models import Product, price_label

CATEGORY_LABELS = {"laptops": "laptops", "running-shoes": "running shoes", "coffee-gear": "coffee gear", "cameras": "cameras",
                   "furniture": "furniture", "headphones": "headphones"}


def category_label(category: str) -> str:
    """A category as words: 'running-shoes' -> 'running shoes' ('products' when unknown)."""
    return CATEGORY_LABELS.get(category) or (category.replace("-", " ").replace("_", " ").strip() or "products")


def capital(text: str) -> str:
    """The text with its first letter upper-case (the rest unchanged: '3D modeling' stays)."""
    return text[:1].upper() + text[1:] if text else text


def joined(items: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = [i for i in items if i]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else ""


def fit(text: str, limit: int) -> str:
    """The text cut at a word boundary to at most `limit` characters (with an ellipsis when cut)."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: max(1, limit - 1)].rsplit(" ", 1)[0].rstrip(",;:-–")
    return cut + "…"


def possessive(name: str) -> str:
    """"Vireo's", "NorthPeak Computers'"."""
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def plural(count: int, word: str) -> str:
    """'1 filter', '2 filters', '3 earlier searches'."""
    return f"{count} {word}" if count == 1 else f"{count} {word}{'es' if word.endswith(('s', 'sh', 'ch', 'x')) else 's'}"


def quoted(text: str, limit: int = 40) -> str:
    """A user's query in typographic quotes, shortened."""
    return f"“{fit(text, limit)}”"


def short_title(title: str) -> str:
    """A product title without its parenthesised details: 'Vireo Forge 16 (…)' -> 'Vireo Forge 16'."""
    return re.split(r"\s+\(", title, maxsplit=1)[0].strip() or title


# -- headline ---------------------------------------------------------------------------------------------------
def headline(*, brand: str, category: str, query: str, uses: Sequence[str], previous: Sequence[str], name: str = "",
             variant: int = 0, limit: int = 110) -> str:
    """Ties what the user has been searching for to the merchant's offerings."""
    cat = category_label(category)
    lead = f"{name}, " if name else ""
    if uses:
        options = [f"{lead}{cat} for {joined(list(uses)[:2])} at {brand}",
                   f"Picked for {joined(list(uses)[:2])}: {cat} at {brand}",
                   f"{capital(cat)} at {brand} matched to your {joined(list(uses)[:2])} searches"]
    elif previous:
        options = [f"{lead}{cat} at {brand}, picked after your search for {quoted(previous[0], 36)}",
                   f"{capital(cat)} at {brand}, following your search for {quoted(previous[0], 36)}",
                   f"Your {cat} shortlist at {brand}, from your earlier searches"]
    else:
        options = [f"{lead}{cat} at {brand} for {quoted(query, 40)}", f"{brand}: {cat} matching {quoted(query, 40)}",
                   f"{capital(cat)} at {brand}, picked for your search"]
    options.append(f"{capital(cat)} at {brand}")  # the plainest, for when every other one was rejected
    return fit(capital(options[variant % len(options)]), limit)


# -- clusters ---------------------------------------------------------------------------------------------------
def cluster_label(*, basis: str, category: str, use: str = "", brand: str = "", term: str = "", max_price: float | None = None,
                  variant: int = 0, limit: int = 40) -> str:
    """A short label for a group of offers: 'For 3D modeling', 'Vireo picks', 'Top laptops'."""
    cat = category_label(category)
    if basis == "history" and use:
        options = [f"For {use}", f"{capital(use)} picks", f"Good for {use}"]
    elif basis == "history" and brand:
        options = [f"{brand} picks", f"More from {brand}", f"{brand} {cat}"]
    elif basis == "history" and term:
        options = [f"{capital(term)} picks", f"For {term}", f"{capital(term)} {cat}"]
    elif basis == "history" and max_price is not None:
        options = [f"Under {price_label(max_price)}", f"{capital(cat)} under {price_label(max_price)}", f"Within your budget"]
    else:
        options = [f"Top {cat}", f"Best {cat} matches", f"{capital(cat)} for you"]
    return fit(options[variant % len(options)], limit)


def cluster_annotations(*, basis: str, query: str, source_query: str, count: int, total: int, category: str, brand: str) -> tuple[str, ...]:
    """Why a cluster is there, tied to the current query (and to the earlier search it came from)."""
    cat = category_label(category)
    if basis == "history":
        return (f"From your earlier search {quoted(source_query)}", f"{count} of {possessive(brand)} {cat} for {quoted(query, 30)}")
    return (f"Best matches for {quoted(query)}", f"{count} of {total} {cat} at {brand}")


# -- offers -----------------------------------------------------------------------------------------------------
def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def product_facts(product: Product) -> list[str]:
    """The facts of a product that matter for a decision, most important first (exact catalog values)."""
    a = product.attributes
    facts: list[str] = []

    def add(key: str, text: str) -> None:
        if key in a and a[key] not in (None, "", False):
            facts.append(text)

    if product.category == "laptops":
        add("gpu", f"{a.get('gpu')} graphics")
        add("ram_gb", f"{_number(a.get('ram_gb'))} GB RAM")
        add("cpu", f"{a.get('cpu')}")
        add("weight_kg", f"{_number(a.get('weight_kg'))} kg")
        add("display", f"{a.get('display')} screen")
    elif product.category == "running-shoes":
        add("terrain", f"{a.get('terrain')} shoe")
        add("drop_mm", f"{_number(a.get('drop_mm'))} mm drop")
        add("cushioning", f"{a.get('cushioning')} cushioning")
        add("weight_g", f"{_number(a.get('weight_g'))} g")
        add("waterproof", "waterproof")
    elif product.category == "coffee-gear":
        add("kind", f"{a.get('kind')}")
        add("pressure_bar", f"{_number(a.get('pressure_bar'))} bar")
        add("burr_type", f"{a.get('burr_type')} burrs")
        add("capacity_ml", f"{_number(a.get('capacity_ml'))} ml")
        add("material", f"{a.get('material')}")
    elif product.category == "cameras":
        add("sensor", f"{a.get('sensor')} sensor")
        add("megapixels", f"{_number(a.get('megapixels'))} MP")
        add("video", f"{a.get('video')} video")
        add("ibis", "in-body stabilisation")
        add("weight_g", f"{_number(a.get('weight_g'))} g")
    elif product.category == "furniture":
        add("kind", f"{a.get('kind')}")
        add("material", f"{a.get('material')}")
        add("width_cm", f"{_number(a.get('width_cm'))} cm wide")
        add("tilt_degrees", f"tilts to {_number(a.get('tilt_degrees'))} degrees")
        add("colour", f"{a.get('colour')}")
    elif product.category == "headphones":
        add("kind", f"{a.get('kind')}")
        add("anc", "noise cancelling")
        add("battery_h", f"{_number(a.get('battery_h'))} h battery")
        add("driver_mm", f"{_number(a.get('driver_mm'))} mm drivers")
    if not facts:
        for key, value in list(a.items())[:4]:
            if key != "uses" and not isinstance(value, (list, dict)) and value not in (None, "", False):
                facts.append(f"{key.replace('_', ' ')} {value}" if value is not True else key.replace("_", " "))
    return facts


def offer_annotation(product: Product, *, uses: Sequence[str] = (), variant: int = 0, limit: int = 90) -> str:
    """Facts about one offer that matter to this user: a matching use first, then the key facts, the rating."""
    product_uses = [str(u) for u in product.attributes.get("uses") or []]
    wanted = [u for u in uses if u.lower() in {p.lower() for p in product_uses}]
    facts = product_facts(product)
    if variant % 2:
        facts = facts[1:] + facts[:1]
    lead = f"Good for {wanted[0]}: " if wanted else ""
    rating = f"; rated {product.rating:g}/5" if product.rating and product.rating >= 4.5 else ""
    parts: list[str] = []
    for fact in facts:
        candidate = lead + ", ".join([*parts, fact]) + rating
        if len(candidate) > limit and parts:
            break
        parts.append(fact)
    text = lead + ", ".join(parts) + rating if parts else lead + product.price_label
    return fit(capital(text), limit)


def cta_label(product: Product, *, limit: int = 60) -> str:
    """The label of a call-to-action button for one product."""
    return fit(f"View {short_title(product.title)} – {product.price_label}", limit)


# -- the rest of the page ---------------------------------------------------------------------------------------
def previous_query_info(previous: Sequence[str], when: Sequence[str], *, query: str, fallback: str = "") -> str:
    """What the page shows about the user's earlier searches."""
    if not previous:
        why = "you asked not to use your history" if fallback == "opted_out" else "there are no earlier searches yet"
        return f"Built from {quoted(query)} alone: {why}."
    items = []
    for text, moment in zip(previous, list(when) + [""] * len(previous)):
        day = ""
        if moment:
            try:
                day = f" ({datetime.fromisoformat(moment):%d %b})"
            except ValueError:
                day = ""
        items.append(f"{quoted(text)}{day}")
    return f"Based on your earlier searches: {joined(items[:3])}."


def component_annotations(*, query: str, brand: str, category: str, clusters: Sequence[tuple[str, str]], filters: int,
                          offers: int, previous: int) -> dict[str, str]:
    """A short, query-dependent note on every component of the page (component id -> text)."""
    q = quoted(query, 36)
    cat = category_label(category)
    notes = {
        "headline": f"Written for {q}" + (f" and {plural(previous, 'earlier search')}" if previous else ""),
        "filters": f"{plural(filters, 'filter')} pre-applied from {q}" + (" and your history" if previous else ""),
        "offers": f"{offers} {cat} at {brand} for {q}",
        "badge": f"Sponsored by {brand}, shown for {q}",
        "attribution": f"{brand} sells these {cat}; shown for {q}",
        "ingress": f"Continue on {possessive(brand)} own website after {q}",
        "broader": f"More from {brand} beyond {q}",
        "cta": f"Straight to {possessive(brand)} product pages for {q}",
        "feed": f"An overview of {possessive(brand)} range, for {q}",
        "sitelinks": f"Product details at {brand} for {q}",
        "chatbot": f"Ask {brand} about {cat} for {q}",
        "previous_query": f"Your earlier searches that shaped this page for {q}",
    }
    for cluster_id, label in clusters:
        notes[f"cluster:{cluster_id}"] = f"{label}: grouped for {q}"
    return notes


def chatbot_greeting(*, brand: str, category: str, query: str) -> str:
    """The chatbot's first line."""
    return f"Ask me about {possessive(brand)} {category_label(category)} for {quoted(query)}: prices, specs or which one suits you."


def chatbot_intro(*, brand: str, question: str, count: int, variant: int = 0) -> str:
    """The opening of a chatbot answer that lists matching products."""
    options = [f"{brand} has {count} good matches for that", f"Here is what {brand} offers for that",
               f"These {brand} products fit your question"]
    return options[variant % len(options)]


def chatbot_nothing(*, brand: str, category: str) -> str:
    """The answer when nothing in the merchant's catalog fits the question."""
    return f"I can only help with {possessive(brand)} {category_label(category)}, and none of them fits that question."
