"""The page generation pipeline (spec §6-8): structured parts from the catalog, text parts from the model, every text validated.

For each text slot (the headline, each cluster label, the annotations of the top offers) the text generator asks the model
for `candidates` completions of a short prompt holding the current query and the user's context; optimizer hooks tidy each
candidate, the validator checks it against the catalog, and ranker hooks order the valid ones together with the slot's
template; the top-ranked candidate fills the slot. When no model candidate is valid the template fills it and the reason is
recorded in `page.fallbacks`. Optional media generators (image, audio, video) add assets afterwards.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import yaml

from assistant.backends.base import Backend
from assistant.markup import neutralise
from assistant.pages import templates
from assistant.pages.cache import PageCache
from assistant.pages.catalog import Catalog
from assistant.pages.models import (AIPage, ChatbotSession, Cluster, Context, CtaButton, Offer, Organization, PageError, Product,
                                    Sitelink)
from assistant.pages.offers import ClusterPlan, OfferPlanner, PagePlan, apply_filters, unique
from assistant.pages.search import ProductIndex
from assistant.pages.settings import PageSettings
from assistant.pages.validation import TextValidator, Verdict, terms_of
from assistant.prompts import render

log = logging.getLogger(__name__)

PROMPTS = yaml.safe_load((Path(__file__).parent / "prompts.yaml").read_text(encoding="utf-8"))
TOKENS = {"headline": 24, "label": 6, "annotation": 24, "reply": 32}  # per slot kind; `max_tokens` caps them all
RETRY_TEMPERATURE = 0.9  # for further candidates and regenerations after a reject


@dataclass(frozen=True)
class Candidate:
    """One text for a slot: where it came from and the validator's verdict."""

    text: str
    source: str  # model | template | reuse
    verdict: Verdict


@dataclass
class Slot:
    """A text slot of a page: its prompt, its templates, its limits and the facts its text may state."""

    id: str  # the component id: headline, cluster:ID, offer:PRODUCT_ID
    kind: str  # headline | label | annotation
    prompt: str
    templates: list[str]
    limit: int
    products: list[Product]
    sources: list[str]
    prefix: str = ""  # the start of the text, already in the prompt ("For " of a label)
    required_terms: set[str] = field(default_factory=set)
    terms: set[str] = field(default_factory=set)  # the user's words, for ranking
    reuse_key: tuple | None = None  # set for merchant-neutral texts (cross_org_reuse)


class Optimizer(Protocol):
    """Improves a candidate text before validation."""

    def optimize(self, slot: Slot, text: str) -> str:
        """The improved text."""


class Ranker(Protocol):
    """Orders valid candidates, best first."""

    def rank(self, slot: Slot, candidates: list[Candidate]) -> list[Candidate]:
        """The candidates, best first."""


class MediaGenerator(Protocol):
    """An optional image, audio or video generator for a page."""

    kind: str  # image | audio | video

    def generate(self, page: AIPage, org: Organization) -> dict[str, Any]:
        """One asset: {mime, data_uri, alt, ...}."""


class TrimOptimizer:
    """Tidies model text: one line, no wrapping quotes or bullets, no dangling punctuation, cut at a sentence end."""

    def optimize(self, slot: Slot, text: str) -> str:
        """The tidied text."""
        text = " ".join(text.split())
        text = text.strip(" \"'“”‘’*-•").rstrip(",;:–-").strip()
        if slot.kind == "label":  # a label is one phrase: stop at the first clause break
            text = re.split(r"[,.;:!?(]", text, maxsplit=1)[0].strip()
        if len(text) > slot.limit and "." in text[: slot.limit]:
            text = text[: text[: slot.limit].rindex(".")].strip()
        if slot.kind in ("headline", "label"):
            text = text.rstrip(".!").strip()
        return templates.capital(text) if slot.kind != "label" or not slot.prefix else text


class RelevanceRanker:
    """Ranks by the share of the user's words a text uses, with a bonus for generated text (`generated_bonus`)."""

    def __init__(self, *, generated_bonus: float = 0.5, terms_for_full_score: int = 3) -> None:
        self.generated_bonus = generated_bonus
        self.terms_for_full_score = terms_for_full_score

    def score(self, slot: Slot, candidate: Candidate) -> float:
        """Relevance (0-1) plus the bonus for model text."""
        overlap = len(terms_of([candidate.text]) & slot.terms)
        return min(1.0, overlap / self.terms_for_full_score) + (self.generated_bonus if candidate.source != "template" else 0.0)

    def rank(self, slot: Slot, candidates: list[Candidate]) -> list[Candidate]:
        """Best first; ties keep the given order."""
        return sorted(candidates, key=lambda c: -self.score(slot, c))


