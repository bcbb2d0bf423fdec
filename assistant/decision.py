"""Constrained decoding at the decision point: the model's own log-probabilities pick a tool or a direct answer.

A 270M base model does not reliably start a call on its own, but it does rank continuations sensibly. At each
point where a call may start, every allowed continuation is scored: one per tool opening tag (` <calc>`, ...)
and one for answering directly (every first token that cannot start a tag). The best one wins.

Few-shot scores carry a prior towards whatever the examples favour. Contextual calibration (Zhao et al. 2021,
"Calibrate Before Use") divides it out: the same options are scored after a content-free message, and those
log-probabilities are subtracted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from assistant.backends.base import Backend
from assistant.markup import opening


@dataclass
class ToolDecision:
    """Chooses between the tools and answering directly by scoring each opening."""

    backend: Backend
    tools: Sequence[str]
    calibrate: bool = True
    _baseline: list[float] | None = field(default=None, repr=False)

    @property
    def options(self) -> list[str]:
        """The continuations scored: one opening tag per tool (the direct answer is scored as `otherwise`)."""
        return [" " + opening(t) for t in self.tools]

    def calibrate_on(self, neutral_prompts: Sequence[str]) -> None:
        """Average the option scores over content-free prompts; later decisions subtract them."""
        runs = [self.backend.score(p, self.options, otherwise=True) for p in neutral_prompts]
        self._baseline = [sum(col) / len(runs) for col in zip(*runs)] if runs else None

    def scores(self, transcript: str, *, first_step: bool) -> dict[str, float]:
        """Calibrated log-probability of each tool and of answering (`None` key)."""
        raw = self.backend.score(transcript, self.options, otherwise=True)
        if self.calibrate and first_step and self._baseline:
            raw = [s - b for s, b in zip(raw, self._baseline)]
        return dict(zip([*self.tools, None], raw))

    def choose(self, transcript: str, *, first_step: bool = True) -> str | None:
        """The tool to call next, or None to answer directly."""
        scored = self.scores(transcript, first_step=first_step)
        return max(scored, key=lambda k: scored[k])
