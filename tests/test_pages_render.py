"""Rendering: every catalog and model text escaped and sanitized; nothing from data can run; filters work without script."""

import re
from dataclasses import replace
from html.parser import HTMLParser

import pytest

from assistant.pages.catalog import CatalogError, build_catalog, load_catalog
from assistant.pages.models import CtaButton, Sitelink
from assistant.pages.render import CSP, render_page, render_srp, sanitize, standalone_document
from assistant.pages.settings import PageSettings
from tests.fakes import ScriptedBackend
from tests.pages_helpers import HOSTILE, demo_document, hostile_catalog, make_pages, shopped


class Elements(HTMLParser):
    """Every start tag with its attributes, as a browser's parser sees them."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def assert_inert(markup: str) -> None:
    """No script, no event handler, no javascript: URL, no remote resource, no element the allowlist does not know."""
    tags = Elements(markup).tags
    allowed = {"div", "section", "header", "footer", "nav", "article", "h1", "h2", "h3", "h4", "p", "ul", "li", "a", "img", "span",
               "strong", "em", "small", "input", "label", "button", "br", "html", "head", "meta", "title", "style", "body"}
    for tag, attrs in tags:
        assert tag in allowed, tag
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        for name in ("href", "src", "action", "formaction"):
            value = (attrs.get(name) or "").strip().lower()
            assert not value.startswith(("javascript:", "vbscript:", "data:text")), (tag, attrs)
        if tag == "img" and "src" in attrs:
            assert attrs["src"].startswith("data:image/"), attrs
        if tag == "a" and "href" in attrs:
            assert re.match(r"^https?://", attrs["href"]), attrs
    assert [t for t, _ in tags].count("style") <= 1 and "<script" not in markup.lower()


@pytest.fixture
def hostile(tmp_path):
    pages = make_pages(tmp_path, backend=ScriptedBackend(["<img src=x onerror=alert(1)> laptops for 3D modeling"] * 3),
                       settings=PageSettings(catalog=str(hostile_catalog(tmp_path / "hostile"))))
    shopped(pages, "ann", ('<script>window.__pwned=1</script> laptops for 3D modeling',))
    return pages


def test_hostile_catalog_entries_are_neutralised_on_the_result_page(hostile):
    srp = hostile.handle_query("ann", "laptops <img src=x onerror=alert(1)>")
    markup = render_srp(srp, hostile.catalog)
    assert_inert(markup)
    assert "&lt;script&gt;" in markup  # shown as text, not dropped silently


def test_hostile_catalog_entries_are_neutralised_on_the_ai_page(hostile):
    page = hostile.view("ann", "evilshop", "laptops")
    for markup in (render_page(page, hostile.catalog), render_page(page, hostile.catalog, standalone=True),
                   standalone_document(page, hostile.catalog)):
        assert_inert(markup)
        for attack in HOSTILE:
            assert attack not in markup  # every attack string is there only as escaped text
    document = standalone_document(page, hostile.catalog)
    assert f'content="{CSP}"' in document and "script-src" not in CSP and "default-src 'none'" in CSP
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in document  # the brand name, escaped


def test_links_that_are_not_http_are_dropped_even_if_they_bypass_the_catalog(tmp_path):
    pages = make_pages(tmp_path)
    page = pages.view("ann", "northpeak", "laptops")
    page = replace(page, website_ingress_url="javascript:alert(1)", cta_buttons=[CtaButton("Buy", "javascript:alert(1)")],
                   sitelinks=[Sitelink("x", "data:text/html,<script>alert(1)</script>"), Sitelink("y", "https://evil.example/")],
                   attribution={"brand": "NorthPeak", "logo": "https://tracker.example/pixel.png"})
    markup = render_page(page, pages.catalog)
    assert_inert(markup)
    assert "javascript:" not in markup and "tracker.example" not in markup and 'href="https://evil.example/' not in markup


def test_the_sanitizer_strips_what_escaping_would_have_missed():
    dirty = ('<p onclick="x()">a</p><script>alert(1)</script><a href="javascript:alert(1)">b</a><img src="https://x.example/a.png">'
             '<img src="data:image/svg+xml;base64,PHN2Zz4=" onerror="x()"><iframe src="https://x.example"></iframe><style>p{}</style>')
    clean = sanitize(dirty)
    assert_inert(clean)
    assert "<p" in clean and 'src="data:image/svg+xml;base64,PHN2Zz4="' in clean and "alert" not in clean


def test_javascript_links_in_a_catalog_are_refused_at_load_time():
    doc = demo_document()
    doc["merchants"][0]["website_url"] = "javascript:alert(1)//"
    with pytest.raises(CatalogError, match=r"website_url must be an http\(s\) URL"):
        build_catalog(doc, source="catalog.json")


def test_the_standalone_page_filters_offers_with_css_only(tmp_path):
    pages = make_pages(tmp_path)
    shopped(pages, "ann")
    page = pages.view("ann", "northpeak", "laptops under $2500")
    document = standalone_document(page, pages.catalog)
    applied = [f for f in page.suggested_filters if f.applied]
    for f in applied:
        assert f'id="f-{f.id}" checked' in document
        assert f"#f-{f.id}:checked~.pg-offers .pg-offer:not(.m-f-{f.id}){{display:none}}" in document
    cards = re.findall(r'<article class="([^"]*)" data-component="offer:([^"]+)"', document.split('data-component="offers"')[1].split("</section>")[0])
    assert len(cards) == len(page.offers)
    for classes, product_id in cards:
        product = pages.catalog.product(product_id)
        matches_all = all(f"m-f-{f.id}" in classes.split() for f in applied)
        assert matches_all == (product.price <= 2500 and "3D modeling" in product.attributes["uses"])


def test_the_panel_page_shows_only_the_offers_of_the_active_filters(tmp_path):
    pages = make_pages(tmp_path)
    shopped(pages, "ann")
    page = pages.view("ann", "northpeak", "laptops under $2500")
    offers_html = lambda markup: markup.split('data-component="offers"')[1].split("</section>")[0]  # noqa: E731
    narrowed = len(re.findall(r"<article", offers_html(render_page(page, pages.catalog))))
    everything = len(re.findall(r"<article", offers_html(render_page(page, pages.catalog, active=[]))))
    assert 0 < narrowed < everything == len(page.offers)


def test_pages_of_the_demo_catalog_render_every_component(tmp_path):
    pages = make_pages(tmp_path)
    shopped(pages, "ann")
    page = pages.view("ann", "northpeak", "laptops")
    markup = render_page(page, pages.catalog, standalone=True)
    assert_inert(markup)
    for component in ("attribution", "badge", "headline", "previous_query", "filters", "offers", "cta", "sitelinks", "feed", "broader",
                      "chatbot", "ingress", *(f"cluster:{c.id}" for c in page.clusters)):
        assert f'data-component="{component}"' in markup, component
    assert 'data-basis="history"' in markup and 'data-basis="head_query"' in markup
    assert load_catalog().organizations["northpeak"].website_url in markup
