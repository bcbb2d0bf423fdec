"""Product search: attribute filters parsed from free text, combined with embedding similarity over the catalog."""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.pages.catalog import Catalog
from assistant.pages.models import Product, price_label
from memory.embeddings import Embedder

log = logging.getLogger(__name__)

CATEGORY_WORDS = {
    "laptops": ("laptop", "laptops", "notebook", "notebooks", "ultrabook", "ultrabooks", "workstation laptop", "gaming laptop"),
    "running-shoes": ("running shoes", "running shoe", "trail shoes", "trail shoe", "road shoes", "shoes", "shoe", "trainers", "sneakers",
                      "runners", "marathon"),
    "coffee-gear": ("coffee", "espresso", "grinder", "grinders", "kettle", "kettles", "pour-over", "pour over", "french press", "brewer",
                    "barista", "coffee scale"),
    "cameras": ("camera", "cameras", "mirrorless", "dslr", "action cam", "vlogging", "lens"),
    "furniture": ("furniture", "chair", "chairs", "desk", "desks", "sofa", "sofas", "couch", "bookshelf", "bookcase", "table", "tables",
                  "shelf", "coffee table", "drafting table"),
    "headphones": ("headphones", "headphone", "earbuds", "headset", "earphones", "noise cancelling", "noise-cancelling"),
}
USE_WORDS = {"3d modelling": "3D modeling", "3d modeling": "3D modeling", "3d model": "3D modeling", "blender": "3D modeling",
             "architecture": "architecture", "architect": "architecture", "architectural": "architecture", "bim": "architecture",
             "revit": "architecture", "cad": "CAD", "rendering": "rendering", "gaming": "gaming", "games": "gaming",
             "video editing": "video editing", "photo editing": "photo editing", "students": "students", "student": "students",
             "school": "students", "office": "office"}
_MONEY = r"(?:\$|usd\s*|eur\s*|€|£)?\s*(\d[\d,]*(?:\.\d+)?)\s*(k\b)?"
_NOT_MONEY = r"(?!\s*(?:kg|g\b|gb|tb|mb|mm|cm|in\b|inch|inches|\"|lbs?|hours?|h\b|w\b|mp\b|bar\b|ml\b|degrees|%))"
MAX_PRICE = re.compile(rf"\b(?:under|below|less than|cheaper than|up to|at most|max(?:imum)?|no more than|within|budget(?: of| is)?)\s*"
                       rf"{_MONEY}{_NOT_MONEY}|<=?\s*{_MONEY}{_NOT_MONEY}", re.I)
MIN_PRICE = re.compile(rf"\b(?:over|above|more than|at least|starting at|from)\s*{_MONEY}{_NOT_MONEY}", re.I)
RANGE = re.compile(rf"\bbetween\s*{_MONEY}\s*and\s*{_MONEY}{_NOT_MONEY}|(?:\$|€|£)\s*(\d[\d,]*)\s*(?:-|–|to)\s*(?:\$|€|£)?\s*(\d[\d,]*)", re.I)
RAM = re.compile(r"\b(\d{1,3})\s*gb\s*(?:of\s*)?(?:ram|memory)\b|\b(?:ram|memory)\s*(?:of\s*)?(\d{1,3})\s*gb\b", re.I)


def _amount(number: str, thousands: str | None) -> float:
    return float(number.replace(",", "")) * (1000 if thousands else 1)


def _phrase(words: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w-])" + re.escape(words).replace(r"\ ", r"[\s-]+") + r"(?![\w-])", re.I)


