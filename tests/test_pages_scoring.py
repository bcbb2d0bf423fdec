"""The landing-page score and the gate (spec §5, checklist 10-13, scenario 2 and 3)."""

from dataclasses import replace

import pytest

from assistant.errors import ConfigError
from assistant.pages.models import LandingPage
from assistant.pages.scoring import LandingPageScorer, exceeds, landing_page_score
from assistant.pages.settings import SIGNALS, PageSettings

BOUNDS = [LandingPage("https://lo.example/", "lo", conversion_rate=0.0, bounce_rate=0.0, ctr=0.0, performance_metrics={"load_time_s": 0.5}),
          LandingPage("https://hi.example/", "hi", conversion_rate=0.1, bounce_rate=1.0, ctr=0.1, performance_metrics={"load_time_s": 6.0})]


def page(**metrics) -> LandingPage:
    values = dict(conversion_rate=0.05, bounce_rate=0.5, ctr=0.05, design_quality=0.5, content_quality=0.5, has_product_filter=True,
                  performance_metrics={"load_time_s": 3.0})
    values.update(metrics)
    return LandingPage("https://shop.example/", "shop", **values)


def score(p: LandingPage, **settings) -> float:
    return LandingPageScorer(BOUNDS + [p], PageSettings(**settings)).score(p)


def test_worked_example_of_the_default_deficiency_score():
    """Equal weights, min-max normalised: the mean of the six deficiencies, plus w_nf for a missing product filter."""
    p = page(conversion_rate=0.02, bounce_rate=0.6, ctr=0.08, design_quality=0.7, content_quality=0.4, performance_metrics={"load_time_s": 2.15})
    # conversion 1-0.2=0.8, bounce 0.6, ctr 1-0.8=0.2, design 0.3, content 0.6, load (2.15-0.5)/5.5=0.3 -> mean 2.8/6
    assert score(p) == pytest.approx(2.8 / 6, abs=1e-6)
    assert score(replace(p, has_product_filter=False)) == pytest.approx(2.8 / 6 + 1.0, abs=1e-6)


def test_a_missing_product_filter_alone_exceeds_the_threshold_whatever_the_rest():
    excellent = page(conversion_rate=0.1, bounce_rate=0.0, ctr=0.1, design_quality=1.0, content_quality=1.0,
                     performance_metrics={"load_time_s": 0.5}, has_product_filter=False)
    scorer = LandingPageScorer(BOUNDS + [excellent], PageSettings())
    verdict = scorer.breakdown(excellent)
    assert verdict.score > PageSettings().threshold and verdict.link and verdict.forced
    with_filter = replace(excellent, has_product_filter=True)
    assert not LandingPageScorer(BOUNDS + [with_filter], PageSettings()).gate(with_filter)


@pytest.mark.parametrize(("name", "worse", "better"), [
    ("conversion_rate", 0.01, 0.09), ("bounce_rate", 0.9, 0.1), ("ctr", 0.01, 0.09), ("design_quality", 0.1, 0.9),
    ("content_quality", 0.1, 0.9)])
def test_the_score_moves_monotonically_with_each_signal(name, worse, better):
    assert score(page(**{name: worse})) > score(page(**{name: better}))


def test_slower_pages_score_higher_by_the_generic_performance_metric():
    assert score(page(performance_metrics={"load_time_s": 5.0})) > score(page(performance_metrics={"load_time_s": 1.0}))


