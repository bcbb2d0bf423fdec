"""Shared set-up of the product-pages tests: a ProductPages over the scripted model and the hashing embedder, small catalogs."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from assistant.pages.catalog import DEMO_CATALOG, build_catalog
from assistant.pages.product_pages import ProductPages
from assistant.pages.settings import PageSettings
from memory.activity import ActivityLog
from memory.profile import Profiles
from tests.fakes import HashEmbedder, ScriptedBackend

NOW = datetime(2024, 5, 14, 8, 15, tzinfo=timezone.utc)
LAPTOP_HISTORY = ("best laptop for architecture", "best laptop for 3D modeling", "Vireo")


def make_pages(tmp_path: Path, *, backend: ScriptedBackend | None = None, settings: PageSettings | None = None, catalog=None,
               clock=None, **options: Any) -> ProductPages:
    """ProductPages in tmp_path over the scripted model (an empty script unless given) and the hashing embedder."""
    data = tmp_path / "data"
    return ProductPages(data_dir=data, embedder=HashEmbedder(), profiles=Profiles(data / "profiles.sqlite3"),
                        activity=ActivityLog(data / "activity.sqlite3"), backend=backend if backend is not None else ScriptedBackend(),
                        settings=settings or PageSettings(), clock=clock or (lambda: NOW), catalog=catalog, generator_options=options)


def shopped(pages: ProductPages, user: str, queries: tuple[str, ...] = LAPTOP_HISTORY, *, days_ago: int = 3) -> None:
    """Log earlier shopping queries of a user, oldest first, one day apart, ending `days_ago - len + 1` days ago."""
    for k, query in enumerate(queries):
        pages.activity.record(user, query, when=NOW - timedelta(days=days_ago - k), kind="shop")


def demo_document() -> dict:
    """The shipped demo catalog as a plain document (a copy to change)."""
    return json.loads((DEMO_CATALOG / "catalog.json").read_text(encoding="utf-8"))


def landing(url: str, **metrics: Any) -> dict:
    """A landing page record with excellent metrics unless overridden."""
    page = {"url": url, "category": "laptops", "conversion_rate": 0.05, "bounce_rate": 0.25, "ctr": 0.07, "design_quality": 0.95,
            "content_quality": 0.95, "has_product_filter": True}
    page.update(metrics)
    return page


def two_shops(a: dict | None = None, b: dict | None = None):
    """A catalog with shop A (a poor landing page by default) and shop B (an excellent one), three laptops each."""
    a = {"conversion_rate": 0.005, "bounce_rate": 0.8, "ctr": 0.01, "design_quality": 0.2, "content_quality": 0.2} if a is None else a
    merchants = [{"id": "shopa", "brand_name": "Shop A", "website_url": "https://shopa.example/",
                  "landing_pages": [landing("https://shopa.example/laptops", **a)]},
                 {"id": "shopb", "brand_name": "Shop B", "website_url": "https://shopb.example/",
                  "landing_pages": [landing("https://shopb.example/laptops", **(b or {}))]}]
    products = []
    for shop in ("shopa", "shopb"):
        for k, (title, price, ram) in enumerate((("Vireo Forge 16 (RTX 4070, 32GB)", 2199.99, 32), ("Vireo Air 14 (Iris Xe, 16GB)", 899.99, 16),
                                                 ("Vireo Drafta 16 (RTX 4080, 64GB)", 2899.99, 64))):
            products.append({"id": f"{shop}-{k}", "merchant_id": shop, "category": "laptops", "brand": "Vireo", "title": title,
                             "price": price, "url": f"https://{shop}.example/p/{k}",
                             "attributes": {"ram_gb": ram, "uses": ["3D modeling", "architecture"] if ram >= 32 else ["office"]}})
    return build_catalog(copy.deepcopy({"merchants": merchants, "products": products}), source="two-shops.json")


HOSTILE = ('<script>window.__pwned=1</script>', '<img src=x onerror="window.__pwned=1">', '<a href="javascript:window.__pwned=1">x</a>',
           '"><svg onload=window.__pwned=1>', "${window.__pwned=1}", "{{constructor.constructor('window.__pwned=1')()}}",
           "<style>*{display:none}</style>", "<iframe src=javascript:window.__pwned=1>")
EVIL_SVG = '<svg xmlns="http://www.w3.org/2000/svg" onload="window.__pwned=1"><script>window.__pwned=1</script><rect width="9" height="9"/></svg>'


def hostile_catalog(directory: Path) -> Path:
    """A catalog whose text fields carry script tags, event handlers, javascript: links and template injections (all valid data)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "images").mkdir(exist_ok=True)
    (directory / "images" / "evil.svg").write_text(EVIL_SVG)
    bad = " ".join(HOSTILE)
    merchants = [{"id": "evilshop", "brand_name": "Evil <script>window.__pwned=1</script> Shop", "website_url": "https://evil.example/",
                  "logo": "images/evil.svg", "landing_pages": [landing("https://evil.example/laptops", has_product_filter=False)]},
                 {"id": "goodshop", "brand_name": "Good Shop", "website_url": "https://good.example/",
                  "landing_pages": [landing("https://good.example/laptops")]}]
    products = []
    for shop in ("evilshop", "goodshop"):
        for k in range(4):
            products.append({
                "id": f"{shop}-{k}", "merchant_id": shop, "category": "laptops", "brand": "Vireo", "price": 999.99 + 100 * k,
                "title": f"Vireo Forge {k} {HOSTILE[k % len(HOSTILE)]}"[:200], "description": bad[:2000],
                "url": f'https://{shop.replace("shop", "")}.example/p/{k}"onmouseover="window.__pwned=1',
                "buy_url": f"https://{shop.replace('shop', '')}.example/cart?sku={k}&x=<script>window.__pwned=1</script>",
                "image": "images/evil.svg",
                "attributes": {"ram_gb": 32, "uses": ["3D modeling", HOSTILE[(k + 1) % len(HOSTILE)][:200]], "gpu": HOSTILE[1]}})
    (directory / "catalog.json").write_text(json.dumps({"merchants": merchants, "products": products}))
    return directory
