"""Settings of the product pages (spec §10): typed, validated, from a small YAML file and `ASSISTANT_PAGES_*` variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping, get_type_hints

import yaml

from assistant.errors import ConfigError

SIGNALS = ("conversion_rate", "bounce_rate", "ctr", "design_quality", "content_quality", "performance", "no_product_filter", "targeting")
# targeting (the page is about another category than the query) counts only with score_scope=query
ENV_PREFIX = "ASSISTANT_PAGES_"
SETTINGS_FILE_VARIABLE = "ASSISTANT_PAGES_FILE"  # a YAML file of overrides, read before the variables
MEDIA_GENERATORS = ("banner",)


def _default_weights() -> dict[str, float]:
    return {name: 1.0 for name in SIGNALS}


@dataclass(frozen=True)
class PageSettings:
    """Every choice the spec leaves open, with the project's defaults (README: "Product pages" settings table)."""

    # -- the data resource and the tool
    catalog: str = ""  # a catalog .json, a products .csv (merchants.csv beside it) or a directory; '' = the shipped demo catalog
    shop_tool: str = "on"  # give the agent the <shop> tool: on, off, or auto (only to models prompted with demonstrations, not to
    # an adapter's own prompt: for an adapter trained before <shop> existed)
    panel_follows_chat: bool = True  # the side panel also searches the shops for a chat message naming a product category, when
    # the model did not call <shop> itself (the shipped tool-use adapter was trained before the tool existed)
    # -- landing-page score and gate (§5)
    threshold: float = 0.5  # T: a link is shown when the score exceeds it
    weights: dict[str, float] = field(default_factory=_default_weights)  # per signal; no_product_filter is added on top
    signals_enabled: tuple[str, ...] = SIGNALS  # any single signal works alone
    combination: str = "mean"  # mean: weighted mean of the quality signals (stays in 0-1); sum: weighted sum
    normalization: str = "minmax"  # minmax over the catalog's landing pages; fixed: the bounds below
    fixed_bounds: dict[str, tuple[float, float]] = field(default_factory=lambda: {
        "conversion_rate": (0.0, 0.1), "bounce_rate": (0.0, 1.0), "ctr": (0.0, 0.1), "load_time_s": (0.0, 6.0)})
    performance_polarity: dict[str, str] = field(default_factory=lambda: {"load_time_s": "higher_worse"})  # or higher_better
    polarity: str = "deficiency"  # deficiency: higher = worse page, link iff s > T; quality: 1 - that, link iff s < T
    comparison: str = "strict"  # strict (s > T) or inclusive (s >= T)
    missing_filter_forces_link: bool = True  # has_product_filter=false alone always gives a link
    missing_metric_default: float = 0.5  # the normalised deficiency of a metric the catalog does not give
    score_scope: str = "page"  # page: per landing page; query: per (query, landing page), adding a targeting signal
    # -- result page (§4)
    link_in_sponsored: bool = False  # put the AI-page link in an added sponsored item instead of on the result
    srp_personalization: bool = False  # headline, suggested filters and clusters on the result page itself
    srp_by_model: bool = False  # the model writes the result page's headline and snippets (validated, template fallback)
    max_results: int = 6  # merchants on a result page
    offers_per_result: int = 4
    # -- context (§6)
    no_previous_query: str = "query_only"  # query_only: generate from the query alone; error: refuse the page
    history_window_days: float = 90.0
    max_previous_queries: int = 5
    history_kinds: tuple[str, ...] = ("shop", "chat")  # activity-log kinds previous queries come from
    previous_relevance: str = "related"  # related: only queries about the merchant's categories; any: every query
    # -- generation (§7-8)
    offers_per_cluster: int = 4
    max_clusters: int = 3
    headline_chars: int = 110
    annotation_chars: int = 90
    label_chars: int = 40
    reply_chars: int = 280
    max_tokens: int = 40  # per generated text slot
    candidates: int = 1  # model candidates per slot; the ranker picks the best valid one
    text_generator: str = "model"  # model: the model writes the text slots (validated, template fallback); template: templates only
    model_annotations: int = 2  # offers whose annotation the model writes; the others get the template's facts
    generation_budget_seconds: float = 30.0  # model time per page; slots after it get their template (0: no limit)
    ranker: str = "relevance"  # relevance: the user's terms, then generated over template; first_valid: the first valid candidate
    optimizer: str = "trim"  # trim: tidy whitespace, quotes and cut-off sentences before validation; none
    media_generators: tuple[str, ...] = ()  # optional plug-ins: banner (an SVG banner image in the brand colour)
    broader_offers_scope: str = "own"  # own: the merchant's other products; catalog: also other merchants' (labelled)
    chatbot: bool = True  # the merchant-scoped chatbot on the page
    approval_required: bool = False  # the page is emitted only after approval
    approver: str = "user"  # user | organization | both
    page_cache_ttl_hours: float = 24.0
    cache_pages: int = 500  # pages kept in memory
    cross_org_reuse: bool = False  # reuse a user's validated merchant-neutral texts (history cluster labels) across merchants

    def __post_init__(self) -> None:
        weights = {**_default_weights(), **{str(k): float(v) for k, v in dict(self.weights).items()}}
        unknown = set(weights) - set(SIGNALS) | set(self.signals_enabled) - set(SIGNALS)
        if unknown:
            raise ConfigError(f"unknown landing-page signals: {', '.join(sorted(unknown))} (known: {', '.join(SIGNALS)})")
        if any(w < 0 for w in weights.values()):
            raise ConfigError("signal weights must be 0 or more")
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "signals_enabled", tuple(self.signals_enabled))
        object.__setattr__(self, "history_kinds", tuple(self.history_kinds))
        object.__setattr__(self, "media_generators", tuple(self.media_generators))
        switch = {"true": "on", "yes": "on", "1": "on", "false": "off", "no": "off", "0": "off"}
        object.__setattr__(self, "shop_tool", switch.get(str(self.shop_tool).lower(), str(self.shop_tool).lower()))
        if set(self.media_generators) - set(MEDIA_GENERATORS):
            raise ConfigError(f"unknown media generators: {', '.join(sorted(set(self.media_generators) - set(MEDIA_GENERATORS)))} "
                              f"(known: {', '.join(MEDIA_GENERATORS)})")
        choices = {"combination": ("mean", "sum"), "normalization": ("minmax", "fixed"), "polarity": ("deficiency", "quality"),
                   "comparison": ("strict", "inclusive"), "score_scope": ("page", "query"), "no_previous_query": ("query_only", "error"),
                   "previous_relevance": ("related", "any"), "approver": ("user", "organization", "both"),
                   "text_generator": ("model", "template"), "ranker": ("relevance", "first_valid"), "optimizer": ("trim", "none"),
                   "broader_offers_scope": ("own", "catalog"), "shop_tool": ("auto", "on", "off")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"pages setting {name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if self.model_annotations < 0 or self.generation_budget_seconds < 0:
            raise ConfigError("model_annotations and generation_budget_seconds must be 0 or more")
        if not 0 <= self.missing_metric_default <= 1 or self.threshold < 0:
            raise ConfigError("missing_metric_default must be 0-1 and threshold 0 or more")
        positive = ("max_results", "offers_per_result", "max_previous_queries", "offers_per_cluster", "max_clusters", "headline_chars",
                    "annotation_chars", "label_chars", "reply_chars", "max_tokens", "candidates", "cache_pages")
        if any(getattr(self, name) < 1 for name in positive) or self.history_window_days <= 0 or self.page_cache_ttl_hours < 0:
            raise ConfigError(f"pages settings {', '.join(positive)} and history_window_days must be positive")

    def with_(self, **changes: Any) -> "PageSettings":
        """A copy with some settings changed (validated again)."""
        return replace(self, **changes)

    @classmethod
    def load(cls, path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> "PageSettings":
        """Defaults, then a YAML file of overrides (`path`, else `ASSISTANT_PAGES_FILE`), then `ASSISTANT_PAGES_<NAME>` variables."""
        values: dict[str, Any] = {}
        environ = os.environ if environ is None else environ
        path = path or environ.get(SETTINGS_FILE_VARIABLE, "").strip() or None
        if path:
            try:
                data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
            except (OSError, yaml.YAMLError) as exc:
                raise ConfigError(f"pages settings file {path}: {exc}") from None
            if not isinstance(data, dict):
                raise ConfigError(f"pages settings file {path}: must be a mapping of setting: value")
            values.update(data)
        known = {f.name for f in fields(cls)}
        values.update({k[len(ENV_PREFIX):].lower(): v for k, v in environ.items() if k.startswith(ENV_PREFIX)
                       and k[len(ENV_PREFIX):].lower() in known})
        unknown = set(values) - known
        if unknown:
            raise ConfigError(f"unknown pages settings: {', '.join(sorted(unknown))}")
        return cls(**{k: _convert(k, v) for k, v in values.items()})


def _convert(name: str, value: Any) -> Any:
    kind = get_type_hints(PageSettings)[name]
    text = str(value).strip()
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            if text.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                return text.lower() in ("1", "true", "yes", "on")
            raise ValueError(f"expected true or false, got {value!r}")
        if kind in (int, float):
            return kind(value)
        if kind is str:
            return text
        if name in ("signals_enabled", "history_kinds", "media_generators"):
            return tuple(v.strip() for v in value.split(",") if v.strip()) if isinstance(value, str) else tuple(value)
        if isinstance(value, str):  # weights=conversion_rate=1,ctr=0.5 ; fixed_bounds=ctr=0:0.2
            pairs = [p.split("=", 1) for p in value.split(",") if p.strip()]
            if name == "fixed_bounds":
                return {k.strip(): tuple(float(x) for x in v.split(":")) for k, v in pairs}
            if name == "weights":
                return {k.strip(): float(v) for k, v in pairs}
            return {k.strip(): v.strip() for k, v in pairs}
        return dict(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"pages setting {name}: {exc}") from None