@pytest.mark.parametrize("signal", [s for s in SIGNALS if s != "targeting"])
def test_each_signal_alone_drives_the_gate(signal):
    """With one signal enabled the gate follows that signal only (checklist 12)."""
    bad = {"conversion_rate": {"conversion_rate": 0.0}, "bounce_rate": {"bounce_rate": 1.0}, "ctr": {"ctr": 0.0},
           "design_quality": {"design_quality": 0.0}, "content_quality": {"content_quality": 0.0},
           "performance": {"performance_metrics": {"load_time_s": 6.0}}, "no_product_filter": {"has_product_filter": False}}[signal]
    good = {"conversion_rate": {"conversion_rate": 0.1}, "bounce_rate": {"bounce_rate": 0.0}, "ctr": {"ctr": 0.1},
            "design_quality": {"design_quality": 1.0}, "content_quality": {"content_quality": 1.0},
            "performance": {"performance_metrics": {"load_time_s": 0.5}}, "no_product_filter": {"has_product_filter": True}}[signal]
    settings = PageSettings(signals_enabled=(signal,))
    bad_page, good_page = page(**bad), page(**good)
    scorer = LandingPageScorer(BOUNDS + [bad_page, good_page], settings)
    assert scorer.gate(bad_page) and not scorer.gate(good_page)
    assert set(scorer.breakdown(bad_page).signals) <= {signal}


def test_missing_metrics_take_the_neutral_default_and_never_raise():
    bare = LandingPage("https://bare.example/", "bare")
    verdict = LandingPageScorer([bare], PageSettings()).breakdown(bare)
    assert verdict.score == pytest.approx(0.5) and set(verdict.missing) == {"conversion_rate", "bounce_rate", "ctr", "design_quality",
                                                                             "content_quality", "performance"}
    assert not verdict.link  # 0.5 is not above 0.5
    assert LandingPageScorer([bare], PageSettings(missing_metric_default=0.8)).score(bare) == pytest.approx(0.8)
    assert landing_page_score(bare, []) == pytest.approx(0.5)


def test_a_score_equal_to_the_threshold_links_only_in_inclusive_mode():
    bare = LandingPage("https://bare.example/", "bare")  # scores exactly 0.5
    assert not LandingPageScorer([bare], PageSettings(threshold=0.5)).gate(bare)
    assert LandingPageScorer([bare], PageSettings(threshold=0.5, comparison="inclusive")).gate(bare)
    assert exceeds(0.6, 0.5) and not exceeds(0.5, 0.5) and exceeds(0.5, 0.5, "inclusive")


def test_quality_polarity_inverts_the_score_and_the_comparison():
    poor = page(conversion_rate=0.0, bounce_rate=1.0, ctr=0.0, design_quality=0.0, content_quality=0.0)
    scorer = LandingPageScorer(BOUNDS + [poor], PageSettings(polarity="quality"))
    assert scorer.score(poor) < 0.5 and scorer.gate(poor)


def test_per_query_scope_adds_the_targeting_signal():
    laptops = LandingPage("https://shop.example/laptops", "shop", category="laptops", has_product_filter=True)
    scorer = LandingPageScorer([laptops], PageSettings(score_scope="query"))
    assert scorer.score(laptops, query_category="cameras") > scorer.score(laptops, query_category="laptops")


def test_settings_reject_unknown_signals_and_modes():
    with pytest.raises(ConfigError):
        PageSettings(signals_enabled=("charisma",))
    with pytest.raises(ConfigError):
        PageSettings(comparison="sometimes")
    with pytest.raises(ConfigError):
        PageSettings(weights={"ctr": -1})


def test_settings_come_from_a_yaml_file_then_variables(tmp_path):
    path = tmp_path / "pages.yaml"
    path.write_text("threshold: 0.7\nlink_in_sponsored: true\nweights: {ctr: 2}\n")
    settings = PageSettings.load(path, environ={"ASSISTANT_PAGES_THRESHOLD": "0.6", "ASSISTANT_PAGES_SIGNALS_ENABLED": "ctr,bounce_rate"})
    assert settings.threshold == 0.6 and settings.link_in_sponsored and settings.weights["ctr"] == 2.0
    assert settings.signals_enabled == ("ctr", "bounce_rate")
    assert PageSettings.load(environ={"ASSISTANT_PAGES_FILE": str(path)}).threshold == 0.7
    with pytest.raises(ConfigError, match="unknown pages settings"):
        bad = tmp_path / "bad.yaml"
        bad.write_text("thresold: 1\n")
        PageSettings.load(bad, environ={})
