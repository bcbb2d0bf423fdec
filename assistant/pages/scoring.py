"""The landing-page score (spec §5): a deficiency score from min-max normalised signals, and the threshold gate.

    s = mean_w( 1-norm(conversion_rate), norm(bounce_rate), 1-norm(ctr), 1-design_quality, 1-content_quality, performance )
        + w_nf * [has_product_filter is False]
    link iff s > T (strict, default) or s >= T (inclusive); a missing product filter alone always gives a link.

A metric the catalog does not give contributes `missing_metric_default` (0.5, neutral); nothing raises. With one
landing page (or equal values), min-max normalisation has no spread and the normalised value is the neutral 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from assistant.pages.models import LandingPage
from assistant.pages.settings import PageSettings

RATE_SIGNALS = {"conversion_rate": "higher_better", "bounce_rate": "higher_worse", "ctr": "higher_better"}
RATED_SIGNALS = ("design_quality", "content_quality")  # already 0-1 ratings


@dataclass(frozen=True)
class ScoreBreakdown:
    """One landing page's score, the deficiency each signal contributed, and the gate's verdict."""

    url: str
    score: float
    signals: dict[str, float]  # signal -> normalised deficiency (0 good - 1 bad)
    missing: tuple[str, ...]  # signals that took the neutral default
    forced: bool  # the no-product-filter rule forced the link
    link: bool


def exceeds(score: float, threshold: float, comparison: str = "strict") -> bool:
    """The gate's comparison: strictly greater by default, or greater-or-equal when inclusive."""
    return score >= threshold if comparison == "inclusive" else score > threshold


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))


class LandingPageScorer:
    """Scores landing pages against the bounds of a set of pages (the catalog's), by the settings."""

    def __init__(self, pages: Sequence[LandingPage], settings: PageSettings | None = None) -> None:
        self.settings = settings or PageSettings()
        self.bounds: dict[str, tuple[float, float]] = {}
        metrics = list(RATE_SIGNALS) + sorted({name for page in pages for name in page.performance_metrics})
        for name in metrics:
            if self.settings.normalization == "fixed" and name in self.settings.fixed_bounds:
                self.bounds[name] = tuple(self.settings.fixed_bounds[name])  # type: ignore[assignment]
                continue
            values = [v for v in (self._raw(page, name) for page in pages) if v is not None]
            if values:
                self.bounds[name] = (min(values), max(values))

    @staticmethod
    def _raw(page: LandingPage, name: str) -> float | None:
        value = getattr(page, name) if name in RATE_SIGNALS else page.performance_metrics.get(name)
        return None if value is None else float(value)

    def normalised(self, name: str, value: float | None) -> float | None:
        """Min-max normalisation of a raw metric to 0-1 (clamped); 0.5 when the bounds have no spread; None if unknown."""
        if value is None:
            return None
        low, high = self.bounds.get(name, (value, value))
        if high <= low:
            return 0.5
        return _clamp((value - low) / (high - low))

    def deficiencies(self, page: LandingPage, *, query_category: str = "") -> tuple[dict[str, float | None], bool | None]:
        """Each quality signal's deficiency (None when unknown), and whether the page lacks a product filter."""
        out: dict[str, float | None] = {}
        for name, direction in RATE_SIGNALS.items():
            norm = self.normalised(name, self._raw(page, name))
            out[name] = None if norm is None else (norm if direction == "higher_worse" else 1 - norm)
        for name in RATED_SIGNALS:
            value = getattr(page, name)
            out[name] = None if value is None else 1 - _clamp(float(value))
        parts = []
        for name, direction in self.settings.performance_polarity.items():
            norm = self.normalised(name, page.performance_metrics.get(name))
            if norm is not None:
                parts.append(norm if direction == "higher_worse" else 1 - norm)
        out["performance"] = sum(parts) / len(parts) if parts else None
        if self.settings.score_scope == "query":
            out["targeting"] = None if not (query_category and page.category) else float(page.category != query_category)
        lacks = None if page.has_product_filter is None else not page.has_product_filter
        return out, lacks

    def breakdown(self, page: LandingPage, *, query_category: str = "") -> ScoreBreakdown:
        """The score of one landing page with its parts and the gate's verdict."""
        s = self.settings
        found, lacks = self.deficiencies(page, query_category=query_category)
        enabled = [name for name in found if name in s.signals_enabled or name == "targeting"]
        signals = {name: (s.missing_metric_default if found[name] is None else found[name]) for name in enabled}
        missing = tuple(name for name in enabled if found[name] is None)
        weights = {name: s.weights.get(name, 1.0) for name in enabled}
        total = sum(weights.values())
        if s.polarity == "quality":
            signals_view = {name: 1 - value for name, value in signals.items()}
        else:
            signals_view = signals
        weighted = sum(weights[name] * signals_view[name] for name in enabled)
        part = weighted / total if s.combination == "mean" and total > 0 else weighted
        filter_on = "no_product_filter" in s.signals_enabled
        penalty = s.weights["no_product_filter"] if filter_on and lacks else 0.0
        score = round(part - penalty if s.polarity == "quality" else part + penalty, 6)  # compared as shown: no float noise at T
        forced = bool(filter_on and lacks and s.missing_filter_forces_link)
        if s.polarity == "quality":
            passes = score <= s.threshold if s.comparison == "inclusive" else score < s.threshold
        else:
            passes = exceeds(score, s.threshold, s.comparison)
        return ScoreBreakdown(page.url, score, {k: round(v, 6) for k, v in signals.items()}, missing, forced, forced or passes)

    def score(self, page: LandingPage, *, query_category: str = "") -> float:
        """The landing page's score (deficiency by default: higher means a worse page)."""
        return self.breakdown(page, query_category=query_category).score

    def gate(self, page: LandingPage, *, query_category: str = "") -> bool:
        """True when the page earns an AI-page link."""
        return self.breakdown(page, query_category=query_category).link


def landing_page_score(page: LandingPage, pages: Sequence[LandingPage], settings: PageSettings | None = None) -> float:
    """The score of one landing page, normalised against `pages`."""
    return LandingPageScorer(pages, settings).score(page)
