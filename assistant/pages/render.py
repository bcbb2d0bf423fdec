"""HTML for result pages and AI pages: every catalog and model text escaped, then the whole fragment sanitized by nh3.

Nothing from data can run: text is HTML-escaped where it is inserted; the fragment then passes an nh3 allowlist (no
script, no style element, no event handler, no `javascript:` or relative URL); links must be http(s) and images
`data:image/...;base64` URIs of the catalog's own files (no remote image is ever fetched). The standalone page adds a
Content-Security-Policy that allows no script and no network at all, and filters that work without JavaScript (CSS
checkboxes); in the app, filters are applied in Python and the page is rendered again.
"""

from __future__ import annotations

import html
import re
from typing import Iterable, Sequence

import nh3

from assistant.pages.catalog import Catalog
from assistant.pages.models import AIPage, Offer, SearchResultPage, on_domain
from assistant.pages.offers import apply_filters, filter_matches
from assistant.pages.templates import category_label

TAGS = {"div", "section", "header", "footer", "nav", "article", "h1", "h2", "h3", "h4", "p", "ul", "li", "a", "img", "span", "strong",
        "em", "small", "input", "label", "button", "br"}
ATTRIBUTES = {"*": {"class", "data-component", "data-basis"}, "a": {"href", "target", "title"}, "img": {"src", "alt", "width", "height"},
              "input": {"type", "id", "checked"}, "label": {"for"}, "button": {"type", "data-org", "data-query", "title"},
              "section": {"id"}, "div": {"id"}}
IMAGE_URI = re.compile(r"^data:image/(?:svg\+xml|png|jpeg|webp);base64,[A-Za-z0-9+/]+=*$")
SAFE_ID = re.compile(r"^[a-z][a-z0-9-]{0,60}$")
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; form-action 'none'; base-uri 'none'"


def _attribute(tag: str, name: str, value: str) -> str | None:
    """Per-attribute rules nh3's allowlist cannot express."""
    if name == "href":
        return value if re.match(r"^https?://", value, re.I) else None
    if name == "src":
        return value if tag == "img" and IMAGE_URI.match(value) else None
    if name == "type":
        return value if value in ("checkbox", "button") else None
    if name in ("id", "for"):
        return value if SAFE_ID.match(value) else None
    if name == "target":
        return "_blank"
    return value


_CLEANER = nh3.Cleaner(tags=TAGS, clean_content_tags={"script", "style", "template", "textarea", "noscript", "iframe", "object"},
                       attributes=ATTRIBUTES, attribute_filter=_attribute, url_schemes={"http", "https", "data"},
                       link_rel="noopener noreferrer nofollow", url_relative="deny", strip_comments=True)


def sanitize(fragment: str) -> str:
    """The HTML fragment through the nh3 allowlist."""
    return _CLEANER.clean(fragment)


def esc(text: object) -> str:
    """Text for HTML content or a quoted attribute value."""
    return html.escape(str(text), quote=True)


def _link(url: str, text: str, *, css: str = "", website: str = "") -> str:
    """An outbound link, or plain text when the URL is not http(s) (or not on the merchant's website, when given)."""
    if not re.match(r"^https?://", url or "", re.I) or (website and not on_domain(url, website)):
        return f'<span class="{css}">{esc(text)}</span>'
    return f'<a class="{css}" href="{esc(url)}" target="_blank">{esc(text)}</a>'