@dataclass(frozen=True)
class QueryFilters:
    """What a shopping query asks for: hard filters (category, brand, merchant, price, RAM) and soft hints (uses, terms)."""

    text: str
    category: str = ""
    category_inferred: bool = False
    brands: tuple[str, ...] = ()
    merchants: tuple[str, ...] = ()
    max_price: float | None = None
    min_price: float | None = None
    min_ram_gb: int | None = None
    uses: tuple[str, ...] = ()
    terms: tuple[str, ...] = ()

    def admits(self, product: Product) -> bool:
        """True when the product passes every hard filter."""
        ram = product.attributes.get("ram_gb")
        return ((not self.category or product.category == self.category) and (not self.brands or product.brand in self.brands)
                and (not self.merchants or product.org_id in self.merchants)
                and (self.max_price is None or product.price <= self.max_price) and (self.min_price is None or product.price >= self.min_price)
                and (self.min_ram_gb is None or (isinstance(ram, (int, float)) and ram >= self.min_ram_gb)))

    def describe(self) -> str:
        """The hard filters in a few words, e.g. 'laptops, Vireo, under $2,000.00'."""
        parts = [self.category.replace("-", " ")] if self.category else []
        parts += list(self.brands)
        if self.min_price is not None and self.max_price is not None:
            parts.append(f"{price_label(self.min_price)}-{price_label(self.max_price)}")
        elif self.max_price is not None:
            parts.append(f"under {price_label(self.max_price)}")
        elif self.min_price is not None:
            parts.append(f"over {price_label(self.min_price)}")
        if self.min_ram_gb:
            parts.append(f"{self.min_ram_gb}GB+ RAM")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def _category_words(catalog: Catalog) -> dict[str, tuple[str, ...]]:
    words = {}
    for category in catalog.categories:
        own = category.replace("-", " ").replace("_", " ")
        words[category] = tuple(dict.fromkeys((*CATEGORY_WORDS.get(category, ()), own, own.rstrip("s"))))
    return words


def parse_query(text: str, catalog: Catalog) -> QueryFilters:
    """The filters a free-text query states; words it does not understand are left to the embeddings."""
    query = " ".join(text.split())
    low, high = None, None
    if match := RANGE.search(query):
        if match.group(1):
            low, high = _amount(match.group(1), match.group(2)), _amount(match.group(3), match.group(4))
        else:
            low, high = _amount(match.group(5), None), _amount(match.group(6), None)
        low, high = min(low, high), max(low, high)
    else:
        if match := MAX_PRICE.search(query):
            high = _amount(match.group(1) or match.group(3), match.group(2) or match.group(4))
        if match := MIN_PRICE.search(query):
            low = _amount(match.group(1), match.group(2))
    ram = RAM.search(query)
    found: list[tuple[int, int, str]] = []  # (position, -length, category): the earliest product noun wins
    for category, words in _category_words(catalog).items():
        for word in words:
            if hit := _phrase(word).search(query):
                found.append((hit.start(), -len(word), category))
    category = min(found)[2] if found else ""
    brands = tuple(b for b in catalog.brands if _phrase(b).search(query))
    merchants = tuple(o.id for o in catalog.organizations.values() if o.brand_name not in brands and _phrase(o.brand_name).search(query))
    uses = tuple(dict.fromkeys(use for word, use in USE_WORDS.items() if _phrase(word).search(query)))
    terms = tuple(t for t in _terms(catalog) if _phrase(t).search(query))
    inferred = False
    if not category and brands:
        brand_categories = {p.category for p in catalog.products if p.brand in brands}
        if len(brand_categories) == 1:
            category, inferred = brand_categories.pop(), True
    return QueryFilters(query, category, inferred, brands, merchants, high, low, int(ram.group(1) or ram.group(2)) if ram else None, uses, terms)


_TERMS: dict[str, tuple[str, ...]] = {}


def _terms(catalog: Catalog) -> tuple[str, ...]:
    """Attribute values worth matching in a query ('trail', 'OLED', 'espresso machine'), longest first."""
    if catalog.digest not in _TERMS:
        values: set[str] = set()
        for product in catalog.products:
            for key, value in product.attributes.items():
                for item in value if isinstance(value, list) else [value]:
                    if isinstance(item, str) and 3 <= len(item) <= 30 and key != "colourway":
                        values.add(item.lower())
                        values.update(w for w in re.findall(r"[a-z][a-z-]{3,}", item.lower()) if w in ("oled", "mini-led", "trail", "road"))
        _TERMS[catalog.digest] = tuple(sorted(values, key=lambda v: (-len(v), v)))
    return _TERMS[catalog.digest]