class FirstValidRanker:
    """Keeps the given order: the first valid model candidate, else the template."""

    def rank(self, slot: Slot, candidates: list[Candidate]) -> list[Candidate]:
        """Unchanged order."""
        return list(candidates)


class BannerImage:
    """An SVG banner in the merchant's colour with its initials: the built-in image generator (`media_generators: banner`)."""

    kind = "image"

    def generate(self, page: AIPage, org: Organization) -> dict[str, Any]:
        """The banner as a data URI (drawn from the catalog's colour; no text from the model)."""
        import base64

        initials = "".join(w[0] for w in re.findall(r"[A-Za-z]+", org.brand_name))[:2].upper() or "?"
        colour = org.colour if re.fullmatch(r"#[0-9a-fA-F]{6}", org.colour) else "#555555"
        svg = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 600 90" width="600" height="90">'
               f'<rect width="600" height="90" rx="12" fill="{colour}"/><circle cx="52" cy="45" r="30" fill="#ffffff" opacity="0.25"/>'
               f'<text x="52" y="55" font-family="Helvetica, Arial, sans-serif" font-size="26" font-weight="700" fill="#ffffff" '
               f'text-anchor="middle">{initials}</text></svg>')
        return {"mime": "image/svg+xml", "data_uri": "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode(),
                "alt": f"{org.brand_name} banner"}


MEDIA = {"banner": BannerImage}


