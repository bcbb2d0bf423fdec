"""The `<shop>` tool: search the merchants' catalog and read back a compact summary of the result page.

The structured result page (merchants, offers, landing-page scores, AI-page links) stays with `ProductPages`, kept per
user and session, where the side panel and the CLI read it.
"""

from __future__ import annotations

from functools import cached_property

from assistant.pages.models import PageError, SearchResultPage
from assistant.pages.product_pages import ProductPages
from assistant.pages.templates import category_label
from tools.registry import Tool, ToolContext, ToolInputError, tool

MAX_SUMMARY_CHARS = 560  # the agent reads at most 600 characters of a result


def summarize(srp: SearchResultPage, *, limit: int = MAX_SUMMARY_CHARS) -> str:
    """The result page in a few lines for the model: the best offer first, then each shop's best offer and price."""
    if not srp.results:
        return f"No products match {srp.query!r} in the shops' catalog."
    what = category_label(srp.category) if srp.category else "products"
    best = max((o for r in srp.results for o in r.offers), key=lambda o: o.score, default=None)
    shops = {r.org_id: r for r in srp.results if not r.is_sponsored}
    names = {r.org_id: r.title.split(" – ")[0] for r in srp.results}
    lines = [f"{srp.matches} {what} in {len(shops)} shops."]
    if best is not None:
        seller = next(r.org_id for r in srp.results if best in r.offers)
        lines.append(f"Best match: {best.title} at {names[seller]}, {best.price_label}.")
    linked = [names[r.org_id] for r in srp.results if r.ai_page_link]
    if linked:
        lines.append("Personal pages in the side panel: " + ", ".join(dict.fromkeys(linked)) + ".")
    for result in shops.values():
        offer = result.offers[0] if result.offers else None
        if offer is not None:
            lines.append(f"{names[result.org_id]}: {offer.title}, {offer.price_label}.")
    text = ""
    for line in lines:
        if len(text) + len(line) + 1 > limit:
            break
        text = f"{text} {line}".strip()
    return text


class Shop:
    """The shopping tool over one `ProductPages`."""

    def __init__(self, pages: ProductPages) -> None:
        self.pages = pages

    @cached_property
    def tool(self) -> Tool:
        """The `<shop>` tool."""
        pages = self.pages

        def shop(query: str, ctx: ToolContext) -> str:
            """Find products to buy in the shops' catalog: offers, prices and shops.

            Args:
                query: what to buy, with any budget, brand or use
            Example:
                laptop for 3D modeling under $2000
            """
            try:
                srp = pages.handle_query(ctx.user_id, query, session_id=ctx.session_id)
            except PageError as exc:
                raise ToolInputError(str(exc)) from None
            return summarize(srp)

        return tool(shop)
