"""Page generation: lazy, from the query and the context, model text validated with template fallback, hooks (spec §6-8)."""

from urllib.parse import urlsplit

import pytest

from assistant.errors import BackendError
from assistant.pages.generator import BannerImage, Candidate, RelevanceRanker
from assistant.pages.offers import apply_filters
from assistant.pages.render import page_offers
from assistant.pages.settings import PageSettings
from tests.fakes import ScriptedBackend
from tests.pages_helpers import make_pages, shopped


@pytest.fixture
def ann(tmp_path):
    backend = ScriptedBackend()
    pages = make_pages(tmp_path, backend=backend)
    shopped(pages, "ann")
    pages.profiles.update("ann", name="Ann", location="Oslo", interests=["3D modeling"])
    return pages, backend


def test_nothing_is_generated_before_the_view_request(ann):
    """Scenario 6 / checklist 14: the result page calls no model; the view does, with query and context in the prompt."""
    pages, backend = ann
    srp = pages.handle_query("ann", "laptops")
    assert srp.linked() and backend.prompts == [] and len(pages.cache) == 0
    pages.view("ann", "northpeak", "laptops")
    headline_prompt = backend.prompts[0]
    assert 'Search now: "laptops"' in headline_prompt
    for text in ("best laptop for architecture", "best laptop for 3D modeling", "Vireo", "Ann", "Oslo", "3D modeling"):
        assert text in headline_prompt
    assert all('"laptops"' in p or "laptops" in p for p in backend.prompts)


def test_valid_model_text_fills_its_slot(ann):
    pages, backend = ann
    backend.enqueue(" Laptops for 3D modeling, picked at NorthPeak Computers")
    page = pages.view("ann", "northpeak", "laptops")
    assert page.personalized_headline == "Laptops for 3D modeling, picked at NorthPeak Computers"
    assert page.text_sources["headline"] == "model" and "headline" not in page.fallbacks


def test_invalid_model_text_falls_back_to_the_template_and_says_why(ann):
    pages, backend = ann
    backend.enqueue(" Trail running shoes for wet weather, picked at Trailhead Outfitters", "<script>alert(1)</script>")
    page = pages.view("ann", "northpeak", "laptops")
    assert page.text_sources["headline"] == "template" and "Trailhead Outfitters" in page.fallbacks["headline"]
    assert "3D modeling" in page.personalized_headline and "NorthPeak Computers" in page.personalized_headline
    first_label = f"cluster:{page.clusters[0].id}"
    assert page.text_sources[first_label] == "template" and page.fallbacks[first_label]
    assert "<" not in page.clusters[0].label


def test_a_failing_model_is_a_fallback_not_an_error(tmp_path):
    class Broken(ScriptedBackend):
        def stream(self, prompt, **kw):
            raise BackendError("the model server is down")

    pages = make_pages(tmp_path, backend=Broken())
    shopped(pages, "ann")
    page = pages.view("ann", "northpeak", "laptops")
    assert page.personalized_headline and all(v.startswith("model error") for v in page.fallbacks.values())


def test_template_mode_and_the_time_budget_skip_the_model(tmp_path):
    backend = ScriptedBackend()
    pages = make_pages(tmp_path, backend=backend, settings=PageSettings(text_generator="template"))
    shopped(pages, "ann")
    page = pages.view("ann", "northpeak", "laptops")
    assert backend.prompts == [] and page.fallbacks == {} and set(page.text_sources.values()) == {"template"}
    hurried = make_pages(tmp_path / "b", backend=backend, settings=PageSettings(generation_budget_seconds=1e-9))
    shopped(hurried, "ann")
    page = hurried.view("ann", "northpeak", "laptops")
    assert backend.prompts == [] and set(page.fallbacks.values()) == {"time budget spent"}


def test_the_page_has_every_element_of_the_spec(ann):
    """Checklist 19-21: every element, every offer, CTA and sitelink from this merchant's catalogue, ingress on its domain."""
    pages, _ = ann
    page = pages.view("ann", "northpeak", "laptops")
    org = pages.catalog.organizations["northpeak"]
    own = {p.id for p in org.product_feed}
    assert page.personalized_headline and page.suggested_filters and any(f.applied for f in page.suggested_filters)
    assert page.clusters and all(c.basis in ("head_query", "history") and c.offers and c.annotations for c in page.clusters)
    assert page.offer_annotations and all(page.offer_annotations[o.product_id] for c in page.clusters for o in c.offers)
    assert page.sponsored_badge is True and page.attribution["brand"] == org.brand_name and page.attribution["logo"].startswith("data:image/")
    assert urlsplit(page.website_ingress_url).hostname == "northpeak.example" and page.broader_offers
    assert page.cta_buttons and page.product_feed and page.sitelinks and page.chatbot.enabled and page.previous_query_info
    offers = [o for c in page.clusters for o in c.offers] + page.offers + page.product_feed + page.broader_offers
    assert {o.product_id for o in offers} <= own
    assert {c.product_id for c in page.cta_buttons} <= own
    catalog_urls = {p.product_page_url for p in org.product_feed} | {p.pdp_url for p in org.product_feed}
    assert {c.product_page_url for c in page.cta_buttons} <= catalog_urls and {s.pdp_url for s in page.sitelinks} <= catalog_urls
    components = ("headline", "filters", "offers", "badge", "attribution", "ingress", "broader", "cta", "feed", "sitelinks", "chatbot",
                  "previous_query", *(f"cluster:{c.id}" for c in page.clusters))
    assert all(page.component_annotations.get(c) for c in components)


