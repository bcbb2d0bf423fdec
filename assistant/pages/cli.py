"""`python -m assistant shop "QUERY" --user NAME` and `python -m assistant page MERCHANT_ID --user NAME --query "QUERY" --html FILE`."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from assistant.config import add_arguments, from_arguments
from assistant.errors import AssistantError
from assistant.pages.settings import PageSettings

BACKEND_FLAGS = ("data_dir", "backend", "model", "base_url", "api_key", "openai_api", "threads", "adapter")


def _page_settings_flags(parser: argparse.ArgumentParser) -> None:
    defaults = PageSettings()
    parser.add_argument("--catalog", help="a catalog .json, a products .csv (merchants.csv beside it) or a directory "
                                          "(default: ASSISTANT_PAGES_CATALOG, else the shipped demo catalog)")
    parser.add_argument("--pages-config", metavar="FILE", help="a YAML file of product-page settings (default: ASSISTANT_PAGES_FILE)")
    parser.add_argument("--threshold", type=float, help=f"landing-page score a merchant must exceed for an AI page (default {defaults.threshold})")
    parser.add_argument("--comparison", choices=["strict", "inclusive"], help="strict: score > threshold (default); inclusive: >=")
    parser.add_argument("--link-in-sponsored", action="store_true", default=None,
                        help="put the AI-page link in an added sponsored result instead of on the merchant's result")
    parser.add_argument("--srp-personalization", action="store_true", default=None,
                        help="add a personalized headline, suggested filters and clusters to the result page")


def add_pages_parsers(commands: Any) -> None:
    """Add the `shop` and `page` commands to the project's subparsers."""
    shop = commands.add_parser("shop", help="search the shops' catalog and print the result page with landing-page scores",
                               description="Build the result page of a shopping query: merchants, their landing-page scores against "
                                           "the threshold, and which results carry a link to an AI page. The query is logged to the "
                                           "user's activity, so later pages can use it as a previous query.")
    shop.add_argument("query", help="what to shop for, e.g. 'laptop for 3D modeling under $2000'")
    shop.add_argument("--user", required=True, help="who is shopping (their history is read and written)")
    shop.add_argument("--json", action="store_true", help="print the result page as JSON")
    shop.add_argument("--no-record", dest="record", action="store_false", help="do not log the query to the user's activity")
    _page_settings_flags(shop)
    add_arguments(shop, only=("data_dir",))

    page = commands.add_parser("page", help="generate a merchant's AI page for a user and query, and write it as HTML",
                               description="Generate (lazily, as on a click in the app) the personalized page of one merchant for "
                                           "one user and query, from the query and the user's own earlier queries and profile, and "
                                           "write it as a standalone sanitized HTML file.")
    page.add_argument("merchant", metavar="MERCHANT_ID", help="the merchant's id in the catalog, e.g. northpeak")
    page.add_argument("--user", required=True, help="whose page (the user must have a profile or earlier queries)")
    page.add_argument("--query", required=True, help="the current search, e.g. 'laptops'")
    page.add_argument("--html", type=Path, metavar="FILE", help="write the standalone page here")
    page.add_argument("--json", action="store_true", help="print the page as JSON")
    page.add_argument("--ignore-gate", action="store_true", help="make the page even when the landing page does not exceed the threshold")
    page.add_argument("--approve", action="store_true", help="with approval_required: approve the page as the configured approver(s)")
    page.add_argument("--text-generator", choices=["model", "template"],
                      help="model: the model writes the text slots (validated, template fallback; default); template: templates only")
    page.add_argument("--no-previous-query", choices=["query_only", "error"],
                      help="a user without earlier queries: generate from the query alone (default) or fail")
    page.add_argument("--approval-required", action="store_true", default=None, help="emit the page only after approval")
    _page_settings_flags(page)
    add_arguments(page, only=BACKEND_FLAGS)


def page_settings(args: argparse.Namespace) -> PageSettings:
    """Settings from the YAML file and variables, then the flags given."""
    settings = PageSettings.load(args.pages_config)
    changes = {name: getattr(args, name) for name in ("catalog", "threshold", "comparison", "link_in_sponsored", "srp_personalization",
                                                      "text_generator", "no_previous_query", "approval_required")
               if getattr(args, name, None) is not None}
    return settings.with_(**changes) if changes else settings