PAGE_CSS = """
.pg{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#1d2330;line-height:1.35;max-width:980px;margin:0 auto}
.pg h1{font-size:1.35rem;margin:.3rem 0}.pg h2{font-size:1.05rem;margin:1rem 0 .4rem}.pg h3{font-size:.98rem;margin:.6rem 0 .3rem}
.pg-top{display:flex;gap:.6rem;align-items:center;flex-wrap:wrap}.pg-logo{width:36px;height:36px}
.pg-badge{background:#fff3c4;color:#6b4e00;border:1px solid #e6c45c;border-radius:4px;padding:1px 6px;font-size:.75rem;font-weight:600}
.pg-brand{font-weight:600}.pg-note{color:#5b6475;font-size:.75rem;display:block}.pg-prev{background:#f2f5fb;border-radius:6px;padding:.4rem .6rem}
.pg-grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:.6rem}
.pg-offer{border:1px solid #dde3ee;border-radius:8px;padding:.5rem;background:#fff}.pg-offer img{width:100%;height:auto;border-radius:6px}
.pg-price{font-weight:700}.pg-ann{font-size:.8rem;color:#30394a}.pg-basis{font-size:.7rem;background:#e8eefb;border-radius:4px;padding:0 5px;margin-left:.3rem}
.pg-cta{display:inline-block;background:#1f5f8b;color:#fff !important;border-radius:6px;padding:.35rem .7rem;margin:.2rem .3rem .2rem 0;text-decoration:none}
.pg-filters label{display:inline-block;border:1px solid #b8c3d6;border-radius:14px;padding:1px 9px;margin:2px;font-size:.8rem;cursor:pointer}
.pg-toggle{position:absolute;opacity:0;width:1px;height:1px}.pg-toggle:checked+label{background:#1f5f8b;color:#fff;border-color:#1f5f8b}
.pg-chat p{margin:.2rem 0}.pg-ingress{font-weight:600}.pg-banner{width:100%;height:auto}
.srp-result{border-bottom:1px solid #e3e7ef;padding:.45rem 0}.srp-title{font-weight:600}.srp-score{font-size:.75rem;color:#5b6475}
.srp-sponsored{background:#fffaf0}.srp-ai-link{background:#1f5f8b;color:#fff;border:0;border-radius:5px;padding:3px 9px;cursor:pointer;margin-top:3px}
"""


def _offer_card(offer: Offer, page: AIPage, catalog: Catalog, *, filter_ids: Sequence[str] = ()) -> str:
    product = catalog.product(offer.product_id)
    image = catalog.image_uri(product.image) if product else ""
    rating = f" · ★ {product.rating:g}" if product and product.rating else ""
    notes = page.offer_annotations.get(offer.product_id) or []
    seller = ""
    if product and product.org_id != page.org_id:
        org = catalog.organization(product.org_id)
        seller = f'<span class="pg-note">sold by {esc(org.brand_name if org else product.org_id)}</span>'
    classes = " ".join(["pg-offer", *(f"m-{i}" for i in filter_ids)])
    picture = f'<img src="{esc(image)}" alt="{esc(offer.title)}" width="160" height="110">' if image else ""
    return (f'<article class="{classes}" data-component="offer:{esc(offer.product_id)}">{picture}'
            f'<div>{_link(offer.pdp_url, offer.title, css="pg-title")}</div>'
            f'<div><span class="pg-price">{esc(offer.price_label)}</span>{esc(rating)}</div>{seller}'
            + "".join(f'<p class="pg-ann">{esc(n)}</p>' for n in notes) + "</article>")


def _grid(offers: Iterable[Offer], page: AIPage, catalog: Catalog, *, standalone: bool = False) -> str:
    cards = []
    for offer in offers:
        product = catalog.product(offer.product_id)
        matching = [f"f-{f.id}" for f in page.suggested_filters if product is not None and filter_matches(product, f)] if standalone else []
        cards.append(_offer_card(offer, page, catalog, filter_ids=matching))
    return '<div class="pg-grid">' + "".join(cards) + "</div>"


def page_offers(page: AIPage, catalog: Catalog, active: Iterable[str] | None = None) -> list[Offer]:
    """The page's offers that pass the active filters (default: the pre-applied ones)."""
    products = [p for p in (catalog.product(o.product_id) for o in page.offers) if p is not None]
    keep = {p.id for p in apply_filters(products, page.suggested_filters, active)}
    return [o for o in page.offers if o.product_id in keep]