def test_component_annotations_change_with_the_query(ann):
    """Scenario 7 / checklist 18."""
    pages, _ = ann
    first = pages.view("ann", "northpeak", "laptops")
    second = pages.view("ann", "northpeak", "laptops under $2000")
    changed = [k for k in first.component_annotations if first.component_annotations[k] != second.component_annotations.get(k)]
    assert set(changed) >= {"headline", "filters", "offers", "badge", "attribution", "ingress", "broader", "cta", "feed", "sitelinks",
                            "chatbot", "previous_query"}
    assert all("laptops under $2000" in second.component_annotations[k] for k in ("headline", "cta", "feed"))


def test_applying_the_suggested_filters_leaves_only_matching_offers(ann):
    """Checklist 22 / scenario 9."""
    pages, _ = ann
    page = pages.view("ann", "northpeak", "laptops under $2500")
    applied = [f for f in page.suggested_filters if f.applied]
    assert {f.key for f in applied} >= {"max_price", "use"}
    shown = page_offers(page, pages.catalog)
    products = [pages.catalog.product(o.product_id) for o in shown]
    assert 0 < len(shown) < len(page.offers)
    assert all(p.price <= 2500 and "3D modeling" in p.attributes["uses"] for p in products)
    assert len(page_offers(page, pages.catalog, active=[])) == len(page.offers)
    everything = [pages.catalog.product(o.product_id) for o in page.offers]
    assert [p.id for p in apply_filters(everything, page.suggested_filters)] == [p.id for p in products]


def test_broader_offers_stay_in_the_merchants_catalogue_unless_configured(tmp_path):
    pages = make_pages(tmp_path)
    page = pages.view("ann", "metromart", "laptops")
    assert all(pages.catalog.product(o.product_id).org_id == "metromart" for o in page.broader_offers)
    assert any(pages.catalog.product(o.product_id).category != "laptops" for o in page.broader_offers)  # beyond the cluster
    wide = make_pages(tmp_path / "wide", settings=PageSettings(broader_offers_scope="catalog")).view("ann", "metromart", "laptops")
    assert any(pages.catalog.product(o.product_id).org_id != "metromart" for o in wide.broader_offers)


def test_optimizer_and_ranker_hooks_run_and_the_top_candidate_fills_the_slot(tmp_path):
    """Checklist 23: hooks see every candidate; the ranker's first choice wins."""
    seen = {"optimized": [], "ranked": []}

    class Shout:
        def optimize(self, slot, text):
            seen["optimized"].append(slot.id)
            return text.strip()

    class PreferLongest:
        def rank(self, slot, candidates):
            seen["ranked"].append([c.source for c in candidates])
            return sorted(candidates, key=lambda c: -len(c.text))

    backend = ScriptedBackend([" Laptops for 3D modeling", " Laptops for 3D modeling and architecture at NorthPeak Computers"])
    pages = make_pages(tmp_path, backend=backend, settings=PageSettings(candidates=2), optimizers=[Shout()], rankers=[PreferLongest()])
    shopped(pages, "ann")
    page = pages.view("ann", "northpeak", "laptops")
    assert seen["optimized"][:2] == ["headline", "headline"] and seen["ranked"][0] == ["model", "model", "template"]
    assert page.personalized_headline == "Laptops for 3D modeling and architecture at NorthPeak Computers"


def test_the_default_ranker_prefers_relevant_text():
    from assistant.pages.generator import Slot
    from assistant.pages.validation import Verdict

    slot = Slot("headline", "headline", "", ["t"], 100, [], [], terms={"3d", "modeling", "architecture", "laptops"})
    ok = Verdict(True)
    ranked = RelevanceRanker().rank(slot, [Candidate("Nice computers", "model", ok), Candidate("Laptops for 3D modeling and architecture",
                                                                                              "template", ok)])
    assert ranked[0].source == "template"
    ranked = RelevanceRanker().rank(slot, [Candidate("Laptops for 3D modeling", "model", ok), Candidate("Laptops for architecture", "template", ok)])
    assert ranked[0].source == "model"


def test_media_generators_plug_in(tmp_path):
    class Jingle:
        kind = "audio"

        def generate(self, page, org):
            return {"mime": "audio/wav", "data_uri": "data:audio/wav;base64,AAAA", "alt": f"{org.brand_name} jingle"}

    pages = make_pages(tmp_path, media=[BannerImage(), Jingle()])
    page = pages.view("ann", "northpeak", "laptops")
    assert page.generated_assets["image"][0]["data_uri"].startswith("data:image/svg+xml;base64,")
    assert page.generated_assets["audio"][0]["alt"] == "NorthPeak Computers jingle"
    assert make_pages(tmp_path / "s", settings=PageSettings(media_generators=("banner",))).view("ann", "northpeak", "laptops").generated_assets["image"]
