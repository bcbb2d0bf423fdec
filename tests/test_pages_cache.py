"""Page reuse (spec §8, checklist 26): cached per user with a time to live; cross-organization reuse off by default."""

from datetime import timedelta

from assistant.pages.settings import PageSettings
from tests.fakes import ScriptedBackend
from tests.pages_helpers import NOW, make_pages, shopped


def test_a_page_is_reused_for_a_later_search_of_the_same_query(tmp_path):
    backend = ScriptedBackend()
    pages = make_pages(tmp_path, backend=backend)
    shopped(pages, "ann")
    first = pages.view("ann", "northpeak", "laptops")
    calls = len(backend.prompts)
    pages.handle_query("ann", "laptops")  # the later search logs the same query again: not a new previous query
    again = pages.view("ann", "northpeak", "laptops")
    assert again is first and len(backend.prompts) == calls and pages.cache.hits == 1


def test_pages_expire_after_their_time_to_live(tmp_path):
    now = [NOW]
    backend = ScriptedBackend()
    pages = make_pages(tmp_path, backend=backend, clock=lambda: now[0], settings=PageSettings(page_cache_ttl_hours=24))
    shopped(pages, "ann")
    first = pages.view("ann", "northpeak", "laptops")
    now[0] = NOW + timedelta(hours=25)
    second = pages.view("ann", "northpeak", "laptops")
    assert second is not first and second.page_id != first.page_id


def test_another_user_never_gets_a_cached_page(tmp_path):
    pages = make_pages(tmp_path)
    shopped(pages, "ann")
    shopped(pages, "bob")  # the very same history
    ann = pages.view("ann", "northpeak", "laptops")
    bob = pages.view("bob", "northpeak", "laptops")
    assert bob is not ann and bob.user_id == "bob" and pages.cache.by_id("bob", ann.page_id) is None


def test_pages_are_never_reused_across_merchants(tmp_path):
    pages = make_pages(tmp_path)
    shopped(pages, "ann")
    northpeak = pages.view("ann", "northpeak", "laptops")
    vireo = pages.view("ann", "vireo", "laptops")
    assert vireo is not northpeak and vireo.org_id == "vireo"


def test_cross_org_reuse_shares_only_merchant_neutral_texts_of_the_same_user(tmp_path):
    backend = ScriptedBackend()
    pages = make_pages(tmp_path, backend=backend, settings=PageSettings(cross_org_reuse=True, model_annotations=0))
    shopped(pages, "ann", ("best laptop for 3D modeling",))
    backend.enqueue(" Laptops picked for 3D modeling", " 3D modeling work")  # the headline, the history cluster's label
    first = pages.view("ann", "northpeak", "laptops")
    assert first.clusters[0].label == "For 3D modeling work" and first.text_sources[f"cluster:{first.clusters[0].id}"] == "model"
    calls = len(backend.prompts)
    second = pages.view("ann", "metromart", "laptops")
    assert second.clusters[0].label == "For 3D modeling work" and second.text_sources[f"cluster:{second.clusters[0].id}"] == "reuse"
    assert len(backend.prompts) == calls + 2  # the headline and the head cluster's label; not the reused one
    off = make_pages(tmp_path / "off", backend=ScriptedBackend([" Laptops picked for 3D modeling", " 3D modeling work"]))
    shopped(off, "ann", ("best laptop for 3D modeling",))
    off.view("ann", "northpeak", "laptops")
    assert off.view("ann", "metromart", "laptops").clusters[0].label != "For 3D modeling work"
