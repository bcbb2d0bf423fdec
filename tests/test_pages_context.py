"""The context provider (spec §6 step 2, checklist 15 and 27, scenario 8)."""

from datetime import timedelta

import pytest

from assistant.pages.models import NoPreviousQuery
from assistant.pages.settings import PageSettings
from tests.pages_helpers import NOW, LAPTOP_HISTORY, make_pages, shopped


def context(pages, user="ann", query="laptops", org="northpeak", **kw):
    return pages.contexts.context_for(user, query, org=pages.catalog.organizations[org], **kw)


def test_previous_queries_come_newest_first_with_the_profile(tmp_path):
    pages = make_pages(tmp_path)
    shopped(pages, "ann")
    pages.profiles.update("ann", name="Ann", location="Oslo", interests=["3D modeling"])
    found = context(pages)
    assert found.previous_queries == tuple(reversed(LAPTOP_HISTORY)) and found.fallback == ""
    assert (found.user_name, found.location, found.interests) == ("Ann", "Oslo", ("3D modeling",))
    assert len(found.previous_when) == 3 and found.search_context == "laptops"


def test_the_window_the_count_and_relevance_are_configurable(tmp_path):
    pages = make_pages(tmp_path, settings=PageSettings(max_previous_queries=2, history_window_days=30))
    pages.activity.record("ann", "laptop for gaming", when=NOW - timedelta(days=200), kind="shop")
    pages.activity.record("ann", "what's the weather in Oslo", when=NOW - timedelta(days=2), kind="chat")
    shopped(pages, "ann")
    found = context(pages)
    assert found.previous_queries == ("Vireo", "best laptop for 3D modeling")  # two, within 30 days, no weather
    anything = make_pages(tmp_path, settings=PageSettings(previous_relevance="any"))
    assert "what's the weather in Oslo" in context(anything).previous_queries


def test_the_current_query_and_later_queries_are_not_previous(tmp_path):
    pages = make_pages(tmp_path)
    shopped(pages, "ann", ("laptops", "best laptop for architecture"))
    pages.activity.record("ann", "best laptop for CAD", when=NOW + timedelta(minutes=5), kind="shop")
    found = context(pages, query="Laptops", before=NOW, exclude=["Show me some laptops"])
    assert found.previous_queries == ("best laptop for architecture",)


def test_no_previous_query_falls_back_as_configured(tmp_path):
    """Scenario 8: either generate from the query alone, or refuse with a clear error."""
    assert context(make_pages(tmp_path)).fallback == "query_only"
    with pytest.raises(NoPreviousQuery, match="no earlier search"):
        context(make_pages(tmp_path, settings=PageSettings(no_previous_query="error")))


def test_a_user_who_turned_personalization_off_gets_no_history_and_no_profile(tmp_path):
    pages = make_pages(tmp_path)
    shopped(pages, "ann")
    pages.profiles.update("ann", name="Ann", preferences={"personalization": ["off"]})
    found = context(pages)
    assert found.previous_queries == () and found.user_name == "" and found.fallback == "opted_out"


def test_context_is_read_only_from_the_requesting_user(tmp_path):
    pages = make_pages(tmp_path)
    shopped(pages, "ann")
    shopped(pages, "bob", ("espresso machine for a small kitchen", "laptop for video editing"))
    pages.profiles.update("bob", name="Bob", location="Lima")
    ann = context(pages)
    assert not set(ann.previous_queries) & {"espresso machine for a small kitchen", "laptop for video editing"}
    assert ann.user_name == "" and ann.location == ""
    assert context(pages, user="bob").previous_queries == ("laptop for video editing",)


def test_interactions_are_the_users_own_feedback(tmp_path):
    pages = make_pages(tmp_path)
    shopped(pages, "ann")
    shopped(pages, "bob")
    page = pages.view("ann", "northpeak", "laptops")
    pages.feedback("ann", page.page_id, "headline", "click")
    assert context(pages).interactions == ("clicked headline on northpeak",)
    assert context(pages, user="bob").interactions == ()
