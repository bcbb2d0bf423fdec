"""The merchants' data resource: the shipped demo catalog, users' own JSON and CSV catalogs, validation with locations."""

import json

import pytest

from assistant.pages.catalog import CatalogError, build_catalog, load_catalog
from assistant.pages.make_catalog import build
from tests.pages_helpers import demo_document


def test_the_shipped_demo_catalog_is_big_varied_and_reproducible():
    catalog = load_catalog()
    assert len(catalog.organizations) >= 12 and len(catalog.products) >= 400
    assert {"laptops", "running-shoes", "coffee-gear", "cameras", "furniture"} <= set(catalog.categories)
    for org in catalog.organizations.values():
        assert org.landing_pages and org.product_feed and catalog.image_uri(org.logo).startswith("data:image/svg+xml;base64,")
        for page in org.landing_pages:
            assert page.has_product_filter is not None
    assert all(catalog.image_uri(p.image).startswith("data:image/svg+xml;base64,") for p in catalog.products)
    document, _ = build(0)
    assert [p["id"] for p in document["products"]] == [p.id for p in catalog.products]  # `make_catalog --seed 0` made it
    assert [p["price"] for p in document["products"]] == [p.price for p in catalog.products]


def test_every_product_link_is_on_its_merchants_domain():
    catalog = load_catalog()
    for product in catalog.products:
        home = catalog.organizations[product.org_id].website_url.split("/")[2]
        assert product.pdp_url.split("/")[2] == home and product.product_page_url.split("/")[2] == home


def test_a_users_json_catalog_loads(tmp_path):
    doc = demo_document()
    doc["merchants"], doc["products"] = doc["merchants"][:1], [p for p in doc["products"] if p["merchant_id"] == doc["merchants"][0]["id"]]
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(doc))
    catalog = load_catalog(path)
    assert list(catalog.organizations) == [doc["merchants"][0]["id"]] and len(catalog.products) == len(doc["products"])
    assert catalog.image_uri(catalog.products[0].image) == ""  # images are looked up beside the catalog file: none here


def test_a_users_csv_catalog_loads(tmp_path):
    (tmp_path / "merchants.csv").write_text(
        "id,brand_name,website_url,landing_page_url,category,conversion_rate,bounce_rate,ctr,design_quality,content_quality,has_product_filter,perf.load_time_s\n"
        "kite,Kite Cycles,https://kite.example/,https://kite.example/bikes,bikes,0.02,0.6,0.03,0.4,0.5,false,3.1\n")
    (tmp_path / "products.csv").write_text(
        "id,merchant_id,category,brand,title,price,url,attr.frame,attr.gears\n"
        "k1,kite,bikes,Kite,Kite Road 1,899.00,https://kite.example/p/k1,aluminium,22\n")
    catalog = load_catalog(tmp_path)
    product = catalog.products[0]
    assert product.attributes == {"frame": "aluminium", "gears": 22} and product.price_label == "$899.00"
    page = catalog.organizations["kite"].landing_pages[0]
    assert page.has_product_filter is False and page.performance_metrics == {"load_time_s": 3.1}


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["products"][0].update(url="javascript:alert(1)"), r"must be an http\(s\) URL"),
    (lambda d: d["products"][0].update(url="https://evil.example/p/1"), "is not on the merchant's website"),
    (lambda d: d["products"][0].update(price="free"), "price must be a number"),
    (lambda d: d["products"][0].update(merchant_id="nobody"), "is not one of the merchants"),
    (lambda d: d["merchants"][0]["landing_pages"][0].update(ctr=7), "ctr must be a number from 0 to 1"),
    (lambda d: d["merchants"][0].update(colour="red;background:url(x)"), "colour must look like"),
    (lambda d: d["products"].append(dict(d["products"][0])), "appears twice"),
])
def test_bad_records_are_refused_with_their_location(change, message):
    doc = demo_document()
    change(doc)
    with pytest.raises(CatalogError, match=message) as raised:
        build_catalog(doc, source="catalog.json")
    assert "catalog.json" in str(raised.value)


def test_json_syntax_errors_name_line_and_column(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"merchants": [\n  {"id": "a",}\n]}')
    with pytest.raises(CatalogError, match=r"broken.json line 2 column"):
        load_catalog(path)


def test_images_outside_the_catalog_directory_are_never_read(tmp_path):
    (tmp_path / "secret.svg").write_text("<svg/>")
    catalog = load_catalog()
    assert catalog.image_uri("../../../../etc/passwd") == ""
    assert catalog.image_uri(str(tmp_path / "secret.svg")) == ""
    assert catalog.image_uri("javascript:alert(1)") == ""
