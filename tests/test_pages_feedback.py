"""Asset feedback and the learning loop (spec §8, checklist 24-25, scenario 10)."""

import json

import pytest

from assistant.pages.models import FeedbackEvent, PageError
from assistant.pages.render import render_page
from assistant.pages.settings import PageSettings
from tests.fakes import ScriptedBackend
from tests.pages_helpers import make_pages, shopped


@pytest.fixture
def setup(tmp_path):
    backend = ScriptedBackend()
    pages = make_pages(tmp_path, backend=backend)
    shopped(pages, "ann")
    return pages, backend


def test_a_rejected_headline_is_regenerated_alone(setup):
    """Scenario 10: only the headline changes; the model is asked again with the same query and context."""
    pages, backend = setup
    page = pages.view("ann", "northpeak", "laptops")
    before = (page.clusters, page.offer_annotations, page.suggested_filters, page.cta_buttons, page.sitelinks, page.broader_offers)
    calls = len(backend.prompts)
    backend.enqueue(" Laptops for architecture and 3D modeling, picked for you")
    updated = pages.feedback("ann", page.page_id, "headline", "reject")
    assert updated.personalized_headline == "Laptops for architecture and 3D modeling, picked for you"
    assert updated.personalized_headline != page.personalized_headline and updated.text_sources["headline"] == "model"
    assert (updated.clusters, updated.offer_annotations, updated.suggested_filters, updated.cta_buttons, updated.sitelinks,
            updated.broader_offers) == before
    assert len(backend.prompts) == calls + 1 and "laptops" in backend.prompts[-1]
    assert pages.page("ann", page.page_id).personalized_headline == updated.personalized_headline  # the cache holds the new one


def test_a_rejected_text_never_comes_back(setup):
    pages, backend = setup
    page = pages.view("ann", "northpeak", "laptops")
    seen = {page.personalized_headline}
    for _ in range(3):
        page = pages.feedback("ann", page.page_id, "headline", "reject")  # the scripted model says nothing: templates rotate
        assert page.personalized_headline not in seen
        seen.add(page.personalized_headline)


def test_a_rejected_cluster_label_is_regenerated_alone(setup):
    pages, _ = setup
    page = pages.view("ann", "northpeak", "laptops")
    target = page.clusters[0]
    updated = pages.feedback("ann", page.page_id, f"cluster:{target.id}", "reject")
    assert updated.clusters[0].label != target.label and updated.clusters[0].offers == target.offers
    assert updated.clusters[1:] == page.clusters[1:] and updated.personalized_headline == page.personalized_headline


def test_an_edit_replaces_the_text_after_validation(setup):
    pages, _ = setup
    page = pages.view("ann", "northpeak", "laptops")
    updated = pages.feedback("ann", page.page_id, "headline", "edit", value="Laptops for my 3D modeling studio")
    assert updated.personalized_headline == "Laptops for my 3D modeling studio" and updated.text_sources["headline"] == "edit"
    with pytest.raises(PageError, match="names Pixelforge"):
        pages.feedback("ann", page.page_id, "headline", "edit", value="Cheaper laptops at Pixelforge")


@pytest.mark.parametrize("approver", ["user", "organization", "both"])
def test_with_approval_required_nothing_is_emitted_before_approval(tmp_path, approver):
    pages = make_pages(tmp_path, settings=PageSettings(approval_required=True, approver=approver))
    shopped(pages, "ann")
    page = pages.view("ann", "northpeak", "laptops")
    assert pages.emit(page) is None and "waiting for approval" in render_page(page, pages.catalog)
    actors = ["user", "organization"] if approver == "both" else [approver]
    wrong = "organization" if approver == "user" else "user"
    if approver != "both":
        page = pages.feedback("ann", page.page_id, "page", "approve", actor=wrong)
        assert pages.emit(page) is None
    for actor in actors:
        page = pages.feedback("ann", page.page_id, "page", "approve", actor=actor)
    assert pages.emit(page) is page and page.personalized_headline in render_page(page, pages.catalog)


def test_every_signal_is_logged_as_a_training_signal(setup):
    """Checklist 25: clicks, dwell, approvals, rejections and edits, each with its component, actor and reward."""
    pages, _ = setup
    page = pages.view("ann", "northpeak", "laptops")
    pages.feedback("ann", page.page_id, f"offer:{page.clusters[0].offers[0].product_id}", "click", value=page.clusters[0].offers[0].pdp_url)
    pages.feedback("ann", page.page_id, "page", "dwell", value="45")
    pages.feedback("ann", page.page_id, "headline", "approve")
    pages.feedback("ann", page.page_id, "headline", "reject")
    rows = [json.loads(line) for line in pages.feedback_log.path.read_text().splitlines()]
    assert [r["signal"] for r in rows] == ["click", "dwell", "approve", "reject"]
    assert all(r["page_id"] == page.page_id and r["user_id"] == "ann" and r["org_id"] == "northpeak" for r in rows)
    signals = pages.feedback_log.training_signals(user_id="ann")
    assert [s["reward"] for s in signals] == [0.5, 0.5, 1.0, -1.0]
    assert signals[3]["text"] == page.personalized_headline  # what was rejected, for the learner


def test_feedback_on_another_users_page_is_refused(setup):
    pages, _ = setup
    page = pages.view("ann", "northpeak", "laptops")
    with pytest.raises(PageError, match="not yours"):
        pages.feedback("bob", page.page_id, "headline", "reject")
    assert pages.feedback_log.events(user_id="bob") == []


def test_unknown_signals_and_actors_are_refused():
    with pytest.raises(ValueError, match="signal"):
        FeedbackEvent("p", "headline", "like", "user")
    with pytest.raises(ValueError, match="actor"):
        FeedbackEvent("p", "headline", "click", "robot")