class PageGenerator:
    """Makes the AI page of one merchant for one user and query; regenerates single components on feedback."""

    def __init__(self, catalog: Catalog, index: ProductIndex, settings: PageSettings | None = None, *, backend: Backend | None,
                 clock: Callable[[], datetime], cache: PageCache | None = None, optimizers: Sequence[Optimizer] | None = None,
                 rankers: Sequence[Ranker] | None = None, media: Sequence[MediaGenerator] | None = None) -> None:
        self.catalog = catalog
        self.settings = s = settings or PageSettings()
        self.backend = backend
        self.clock = clock
        self.cache = cache
        self.planner = OfferPlanner(catalog, index, s)
        self.validator = TextValidator(catalog)
        self.optimizers = list(optimizers) if optimizers is not None else ([TrimOptimizer()] if s.optimizer == "trim" else [])
        self.rankers = list(rankers) if rankers is not None else [RelevanceRanker() if s.ranker == "relevance" else FirstValidRanker()]
        self.media = list(media) if media is not None else [MEDIA[name]() for name in s.media_generators]
        self.model_calls = 0
        self.checked = Counter()  # model candidates: 'valid', 'invalid', and each reason a candidate failed for

    # -- the text generator ------------------------------------------------------------------------------------
    def _complete(self, slot: Slot, temperature: float) -> str:
        assert self.backend is not None, "the model text generator needs a backend"
        self.model_calls += 1
        tokens = min(TOKENS[slot.kind], self.settings.max_tokens)
        return slot.prefix + self.backend.complete(slot.prompt, stop=["\n"], max_tokens=tokens, temperature=temperature)

    def fill(self, slot: Slot, *, attempt: int = 0, exclude: Sequence[str] = (), user_id: str = "",
             deadline: float | None = None) -> tuple[Candidate, str]:
        """The chosen candidate for a slot and, when the template had to stand in for the model, why ('' otherwise).

        After `deadline` (a time.monotonic() value) the model is not asked any more and the template fills the slot.
        """
        s = self.settings
        org = self.catalog.organization(slot.products[0].org_id) if slot.products else None
        assert org is not None, "every slot is about a merchant's products"
        banned = {e.strip().lower() for e in exclude}
        candidates: list[Candidate] = []
        reason = ""
        use_model = s.text_generator == "model" and self.backend is not None
        if use_model and s.cross_org_reuse and slot.reuse_key and self.cache is not None and not attempt:
            reused = self.cache.text((user_id, *slot.reuse_key))
            if reused is not None:
                verdict = self._check(slot, org, reused)
                if verdict.ok:
                    candidates.append(Candidate(reused, "reuse", verdict))
        if use_model and deadline is not None and time.monotonic() > deadline:
            use_model, reason = False, "time budget spent"
        if use_model and not candidates:
            for k in range(s.candidates):
                temperature = 0.0 if k == 0 and attempt == 0 else RETRY_TEMPERATURE
                try:
                    text = self._complete(slot, temperature)
                except Exception as exc:  # a model failure is a fallback, never a broken page
                    log.warning("page text generation failed for %s: %s", slot.id, exc)
                    reason = reason or f"model error: {type(exc).__name__}"
                    break
                for optimizer in self.optimizers:
                    text = optimizer.optimize(slot, text)
                verdict = self._check(slot, org, text) if text.strip() != slot.prefix.strip() else Verdict(False, "empty")
                if verdict.ok and text.strip().lower() in banned:
                    verdict = Verdict(False, "same as the rejected text")
                candidates.append(Candidate(text, "model", verdict))
                self.checked.update(["valid"] if verdict.ok else ["invalid", "reason: " + re.sub(r"\s*\(.*", "", verdict.reason)])
                reason = reason or ("" if verdict.ok else verdict.reason)
        valid = [c for c in candidates if c.verdict.ok]
        template = next((t for k in range(len(slot.templates)) if (t := slot.templates[(attempt + k) % len(slot.templates)]).strip().lower()
                         not in banned), slot.templates[attempt % len(slot.templates)])
        pool = [*valid, Candidate(template, "template", Verdict(True))]
        for ranker in self.rankers:
            pool = ranker.rank(slot, pool)
        chosen = pool[0]
        if chosen.source == "model" and slot.reuse_key and self.cache is not None and s.cross_org_reuse:
            self.cache.put_text((user_id, *slot.reuse_key), chosen.text)
        wanted = s.text_generator == "model" and self.backend is not None
        fallback = "" if not wanted or valid else (reason or "no valid model text")
        return chosen, fallback

    def _check(self, slot: Slot, org: Organization, text: str) -> Verdict:
        return self.validator.check(text, org=org, limit=slot.limit, products=slot.products, sources=slot.sources,
                                    required_terms=slot.required_terms, kind=slot.kind)

    # -- slots ---------------------------------------------------------------------------------------------------
    def headline_slot(self, plan: PagePlan, context: Context) -> Slot:
        """The headline slot of a page plan (the SRP personalization uses it too)."""
        s = self.settings
        brand, cat = plan.org.brand_name, templates.category_label(plan.category)
        previous = "; ".join(f'"{neutralise(q)}"' for q in context.previous_queries) or "none"
        prompt = render(PROMPTS["headline"], brand=brand, category=cat, name=neutralise(context.user_name),
                        location=neutralise(context.location), interests=neutralise(", ".join(context.interests)), previous=previous,
                        query=neutralise(plan.query))
        options = [templates.headline(brand=brand, category=plan.category, query=plan.query, uses=plan.uses,
                                      previous=context.previous_queries, name=context.user_name, variant=v, limit=s.headline_chars)
                   for v in range(4)]
        required = terms_of([*plan.uses, cat, plan.query, *context.previous_queries]) - terms_of([brand])
        return Slot("headline", "headline", prompt, options, s.headline_chars, list(plan.org.product_feed),
                    [plan.query, *context.previous_queries, *context.interests], required_terms=required, terms=plan.terms)

    def _label_slot(self, plan: PagePlan, cluster: ClusterPlan, context: Context) -> Slot:
        s = self.settings
        previous = "; ".join(f'"{neutralise(q)}"' for q in context.previous_queries) or "none"
        prefix = ("For " if cluster.use or cluster.term else f"{cluster.brand} " if cluster.brand else
                  "Under " if cluster.max_price is not None else "Top ")  # the model completes a label it has started
        prompt = render(PROMPTS["label"], brand=plan.org.brand_name, category=templates.category_label(plan.category),
                        source=neutralise(cluster.source_query), query=neutralise(plan.query), previous=previous, prefix=prefix)
        options = [templates.cluster_label(basis=cluster.basis, category=plan.category, use=cluster.use, brand=cluster.brand,
                                           term=cluster.term, max_price=cluster.max_price, variant=v, limit=s.label_chars) for v in range(3)]
        required = terms_of([cluster.source_query, templates.category_label(plan.category)])
        neutral = cluster.basis == "history" and not cluster.brand
        return Slot(f"cluster:{cluster.id}", "label", prompt, options, s.label_chars, cluster.products, [cluster.source_query],
                    prefix=prefix, required_terms=required, terms=plan.terms | terms_of([cluster.use, cluster.term]),
                    reuse_key=("label", plan.query.lower(), cluster.source_query.lower(), cluster.use, cluster.term) if neutral else None)

    def _annotation_slot(self, plan: PagePlan, product: Product, context: Context) -> Slot:
        s = self.settings
        facts = templates.product_facts(product)
        wants = ", ".join(plan.uses) or plan.query
        previous = "; ".join(f'"{neutralise(q)}"' for q in context.previous_queries) or "none"
        prompt = render(PROMPTS["annotation"], title=neutralise(product.title), price=product.price_label,
                        facts=neutralise(", ".join(facts[:4])), query=neutralise(plan.query), previous=previous)
        options = [templates.offer_annotation(product, uses=plan.uses, variant=v, limit=s.annotation_chars) for v in range(2)]
        return Slot(f"offer:{product.id}", "annotation", prompt, options, s.annotation_chars, [product],
                    [", ".join(facts), plan.query, wants], required_terms=terms_of(facts), terms=plan.terms)

    # -- the page ------------------------------------------------------------------------------------------------
    def generate(self, *, user_id: str, org: Organization, query: str, context: Context, category: str = "") -> AIPage:
        """Plan the structured parts, fill every text slot, add media; the page is approved unless approval is required."""
        s = self.settings
        plan = self.planner.plan(org, query, context, category=category)
        texts: dict[str, str] = {}
        sources: dict[str, str] = {}
        fallbacks: dict[str, str] = {}
        deadline = time.monotonic() + s.generation_budget_seconds if s.generation_budget_seconds else None

        def put(slot: Slot) -> str:
            chosen, why = self.fill(slot, user_id=user_id, deadline=deadline)
            texts[slot.id], sources[slot.id] = chosen.text, chosen.source
            if why:
                fallbacks[slot.id] = why
            return chosen.text

        headline = put(self.headline_slot(plan, context))
        clusters: list[Cluster] = []
        for cluster in plan.clusters:
            label = put(self._label_slot(plan, cluster, context))
            notes = templates.cluster_annotations(basis=cluster.basis, query=query, source_query=cluster.source_query,
                                                  count=len(cluster.products), total=len(plan.pool), category=plan.category,
                                                  brand=org.brand_name)
            clusters.append(Cluster(cluster.id, label, cluster.basis, tuple(Offer.of(p) for p in cluster.products), notes,
                                    cluster.source_query))
        annotated = unique([*(p for c in plan.clusters for p in c.products), *plan.pool, *plan.broader])
        offer_notes: dict[str, list[str]] = {}
        by_model = set(p.id for p in (plan.clusters[0].products if plan.clusters else plan.pool)[: s.model_annotations])
        for product in annotated:
            if product.id in by_model:
                offer_notes[product.id] = [put(self._annotation_slot(plan, product, context))]
            else:
                offer_notes[product.id] = [templates.offer_annotation(product, uses=plan.uses, limit=s.annotation_chars)]
        matching = apply_filters(plan.pool, plan.filters)
        page = AIPage(
            page_id=uuid.uuid4().hex[:16], org_id=org.id, query=query, user_id=user_id, context_used=context,
            personalized_headline=headline, suggested_filters=list(plan.filters), clusters=clusters, offer_annotations=offer_notes,
            sponsored_badge=True, attribution={"brand": org.brand_name, "logo": self.catalog.image_uri(org.logo)},
            website_ingress_url=org.website_url, broader_offers=[Offer.of(p) for p in plan.broader],
            cta_buttons=[CtaButton(templates.cta_label(p), p.product_page_url, p.id) for p in plan.ctas],
            product_feed=[Offer.of(p) for p in plan.feed], sitelinks=[Sitelink(templates.short_title(p.title), p.pdp_url) for p in plan.sitelinks],
            chatbot=ChatbotSession(enabled=s.chatbot, org_id=org.id, query=query,
                                   turns=[("", templates.chatbot_greeting(brand=org.brand_name, category=plan.category, query=query))]),
            previous_query_info=templates.previous_query_info(context.previous_queries, context.previous_when, query=query,
                                                              fallback=context.fallback),
            component_annotations=templates.component_annotations(
                query=query, brand=org.brand_name, category=plan.category, clusters=[(c.id, c.label) for c in clusters],
                filters=sum(f.applied for f in plan.filters), offers=len(matching), previous=len(context.previous_queries)),
            offers=[Offer.of(p) for p in plan.pool], fallbacks=fallbacks, text_sources=sources, head_query=plan.head_query,
            category=plan.category, approved=not s.approval_required, created=self.clock())
        page.generated_assets = {"text": {"slots": len(sources), "model": sum(v != "template" for v in sources.values()),
                                          "template": sum(v == "template" for v in sources.values())}}
        for generator in self.media:
            try:
                page.generated_assets.setdefault(generator.kind, []).append(generator.generate(page, org))
            except Exception:
                log.exception("media generator %s failed; the page goes without it", type(generator).__name__)
        return page

    # -- regeneration (asset feedback) ---------------------------------------------------------------------------
    def regenerate(self, page: AIPage, component_id: str, *, rejected: Sequence[str], attempt: int) -> AIPage:
        """The page with one text component written anew (different from the rejected texts); nothing else changes."""
        org = self.catalog.organization(page.org_id)
        if org is None:
            raise PageError(f"the merchant {page.org_id!r} is no longer in the catalog")
        context = page.context_used
        plan = self.planner.plan(org, page.query, context, category=page.category)
        if component_id == "headline":
            chosen, why = self.fill(self.headline_slot(plan, context), attempt=attempt, exclude=rejected, user_id=page.user_id)
            page = replace(page, personalized_headline=chosen.text)
        elif component_id.startswith("cluster:"):
            cluster_id = component_id.split(":", 1)[1]
            found = next((c for c in plan.clusters if c.id == cluster_id), None)
            if found is None:
                raise PageError(f"the page has no cluster {cluster_id!r}")
            chosen, why = self.fill(self._label_slot(plan, found, context), attempt=attempt, exclude=rejected, user_id=page.user_id)
            clusters = [replace(c, label=chosen.text) if c.id == cluster_id else c for c in page.clusters]
            notes = {**page.component_annotations, component_id: f"{chosen.text}: grouped for {templates.quoted(page.query, 36)}"}
            page = replace(page, clusters=clusters, component_annotations=notes)
        elif component_id.startswith("offer:"):
            product = self.catalog.product(component_id.split(":", 1)[1])
            if product is None or product.org_id != page.org_id or product.id not in page.offer_annotations:
                raise PageError(f"the page has no offer {component_id.split(':', 1)[1]!r}")
            chosen, why = self.fill(self._annotation_slot(plan, product, context), attempt=attempt, exclude=rejected, user_id=page.user_id)
            page = replace(page, offer_annotations={**page.offer_annotations, product.id: [chosen.text]})
        else:
            raise PageError(f"{component_id!r} is not a text component; these can be regenerated: headline, cluster:ID, offer:PRODUCT_ID")
        fallbacks = {k: v for k, v in page.fallbacks.items() if k != component_id} | ({component_id: why} if why else {})
        return replace(page, fallbacks=fallbacks, text_sources={**page.text_sources, component_id: chosen.source})

    def validate_edit(self, page: AIPage, component_id: str, text: str) -> Verdict:
        """Whether an edited text may replace a text component (the same checks as generated text)."""
        org = self.catalog.organization(page.org_id)
        if org is None:
            return Verdict(False, "the merchant is no longer in the catalog")
        limits = {"headline": self.settings.headline_chars, "cluster": self.settings.label_chars, "offer": self.settings.annotation_chars}
        kind = component_id.split(":", 1)[0]
        if kind not in limits:
            return Verdict(False, "only headline, cluster:ID and offer:PRODUCT_ID can be edited")
        products = [p for p in (self.catalog.product(component_id.split(":", 1)[1]),) if p] if kind == "offer" else list(org.product_feed)
        sources = [page.query, *page.context_used.previous_queries, *(templates.product_facts(p)[0] for p in products if templates.product_facts(p))]
        return self.validator.check(" ".join(text.split()), org=org, limit=limits[kind], products=products, sources=sources)

