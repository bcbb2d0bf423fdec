"""The result page and its gate (spec §4, checklist 1-9, scenarios 2-5)."""

from dataclasses import replace

import pytest

from assistant.pages.models import PageError
from assistant.pages.settings import PageSettings
from assistant.pages.srp import page_link, parse_page_link
from tests.pages_helpers import make_pages, shopped, two_shops


def test_handle_query_returns_results_with_org_and_landing_page_and_a_score_for_every_landing_page(tmp_path):
    pages = make_pages(tmp_path)
    srp = pages.handle_query("ann", "laptops for 3D modeling")
    assert srp.results and srp.results[0].org_id and srp.results[0].landing_page_url.startswith("https://")
    assert {r.landing_page_url for r in srp.results} == set(srp.scores)
    assert all(isinstance(r.landing_page_score, float) for r in srp.results)
    assert all(r.sitelinks and r.offers for r in srp.results)
    for result in srp.results:
        org = pages.catalog.organizations[result.org_id]
        assert result.landing_page_url in {p.url for p in org.landing_pages}
        assert {o.product_id for o in result.offers} <= {p.id for p in org.product_feed}


def test_only_merchants_above_the_threshold_get_a_link_to_their_own_page(tmp_path):
    pages = make_pages(tmp_path)
    srp = pages.handle_query("ann", "laptops")
    for result in srp.results:
        above = result.landing_page_score > pages.settings.threshold
        forced = pages.builder.breakdown(pages.builder._pages[result.landing_page_url]).forced
        assert bool(result.ai_page_link) == (above or forced)
        if result.ai_page_link:
            assert parse_page_link(result.ai_page_link) == (result.org_id, "laptops")
    assert srp.linked() and len(srp.linked()) < len(srp.results)


def test_gating_adds_the_link_and_changes_nothing_else(tmp_path):
    """Scenario 4: A above threshold gets a link to A's page; B's result is exactly the original one."""
    pages = make_pages(tmp_path, catalog=two_shops())
    original = pages.builder.build("laptops")
    updated = pages.builder.gate(original)
    a0, b0 = (next(r for r in original.results if r.org_id == o) for o in ("shopa", "shopb"))
    a1, b1 = (next(r for r in updated.results if r.org_id == o) for o in ("shopa", "shopb"))
    assert a1.ai_page_link == page_link("shopa", "laptops") and replace(a1, ai_page_link=None) == a0
    assert b1 == b0 and b1.ai_page_link is None
    assert [r.landing_page_url for r in updated.results] == [r.landing_page_url for r in original.results]


def test_below_threshold_the_updated_page_is_identical_to_the_original(tmp_path):
    pages = make_pages(tmp_path, catalog=two_shops(a={}), settings=PageSettings(threshold=0.99))
    original = pages.builder.build("laptops")
    assert pages.builder.gate(original) == original


def test_no_product_filter_alone_earns_a_link(tmp_path):
    """Scenario 2: excellent conversion, bounce and CTR but no product filter."""
    pages = make_pages(tmp_path, catalog=two_shops(a={}, b={"has_product_filter": False}))
    srp = pages.handle_query("ann", "laptops")
    assert {r.org_id for r in srp.linked()} == {"shopb"}


@pytest.mark.parametrize(("comparison", "linked"), [("strict", False), ("inclusive", True)])
def test_a_score_equal_to_the_threshold(tmp_path, comparison, linked):
    """Scenario 3, through the whole result page."""
    pages = make_pages(tmp_path, catalog=two_shops())
    score_a = pages.builder.build("laptops").results[0].landing_page_score
    pages = make_pages(tmp_path, catalog=two_shops(), settings=PageSettings(threshold=score_a, comparison=comparison))
    srp = pages.handle_query("ann", "laptops")
    result = next(r for r in srp.results if r.landing_page_score == score_a)
    assert bool(result.ai_page_link) is linked


def test_the_link_can_go_into_an_added_sponsored_item(tmp_path):
    """Scenario 5: the sponsored item carries the link; the original result stays, unlinked."""
    pages = make_pages(tmp_path, catalog=two_shops(), settings=PageSettings(link_in_sponsored=True))
    original = pages.builder.build("laptops")
    srp = pages.builder.gate(original)
    sponsored = [r for r in srp.results if r.is_sponsored]
    assert len(sponsored) == 1 and sponsored[0].org_id == "shopa" and sponsored[0].ai_page_link == page_link("shopa", "laptops")
    assert [r for r in srp.results if not r.is_sponsored] == list(original.results)


def test_srp_personalization_adds_headline_filters_and_clusters(tmp_path):
    pages = make_pages(tmp_path, settings=PageSettings(srp_personalization=True))
    shopped(pages, "ann")
    srp = pages.handle_query("ann", "laptops under $2500")
    assert srp.personalized_headline and srp.suggested_filters and srp.suggested_clusters
    assert "3D modeling" in srp.personalized_headline or "architecture" in srp.personalized_headline
    plain = make_pages(tmp_path / "plain").handle_query("ann", "laptops under $2500")
    assert not plain.personalized_headline and not plain.suggested_filters


def test_result_pages_are_kept_per_user_and_session(tmp_path):
    pages = make_pages(tmp_path)
    pages.handle_query("ann", "laptops", session_id="tab-1")
    pages.handle_query("bob", "espresso machine", session_id="tab-1")
    assert pages.last_result("ann", "tab-1").query == "laptops"
    assert pages.last_result("bob", "tab-1").query == "espresso machine"
    assert pages.last_result("ann", "tab-2") is None and pages.result_for("bob", "laptops") is None


def test_the_query_goes_into_the_users_activity_log(tmp_path):
    pages = make_pages(tmp_path)
    pages.handle_query("ann", "laptops", session_id="s1")
    pages.handle_query("ann", "not logged", record=False)
    assert [(a.query, a.kind) for a in pages.activity.queries("ann")] == [("laptops", "shop")]


@pytest.mark.parametrize(("query", "message"), [("", "empty"), ("   ", "empty"), ("x" * 301, "at most 300")])
def test_bad_queries_are_refused_clearly(tmp_path, query, message):
    with pytest.raises(PageError, match=message):
        make_pages(tmp_path).handle_query("ann", query)


def test_page_links_round_trip():
    link = page_link("northpeak", "laptops & more?")
    assert parse_page_link(link) == ("northpeak", "laptops & more?")
    with pytest.raises(PageError):
        parse_page_link("https://evil.example/pages/x")