def pages_main(args: argparse.Namespace, *, embedder: Any = None, backend: Any = None, clock: Callable[[], datetime] | None = None) -> int:
    """Run `shop` or `page`; bad input prints one line and exits with 2 (the keywords are for tests)."""
    try:
        return _shop(args, embedder, clock) if args.command == "shop" else _page(args, embedder, backend, clock)
    except (AssistantError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _pages(args: argparse.Namespace, embedder: Any, backend: Any, clock: Callable[[], datetime] | None):
    from assistant.chat import check_user_id
    from assistant.pages.product_pages import ProductPages
    from memory.activity import ActivityLog
    from memory.profile import Profiles
    from tools.registry import utc_now

    config = from_arguments(args)
    user = check_user_id(args.user)
    settings = page_settings(args)
    if embedder is None:
        from memory.embeddings import SentenceEmbedder

        embedder = SentenceEmbedder()
    pages = ProductPages(data_dir=config.data_dir, embedder=embedder, profiles=Profiles(config.data_dir / "profiles.sqlite3"),
                         activity=ActivityLog(config.data_dir / "activity.sqlite3"), backend=backend, settings=settings,
                         clock=clock or utc_now)
    return pages, user, config


def _shop(args: argparse.Namespace, embedder: Any, clock) -> int:
    from assistant.pages.product_pages import check_query

    check_query(args.query)  # before any model loads
    pages, user, _ = _pages(args, embedder, None, clock)
    srp = pages.handle_query(user, args.query, record=args.record)
    rows = [{"org_id": r.org_id, "merchant": pages.catalog.organizations[r.org_id].brand_name, "title": r.title,
             "landing_page_url": r.landing_page_url, "landing_page_score": r.landing_page_score,
             "above_threshold": any(x.ai_page_link for x in srp.results if x.org_id == r.org_id), "is_sponsored": r.is_sponsored,
             "ai_page_link": r.ai_page_link, "snippet": r.snippet, "sitelinks": [asdict(s) for s in r.sitelinks],
             "offers": [{"product_id": o.product_id, "title": o.title, "price": o.price_label, "url": o.pdp_url} for o in r.offers]}
            for r in srp.results]
    if args.json:
        out = {"query": srp.query, "user": user, "category": srp.category, "matches": srp.matches, "threshold": srp.threshold,
               "comparison": pages.settings.comparison, "results": rows, "linked": [r.org_id for r in srp.results if r.ai_page_link],
               "personalized_headline": srp.personalized_headline, "suggested_filters": list(srp.suggested_filters),
               "suggested_clusters": list(srp.suggested_clusters)}
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    sign = ">=" if pages.settings.comparison == "inclusive" else ">"
    print(f"{srp.query!r}: {srp.matches} matching products; AI page when the landing-page score {sign} {srp.threshold:g}")
    if not srp.results:
        print("no merchant has a match")
    for k, r in enumerate(srp.results, 1):
        link = f"AI page: {r.ai_page_link}" if r.ai_page_link else "no AI page"
        badge = " [sponsored]" if r.is_sponsored else ""
        print(f"{k:>2}. {r.title}{badge}  score {r.landing_page_score:.3f}  {link}")
    return 0


def _known(pages, user: str) -> bool:
    from memory.profile import Profile

    return bool(pages.activity.queries(user, limit=1)) or pages.profiles.get(user) != Profile(user)


def _page(args: argparse.Namespace, embedder: Any, backend: Any, clock) -> int:
    from assistant.pages.models import PageError
    from assistant.pages.product_pages import check_query
    from assistant.pages.render import standalone_document

    check_query(args.query)
    pages, user, config = _pages(args, embedder, backend, clock)
    if pages.catalog.organization(args.merchant) is None:
        raise PageError(f"there is no merchant {args.merchant!r} in the catalog (merchants: {', '.join(sorted(pages.catalog.organizations))})")
    if not _known(pages, user):
        raise PageError(f"unknown user {user!r}: they have no profile and no earlier queries (shop first: python -m assistant shop ... --user {user})")
    if pages.backend is None and pages.settings.text_generator == "model":
        from assistant.backends import make_backend

        pages.backend = make_backend(config)  # loaded only now: bad input fails before the model loads
    page = pages.view(user, args.merchant, args.query, ignore_gate=args.ignore_gate)
    if args.approve and not page.approved:
        actors = ["user", "organization"] if pages.settings.approver == "both" else [pages.settings.approver]
        for actor in actors:
            page = pages.feedback(user, page.page_id, "page", "approve", actor=actor)
    if args.html:
        args.html.parent.mkdir(parents=True, exist_ok=True)
        args.html.write_text(standalone_document(page, pages.catalog), encoding="utf-8")
    if args.json:
        print(json.dumps(page.to_dict(), ensure_ascii=False, indent=2, default=str))
        return 0
    print(f"{page.attribution['brand']}: {page.personalized_headline}")
    print(f"  previous queries: {'; '.join(page.context_used.previous_queries) or '(none: ' + page.context_used.fallback + ')'}")
    for cluster in page.clusters:
        print(f"  cluster {cluster.label!r} (basis={cluster.basis}): {len(cluster.offers)} offers")
    print(f"  filters: {', '.join(f.label + ('' if f.applied else ' (off)') for f in page.suggested_filters) or 'none'}")
    print(f"  text: {sum(v != 'template' for v in page.text_sources.values())} of {len(page.text_sources)} slots from the model; "
          f"template fallbacks: {', '.join(f'{k} ({v})' for k, v in page.fallbacks.items()) or 'none'}")
    if not page.approved:
        print("  waiting for approval (the HTML shows a notice until then; add --approve)")
    if args.html:
        print(f"wrote {args.html}", file=sys.stderr)
    return 0