def product_text(product: Product) -> str:
    """What is embedded for a product: title, brand, category, uses and description."""
    uses = product.attributes.get("uses") or []
    extra = f" Good for {', '.join(map(str, uses))}." if uses else ""
    return f"{product.title}. {product.brand} {product.category.replace('-', ' ')}.{extra} {product.description}"[:600]


def _embedder_key(embedder: Embedder) -> str:
    name = str(getattr(embedder, "model", "") or type(embedder).__name__)
    dims = getattr(embedder, "dimensions", "")
    return re.sub(r"[^A-Za-z0-9]+", "-", f"{name}{dims}").strip("-")[:60]


@dataclass(frozen=True)
class SearchOutcome:
    """Products that passed the hard filters, best first, with their scores."""

    filters: QueryFilters
    ranked: tuple[tuple[Product, float], ...]
    considered: int  # products in the catalog


class ProductIndex:
    """The catalog embedded once (vectors cached under the data dir by catalog digest), searched by query."""

    def __init__(self, catalog: Catalog, embedder: Embedder, cache_dir: Path | None = None) -> None:
        self.catalog = catalog
        self.embedder = embedder
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._vectors: np.ndarray | None = None
        self._lock = threading.Lock()

    @property
    def cache_path(self) -> Path | None:
        """The file the vectors are kept in."""
        if self.cache_dir is None:
            return None
        return self.cache_dir / f"vectors-{self.catalog.digest}-{_embedder_key(self.embedder)}.npy"

    def vectors(self) -> np.ndarray:
        """One unit vector per product (shape: products x dimensions), embedded on first use."""
        with self._lock:
            if self._vectors is not None:
                return self._vectors
            path = self.cache_path
            if path is not None and path.is_file():
                try:
                    cached = np.load(path, allow_pickle=False)
                    if cached.shape[0] == len(self.catalog.products):
                        self._vectors = cached
                        return cached
                except (OSError, ValueError):
                    log.warning("product vectors in %s are unreadable; embedding again", path)
            vectors = np.asarray(self.embedder.embed_batch([product_text(p) for p in self.catalog.products]), dtype=np.float32)
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = vectors / np.where(norms == 0, 1, norms)
            if path is not None:
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    tmp = path.with_name(path.name + ".tmp.npy")
                    np.save(tmp, vectors, allow_pickle=False)
                    tmp.replace(path)
                except OSError:
                    log.warning("could not cache product vectors in %s", path)
            self._vectors = vectors
            return vectors

    def search(self, query: str, *, filters: QueryFilters | None = None) -> SearchOutcome:
        """Products passing the filters, ranked by similarity to the query plus small boosts for stated uses and terms."""
        filters = filters or parse_query(query, self.catalog)
        vectors = self.vectors()
        q = np.asarray(self.embedder.embed_batch([query])[0], dtype=np.float32)
        q = q / (np.linalg.norm(q) or 1.0)
        similarity = vectors @ q
        products = self.catalog.products
        if not filters.category and not filters.brands and not filters.merchants:
            top = np.argsort(-similarity)[:5]
            counts: dict[str, int] = {}
            for i in top:
                counts[products[i].category] = counts.get(products[i].category, 0) + 1
            best = max(counts, key=counts.get) if counts else ""
            if best and counts[best] >= 3:
                from dataclasses import replace

                filters = replace(filters, category=best, category_inferred=True)
        scored = []
        for i, product in enumerate(products):
            if not filters.admits(product):
                continue
            text = product_text(product).lower()
            uses = [str(u).lower() for u in product.attributes.get("uses") or []]
            boost = 0.0
            if filters.uses:
                boost += 0.12 * sum(u.lower() in uses for u in filters.uses) / len(filters.uses)
            if filters.terms:
                boost += 0.06 * sum(t in text for t in filters.terms) / len(filters.terms)
            boost += 0.01 * ((product.rating or 4.0) - 4.0)
            scored.append((product, float(similarity[i]) + boost))
        scored.sort(key=lambda pair: (-pair[1], pair[0].price, pair[0].id))
        return SearchOutcome(filters, tuple(scored), len(products))
