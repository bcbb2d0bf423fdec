"""Validation of generated text against the merchant's catalog."""

import pytest

from assistant.pages.catalog import load_catalog
from assistant.pages.validation import TextValidator


@pytest.fixture(scope="module")
def setup():
    catalog = load_catalog()
    org = catalog.organizations["northpeak"]
    product = next(p for p in org.product_feed if p.title.startswith("Vireo Forge"))
    return TextValidator(catalog), org, product


@pytest.mark.parametrize(("text", "reason"), [
    ("", "empty"),
    ("x" * 200, "too long"),
    ("Great <b>laptops</b> here", "markup"),
    ("See https://northpeak.example/ now", "markup or a link"),
    ("Headline: laptops for you", "echoes the prompt"),
    ("Click the link for laptops", "boilerplate"),
    ("laptops laptops laptops everywhere", "repetitive"),
    ("Better laptops than Pixelforge", "names Pixelforge"),
    ("Trail shoes by Fellrunner for you", "names Fellrunner"),
    ("The laptop is only $99.99 today", "price"),
    ("Laptops with 128 GB of memory", "number"),
    ("The Vireo Zephyr 9 for 3D work", "names a product"),
    ("Nice things for everyone", "does not mention"),
])
def test_bad_texts_are_refused_with_a_reason(setup, text, reason):
    validator, org, product = setup
    verdict = validator.check(text, org=org, limit=90, products=[product], sources=["laptops for 3D modeling"],
                              required_terms={"laptops", "laptop", "3d", "modeling"})
    assert not verdict.ok and reason in verdict.reason


def test_good_texts_pass_with_exact_names_and_prices(setup):
    validator, org, product = setup
    for text in (f"The {product.title.split(' (')[0]} for 3D modeling", f"Laptops for 3D modeling from {product.price_label}",
                 "NorthPeak Computers laptops picked for 3D modeling", "Vireo laptops for 3D modeling"):
        verdict = validator.check(text, org=org, limit=110, products=[product], sources=["laptops for 3D modeling"],
                                  required_terms={"laptops", "3d", "modeling"})
        assert verdict.ok, (text, verdict.reason)


def test_a_merchant_may_name_brands_it_sells_but_not_others(setup):
    validator, _, _ = setup
    catalog = load_catalog()
    beanburr = catalog.organizations["beanburr"]  # sells the Crema & Co brand, which is also another merchant's name
    assert "Crema & Co" not in validator.foreign_names(beanburr)
    assert "Crema & Co" in validator.foreign_names(catalog.organizations["northpeak"])
