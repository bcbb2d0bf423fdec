"""The gate (spec §9): whether a turn is worth rewriting at all, decided before any model call."""

from __future__ import annotations

from dataclasses import dataclass

from assistant.personas.intents import Intent


@dataclass(frozen=True)
class GateSettings:
    """When not to rewrite; defaults in the README's persona settings."""

    session_seconds: float = 30.0  # skip once the current interaction has lasted longer (0: never skip for this)
    budget_ms: float = 6000.0  # skip online rewriting when it is estimated to cost more than this
    low_power: bool = False  # power-saving mode: never rewrite

    def __post_init__(self) -> None:
        if self.session_seconds < 0 or self.budget_ms < 0:
            raise ValueError("the session threshold and the budget must not be negative")


@dataclass(frozen=True)
class GateDecision:
    """Rewrite or not, and why."""

    modify: bool
    reason: str


def decide(intent: Intent, plain: list[str], *, settings: GateSettings, session_seconds: float = 0.0) -> GateDecision:
    """Rewrite unless the intent is factual, power is low, the interaction is long, or there is nothing to rewrite."""
    if not plain:
        return GateDecision(False, "no plain output to rewrite")
    if intent.factual:
        return GateDecision(False, f"factual intent ({intent.name}): the plain answer is best")
    if settings.low_power:
        return GateDecision(False, "low-power mode")
    if settings.session_seconds and session_seconds > settings.session_seconds:
        return GateDecision(False, f"the interaction has lasted {session_seconds:.0f} s (over {settings.session_seconds:.0f} s)")
    return GateDecision(True, "open-ended")


def within_budget(estimated_ms: float, *, settings: GateSettings) -> GateDecision:
    """The cost check for online rewriting (a precomputed rewrite costs no model call and needs none)."""
    if estimated_ms > settings.budget_ms:
        return GateDecision(False, f"online rewriting would take about {estimated_ms:.0f} ms (budget {settings.budget_ms:.0f} ms)")
    return GateDecision(True, "within budget")