def render_page(page: AIPage, catalog: Catalog, *, active: Iterable[str] | None = None, standalone: bool = False,
                draft: bool = False) -> str:
    """The AI page as a sanitized HTML fragment (standalone: filters as CSS checkboxes over every offer)."""
    if not page.approved and not draft:
        return sanitize('<div class="pg"><p class="pg-prev">This page is waiting for approval '
                        f'before it is shown.</p><small class="pg-note">{esc(page.component_annotations.get("headline", ""))}</small></div>')
    org = catalog.organization(page.org_id)
    website = org.website_url if org else ""
    notes = page.component_annotations
    active_ids = set(active) if active is not None else {f.id for f in page.suggested_filters if f.applied}
    note = lambda key: f'<small class="pg-note">{esc(notes.get(key, ""))}</small>'  # noqa: E731
    logo = page.attribution.get("logo", "")
    parts = ['<div class="pg">']
    if draft and not page.approved:
        parts.append('<p class="pg-prev"><strong>Draft</strong>: not shown to anyone until it is approved.</p>')
    parts.append('<header class="pg-top" data-component="attribution">')
    if page.sponsored_badge:
        parts.append('<span class="pg-badge" data-component="badge">Sponsored</span>')
    if logo:
        parts.append(f'<img class="pg-logo" src="{esc(logo)}" alt="{esc(page.attribution.get("brand", ""))} logo" width="36" height="36">')
    parts.append(f'<span class="pg-brand">{esc(page.attribution.get("brand", ""))}</span>{note("attribution")}</header>')
    for asset in page.generated_assets.get("image", []):
        parts.append(f'<img class="pg-banner" src="{esc(asset.get("data_uri", ""))}" alt="{esc(asset.get("alt", ""))}">')
    parts.append(f'<section data-component="headline"><h1>{esc(page.personalized_headline)}</h1>{note("headline")}</section>')
    parts.append(f'<section class="pg-prev" data-component="previous_query"><p>{esc(page.previous_query_info)}</p>'
                 f'{note("previous_query")}</section>')
    for cluster in page.clusters:
        basis = "from your earlier searches" if cluster.basis == "history" else "for this search"
        parts.append(f'<section data-component="cluster:{esc(cluster.id)}" data-basis="{esc(cluster.basis)}"><h2>{esc(cluster.label)}'
                     f'<span class="pg-basis">{esc(basis)}</span></h2>'
                     + "".join(f'<small class="pg-note">{esc(a)}</small>' for a in cluster.annotations)
                     + _grid(cluster.offers, page, catalog) + "</section>")
    parts.append('<section data-component="cta"><h2>Go to the product</h2>'
                 + "".join(_link(c.product_page_url, c.label, css="pg-cta", website=website) for c in page.cta_buttons) + note("cta") + "</section>")
    offers = page.offers if standalone else page_offers(page, catalog, active_ids)
    parts.append('<section class="pg-filters" data-component="filters"><h2>Suggested filters</h2>')
    if standalone:
        for f in page.suggested_filters:
            checked = " checked" if f.id in active_ids else ""
            parts.append(f'<input class="pg-toggle" type="checkbox" id="f-{esc(f.id)}"{checked}><label for="f-{esc(f.id)}">{esc(f.label)}</label>')
    else:
        parts.append("<p>" + (", ".join(f"{esc(f.label)} ({'on' if f.id in active_ids else 'off'})" for f in page.suggested_filters)
                              or "No filters for this search.") + "</p>")
    parts.append(note("filters"))
    heading = f"{len(offers)} of {len(page.offers)} offers" if not standalone else "Offers"
    parts.append(f'<div class="pg-offers" data-component="offers"><h2>{esc(heading)}</h2>{note("offers")}'
                 f'{_grid(offers, page, catalog, standalone=standalone)}</div></section>')
    parts.append('<section data-component="sitelinks"><h2>Product details</h2><ul>'
                 + "".join(f"<li>{_link(s.pdp_url, s.label, website=website)}</li>" for s in page.sitelinks) + "</ul>" + note("sitelinks") + "</section>")
    parts.append(f'<section data-component="feed"><h2>{esc(page.attribution.get("brand", ""))} range</h2>{note("feed")}'
                 f'{_grid(page.product_feed, page, catalog)}</section>')
    parts.append(f'<section data-component="broader"><h2>Beyond your {esc(category_label(page.category))}</h2>{note("broader")}'
                 f'{_grid(page.broader_offers, page, catalog)}</section>')
    if page.chatbot.enabled and standalone:
        parts.append('<section class="pg-chat" data-component="chatbot"><h2>Ask about these offers</h2>'
                     + "".join((f"<p><strong>You:</strong> {esc(q)}</p>" if q else "") + f"<p>{esc(a)}</p>" for q, a in page.chatbot.turns)
                     + '<p class="pg-note">The chatbot answers in the app (python app.py); this file is a snapshot.</p>' + note("chatbot") + "</section>")
    parts.append(f'<footer data-component="ingress"><p>{_link(page.website_ingress_url, "Visit " + page.attribution.get("brand", "") + " ›", css="pg-ingress", website=website)}</p>'
                 f'{note("ingress")}</footer></div>')
    return sanitize("".join(parts))


