"""Constrained decoding at the decision point: the model's own log-probabilities pick a tool or a direct answer.

A 270M base model does not reliably start a call on its own, but it ranks continuations sensibly. Wherever a
call may start, every allowed continuation is scored: one per tool opening tag (` <calc>`, ...) and one for
answering directly (the probability mass of every first token that cannot start a tag). The best one wins,
and the model then writes the query itself until the closing tag.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from assistant.backends.base import Backend
from assistant.markup import opening


@dataclass(frozen=True)
class ToolDecision:
    """Chooses between the tools and answering directly by scoring each opening."""

    backend: Backend
    tools: Sequence[str]

    @property
    def options(self) -> list[str]:
        """The continuations scored: one opening tag per tool (the direct answer is scored as `otherwise`)."""
        return [" " + opening(t) for t in self.tools]

    def scores(self, transcript: str) -> dict[str | None, float]:
        """Log-probability of starting each tool's call, and of answering directly (key None)."""
        return dict(zip([*self.tools, None], self.backend.score(transcript, self.options, otherwise=True)))

    def choose(self, transcript: str) -> str | None:
        """The tool to call next, or None to answer directly."""
        scored = self.scores(transcript)
        return max(scored, key=lambda k: scored[k])
