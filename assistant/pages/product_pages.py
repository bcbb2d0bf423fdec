"""`ProductPages`: the whole flow behind the `<shop>` tool, the side panel and the CLI.

    handle_query(user, query)  -> SearchResultPage   (spec §4: build, score, gate; logs the query to the user's activity)
    view(user, org_id, query)  -> AIPage             (spec §6: lazy, on the view request; cached and reused)
    emit(page)                 -> AIPage | None      (None while approval is required and missing)
    feedback(user, page_id, component, signal)       (spec §8: logged; reject regenerates that component only)
    ask(user, page_id, question) -> str              (the merchant-scoped chatbot)

The catalog, its embeddings and the model load on first use. Every lookup is by user: a result page, a page or a
feedback event of one user is never returned to another.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import OrderedDict
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path
from typing import Callable

from assistant.backends.base import Backend
from assistant.markup import clean_text
from assistant.pages.cache import PageCache, PageKey
from assistant.pages.catalog import Catalog, load_catalog
from assistant.pages.chatbot import MerchantChatbot
from assistant.pages.context import ContextProvider, normalised
from assistant.pages.feedback import FeedbackLog
from assistant.pages.generator import PageGenerator
from assistant.pages.models import AIPage, FeedbackEvent, PageError, SearchResultPage
from assistant.pages.offers import OfferPlanner
from assistant.pages.search import ProductIndex, parse_query
from assistant.pages.settings import PageSettings
from assistant.pages.srp import ResultPageBuilder
from assistant.pages import templates
from memory.activity import ActivityLog
from memory.embeddings import Embedder
from memory.profile import Profiles
from tools.registry import utc_now

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 300
MAX_RESULT_PAGES = 2000  # (user, session) and (user, query) result pages kept


def check_query(query: str) -> str:
    """A usable shopping query, or a PageError that says what is wrong with it."""
    text = " ".join(clean_text(query if isinstance(query, str) else "").split())
    if not text:
        raise PageError("the query is empty; say what you are shopping for")
    if len(text) > MAX_QUERY_CHARS:
        raise PageError(f"the query is {len(text):,} characters long; at most {MAX_QUERY_CHARS} are accepted")
    return text


class ProductPages:
    """Result pages, AI pages, the chatbot and feedback for every user, over one catalog."""

    def __init__(self, *, data_dir: Path, embedder: Embedder, profiles: Profiles, activity: ActivityLog, backend: Backend | None,
                 settings: PageSettings | None = None, clock: Callable[[], datetime] = utc_now, catalog: Catalog | None = None,
                 generator_options: dict | None = None) -> None:
        self.settings = settings or PageSettings()
        self.data_dir = Path(data_dir)
        self.embedder = embedder
        self.profiles = profiles
        self.activity = activity
        self.backend = backend
        self.clock = clock
        self.feedback_log = FeedbackLog(self.data_dir / "pages" / "feedback.jsonl")
        self.cache = PageCache(ttl_hours=self.settings.page_cache_ttl_hours, max_pages=self.settings.cache_pages, clock=clock)
        self._catalog = catalog
        self._parts: dict | None = None
        self._generator_options = generator_options or {}
        self._results: OrderedDict[tuple, SearchResultPage] = OrderedDict()
        self._lock = threading.Lock()
        self._page_locks: dict[PageKey, threading.Lock] = {}
        self._rejections: dict[tuple[str, str], list[str]] = {}
        self._followed: set[tuple[str, int]] = set()
        self._categories: dict[str, str] = {}  # query -> its category (the gate and the page need it on every view)  # chat messages the panel already searched the shops for

    @classmethod
    def for_assistant(cls, assistant) -> "ProductPages":
        """The product pages of an `Assistant`: its data dir, embedder, profiles, activity log, model and clock."""
        return cls(data_dir=assistant.config.data_dir, embedder=assistant.embedder, profiles=assistant.profiles,
                   activity=assistant.activity, backend=assistant.backend, settings=PageSettings.load(), clock=assistant.clock)

    def wants_shop_tool(self, prompt: str) -> bool:
        """Whether the agent gets the <shop> tool, for a model prompted with `prompt` (the `shop_tool` setting)."""
        return self.settings.shop_tool == "on" or (self.settings.shop_tool == "auto" and prompt == "agent")

    # -- lazy parts --------------------------------------------------------------------------------------------------
    @property
    def catalog(self) -> Catalog:
        """The catalog, loaded and validated on first use (CatalogError lists every problem)."""
        with self._lock:
            if self._catalog is None:
                self._catalog = load_catalog(self.settings.catalog)
            return self._catalog

    def _built(self) -> dict:
        catalog = self.catalog
        with self._lock:
            if self._parts is None:
                index = ProductIndex(catalog, self.embedder, cache_dir=self.data_dir / "pages")
                generator = PageGenerator(catalog, index, self.settings, backend=self.backend, clock=self.clock, cache=self.cache,
                                          **self._generator_options)
                self._parts = {
                    "index": index, "builder": ResultPageBuilder(catalog, index, self.settings), "generator": generator,
                    "context": ContextProvider(self.profiles, self.activity, catalog, self.settings, clock=self.clock,
                                               interactions=self.feedback_log.interactions),
                    "chatbot": MerchantChatbot(catalog, index, self.settings, backend=self.backend, validator=generator.validator),
                    "planner": OfferPlanner(catalog, index, self.settings)}
            return self._parts

    @property
    def index(self) -> ProductIndex:
        """The embedded catalog."""
        return self._built()["index"]

    @property
    def builder(self) -> ResultPageBuilder:
        """The result-page builder and gate."""
        return self._built()["builder"]

    @property
    def generator(self) -> PageGenerator:
        """The page generation pipeline."""
        return self._built()["generator"]

    @property
    def contexts(self) -> ContextProvider:
        """The context provider."""
        return self._built()["context"]

    @property
    def chatbot(self) -> MerchantChatbot:
        """The merchant-scoped chatbot."""
        return self._built()["chatbot"]

    def warm_up(self) -> None:
        """Load the catalog and embed it now rather than on the first search."""
        self.index.vectors()

    # -- method A: the result page -------------------------------------------------------------------------------------
    def handle_query(self, user_id: str, query: str, *, session_id: str = "", record: bool = True, message: str = "") -> SearchResultPage:
        """Build, score and gate the result page of a query; kept as the user's (and session's) latest result page."""
        query = check_query(query)
        now = self.clock()
        outcome = self.index.search(query)
        with self._lock:
            self._categories[normalised(query)] = outcome.filters.category
        srp = self.builder.build(query, outcome, user_id=user_id, created=now.isoformat())
        srp = self.builder.gate(srp)
        if self.settings.srp_personalization:
            srp = self._personalize(user_id, srp, message=message)
        if record:
            try:
                self.activity.record(user_id, query, when=now, kind="shop",
                                     context={"session_id": session_id, "message": message[:500], "results": len(srp.results)})
            except Exception:
                log.exception("could not log the shopping query")
        with self._lock:
            for key in ((user_id, "session", session_id), (user_id, "query", normalised(query))):
                self._results[key] = srp
                self._results.move_to_end(key)
            while len(self._results) > MAX_RESULT_PAGES:
                self._results.popitem(last=False)
        return srp

    def follow_chat(self, user_id: str, session_id: str) -> SearchResultPage | None:
        """The result page of the user's latest chat message in this session when it names a product category or brand and
        the model did not call <shop> for it (`panel_follows_chat`); None otherwise."""
        rows = [r for r in self.activity.queries(user_id, kind="chat", limit=5) if r.context.get("session_id") == session_id][:1]
        if not self.settings.panel_follows_chat or not rows or "shop" in rows[0].tools or len(rows[0].query) > MAX_QUERY_CHARS:
            return None
        row = rows[0]
        with self._lock:
            if (user_id, row.id) in self._followed:
                return None
            self._followed.add((user_id, row.id))
        parsed = parse_query(row.query, self.catalog)
        if not ((parsed.category and not parsed.category_inferred) or parsed.brands):
            return None
        return self.handle_query(user_id, row.query, session_id=session_id, message=row.query)

    def last_result(self, user_id: str, session_id: str = "") -> SearchResultPage | None:
        """This user's latest result page in this session (None when there is none)."""
        with self._lock:
            found = self._results.get((user_id, "session", session_id))
        return found if found is not None and found.user_id == user_id else None

    def result_for(self, user_id: str, query: str) -> SearchResultPage | None:
        """This user's result page for a query, if they searched it."""
        with self._lock:
            found = self._results.get((user_id, "query", normalised(query)))
        return found if found is not None and found.user_id == user_id else None

    def _personalize(self, user_id: str, srp: SearchResultPage, *, message: str) -> SearchResultPage:
        """The SRP personalization option: a headline, suggested filters and clusters on the result page itself."""
        first = next((r for r in srp.results), None)
        org = self.catalog.organization(first.org_id) if first else None
        if org is None:
            return srp
        context = self.contexts.context_for(user_id, srp.query, org=None, exclude=[message] if message else ())
        plan = self._built()["planner"].plan(org, srp.query, context, category=srp.category)
        headline = templates.headline(brand=org.brand_name, category=plan.category, query=srp.query, uses=plan.uses,
                                      previous=context.previous_queries, name=context.user_name, limit=self.settings.headline_chars)
        if self.settings.srp_by_model and self.backend is not None:
            chosen, _ = self.generator.fill(self.generator.headline_slot(plan, context), user_id=user_id)
            headline = chosen.text
        labels = tuple(templates.cluster_label(basis=c.basis, category=plan.category, use=c.use, brand=c.brand, term=c.term,
                                               max_price=c.max_price, limit=self.settings.label_chars) for c in plan.clusters)
        return replace(srp, personalized_headline=headline, suggested_filters=tuple(f.label for f in plan.filters) or (f"All {plan.head_query}",),
                       suggested_clusters=labels)

    # -- method B: the AI page -----------------------------------------------------------------------------------------
    def category_of(self, query: str) -> str:
        """The product category of a query: stated, else inferred from the best matches (remembered per query)."""
        key = normalised(query)
        with self._lock:
            if key in self._categories:
                return self._categories[key]
        category = parse_query(query, self.catalog).category or self.index.search(query).filters.category
        with self._lock:
            self._categories[key] = category
            while len(self._categories) > MAX_RESULT_PAGES:
                self._categories.pop(next(iter(self._categories)))
        return category

    def gate_verdict(self, org_id: str, query: str) -> tuple[bool, float]:
        """Whether the merchant's landing page for the query's category earns an AI page, and its score."""
        org = self.catalog.organization(org_id)
        if org is None:
            raise PageError(f"there is no merchant {org_id!r} in the catalog (merchants: {', '.join(sorted(self.catalog.organizations))})")
        category = self.category_of(query)
        page = self.builder.landing_page(org_id, category)
        if page is None:
            raise PageError(f"{org.brand_name} has no landing page")
        verdict = self.builder.breakdown(page, category)
        return verdict.link, verdict.score

    def _settings_fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self.settings), sort_keys=True, default=str).encode()).hexdigest()[:12]

    def view(self, user_id: str, org_id: str, query: str, *, ignore_gate: bool = False, message: str = "") -> AIPage:
        """The AI page of a merchant for this user and query: generated on this view request, or reused from the cache."""
        query = check_query(query)
        org = self.catalog.organization(org_id)
        if org is None:
            raise PageError(f"there is no merchant {org_id!r} in the catalog (merchants: {', '.join(sorted(self.catalog.organizations))})")
        linked, score = self.gate_verdict(org_id, query)
        if not linked and not ignore_gate:
            raise PageError(f"{org.brand_name}'s landing page scores {score:.3f}, not above the threshold {self.settings.threshold:g}: "
                            "it gets no AI page")
        srp = self.result_for(user_id, query)
        before = datetime.fromisoformat(srp.created) if srp and srp.created else self.clock()
        context = self.contexts.context_for(user_id, query, org=org, before=before, exclude=[message] if message else ())
        key = PageKey(user_id, org_id, normalised(query), context.previous_queries, self.catalog.digest, self._settings_fingerprint())
        with self._lock:
            lock = self._page_locks.setdefault(key, threading.Lock())
        with lock:  # one generation per page at a time; a second viewer waits and reuses it
            cached = self.cache.get(key)
            if cached is not None:
                return cached
            category = srp.category if srp else self.category_of(query)
            page = self.generator.generate(user_id=user_id, org=org, query=query, context=context, category=category)
            self.cache.put(key, page)
        with self._lock:
            self._page_locks.pop(key, None)
        return page

    def page(self, user_id: str, page_id: str) -> AIPage:
        """One of this user's pages by id; PageError when it is not theirs or has expired."""
        found = self.cache.by_id(user_id, page_id)
        if found is None:
            raise PageError("that page has expired or is not yours; open it again from the result page")
        return found

    def emit(self, page: AIPage) -> AIPage | None:
        """The page when it may be shown: always, or after approval when approval is required."""
        return page if page.approved else None

    # -- feedback -----------------------------------------------------------------------------------------------------
    def feedback(self, user_id: str, page_id: str, component_id: str, signal: str, *, actor: str = "user", value: str = "") -> AIPage:
        """Log one feedback event; reject regenerates that component, edit replaces it (validated), approve may release the page."""
        page = self.page(user_id, page_id)
        event = FeedbackEvent(page_id=page_id, component_id=component_id, signal=signal, actor=actor, user_id=user_id, org_id=page.org_id,
                              value=value[:2000], when=self.clock().isoformat())
        self.feedback_log.record(event, text=self._component_text(page, component_id))
        updated = page
        if signal == "reject" and component_id != "page":
            rejected = self._rejections.setdefault((page_id, component_id), [])
            rejected.append(self._component_text(page, component_id))
            updated = self.generator.regenerate(page, component_id, rejected=rejected, attempt=len(rejected))
        elif signal == "edit" and component_id != "page":
            verdict = self.generator.validate_edit(page, component_id, value)
            if not verdict.ok:
                raise PageError(f"the edit cannot be used: {verdict.reason}")
            updated = self._edited(page, component_id, " ".join(value.split()))
        elif signal == "approve":
            approvals = sorted(set(page.approvals) | {actor})
            needed = {"user", "organization"} if self.settings.approver == "both" else {self.settings.approver}
            updated = replace(page, approvals=approvals, approved=page.approved or needed <= set(approvals))
        if updated is not page:
            self.cache.replace(page, updated)
        return updated

    def _component_text(self, page: AIPage, component_id: str) -> str:
        if component_id == "headline":
            return page.personalized_headline
        if component_id.startswith("cluster:"):
            return next((c.label for c in page.clusters if f"cluster:{c.id}" == component_id), "")
        if component_id.startswith("offer:"):
            return " ".join(page.offer_annotations.get(component_id.split(":", 1)[1], []))
        return page.component_annotations.get(component_id, "")

    @staticmethod
    def _edited(page: AIPage, component_id: str, text: str) -> AIPage:
        if component_id == "headline":
            updated = replace(page, personalized_headline=text)
        elif component_id.startswith("cluster:"):
            updated = replace(page, clusters=[replace(c, label=text) if f"cluster:{c.id}" == component_id else c for c in page.clusters])
        else:
            updated = replace(page, offer_annotations={**page.offer_annotations, component_id.split(":", 1)[1]: [text]})
        return replace(updated, text_sources={**page.text_sources, component_id: "edit"},
                       fallbacks={k: v for k, v in page.fallbacks.items() if k != component_id})

    # -- the chatbot ---------------------------------------------------------------------------------------------------
    def ask(self, user_id: str, page_id: str, question: str) -> str:
        """The merchant-scoped chatbot's answer on one of this user's pages."""
        return self.chatbot.reply(self.page(user_id, page_id), question)