def filter_css(page: AIPage) -> str:
    """CSS that hides the offers an active (checked) filter excludes, for the standalone page."""
    return "".join(f"#f-{f.id}:checked~.pg-offers .pg-offer:not(.m-f-{f.id}){{display:none}}"
                   for f in page.suggested_filters if SAFE_ID.match(f"f-{f.id}"))


def standalone_document(page: AIPage, catalog: Catalog, *, draft: bool = False) -> str:
    """A whole HTML file for the page: sanitized body, our own CSS, and a CSP that allows no script and no network."""
    body = render_page(page, catalog, standalone=True, draft=draft)
    title = f"{page.attribution.get('brand', '')} – {page.personalized_headline}"
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)}</title><style>{PAGE_CSS}{filter_css(page)}</style></head>\n<body>{body}</body></html>\n")


def render_srp(srp: SearchResultPage, catalog: Catalog) -> str:
    """The result page as a sanitized fragment: merchants, landing-page scores against the threshold, AI-page buttons."""
    if not srp.results:
        return sanitize(f'<div class="srp"><p>No products match {esc(srp.query)!s}.</p></div>')
    threshold = "" if srp.threshold is None else f"{srp.threshold:.2f}"
    parts = [f'<div class="srp"><p class="srp-score">{srp.matches} matching products for “{esc(srp.query)}”; '
             f'AI pages for landing pages scoring above {esc(threshold)}</p>']
    if srp.personalized_headline:
        parts.append(f"<h3>{esc(srp.personalized_headline)}</h3>")
        parts.append('<p class="srp-score">' + esc(", ".join(srp.suggested_filters)) + "</p>")
    for result in srp.results:
        org = catalog.organization(result.org_id)
        score = "" if result.landing_page_score is None else f"{result.landing_page_score:.2f}"
        sponsored = ' srp-sponsored' if result.is_sponsored else ""
        parts.append(f'<div class="srp-result{sponsored}">')
        if result.is_sponsored:
            parts.append('<span class="pg-badge">Sponsored</span> ')
        parts.append(f'<span class="srp-title">{_link(result.landing_page_url, result.title, website=org.website_url if org else "")}</span>'
                     f'<p>{esc(result.snippet)}</p><span class="srp-score">landing-page score {esc(score)} / threshold {esc(threshold)}</span>')
        if result.sitelinks:
            parts.append("<ul>" + "".join(f"<li>{_link(s.pdp_url, s.label)}</li>" for s in result.sitelinks) + "</ul>")
        if result.ai_page_link:
            parts.append(f'<button class="srp-ai-link" type="button" data-org="{esc(result.org_id)}" data-query="{esc(srp.query)}" '
                         f'title="{esc(result.ai_page_link)}">AI page: {esc(org.brand_name if org else result.org_id)}</button>')
        parts.append("</div>")
    parts.append("</div>")
    return sanitize("".join(parts))
