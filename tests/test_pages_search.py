"""Product search: attribute filters parsed from the query, combined with embedding similarity."""

import pytest

from assistant.pages.catalog import load_catalog
from assistant.pages.search import ProductIndex, parse_query
from tests.fakes import HashEmbedder


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.mark.parametrize(("query", "expected"), [
    ("laptop for 3D modeling under $2000", {"category": "laptops", "max_price": 2000.0, "uses": ("3D modeling",)}),
    ("best laptop for architecture", {"category": "laptops", "uses": ("architecture",)}),
    ("laptops between $1,000 and $1,500 with 32GB RAM", {"min_price": 1000.0, "max_price": 1500.0, "min_ram_gb": 32}),
    ("trail running shoes under 150", {"category": "running-shoes", "max_price": 150.0}),
    ("espresso machine over $500", {"category": "coffee-gear", "min_price": 500.0}),
    ("Vireo", {"category": "laptops", "category_inferred": True, "brands": ("Vireo",)}),
    ("a 16 inch laptop", {"category": "laptops", "max_price": None}),
])
def test_query_filters(catalog, query, expected):
    parsed = parse_query(query, catalog)
    for key, value in expected.items():
        assert getattr(parsed, key) == value, key


def test_search_keeps_only_products_passing_the_hard_filters(catalog, tmp_path):
    index = ProductIndex(catalog, HashEmbedder(), cache_dir=tmp_path)
    outcome = index.search("laptop with 32GB RAM under $2000")
    assert outcome.ranked and all(p.category == "laptops" and p.price <= 2000 and p.attributes["ram_gb"] >= 32 for p, _ in outcome.ranked)
    scores = [s for _, s in outcome.ranked]
    assert scores == sorted(scores, reverse=True)


def test_stated_uses_rank_tagged_products_first(catalog, tmp_path):
    outcome = ProductIndex(catalog, HashEmbedder(), cache_dir=tmp_path).search("laptops for 3D modeling")
    top = [p for p, _ in outcome.ranked[:5]]
    assert all("3D modeling" in p.attributes.get("uses", []) for p in top)


def test_vectors_are_cached_on_disk_by_catalog_digest(catalog, tmp_path):
    embedder = HashEmbedder()
    first = ProductIndex(catalog, embedder, cache_dir=tmp_path)
    first.vectors()
    assert first.cache_path.is_file() and catalog.digest in first.cache_path.name

    calls = []
    again = HashEmbedder()
    embed = again.embed_batch
    again.embed_batch = lambda texts: calls.append(len(texts)) or embed(texts)  # same kind of embedder, same cache file
    ProductIndex(catalog, again, cache_dir=tmp_path).search("laptops")
    assert calls == [1]  # only the query was embedded; the catalog came from the cache
