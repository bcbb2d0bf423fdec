"""The closed vocabulary of events the agent loop yields, and the turn it adds up to."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Union

from assistant.personas.types import Candidate, Segment


class Outcome(str, Enum):
    """How a turn ended."""

    ANSWER = "answer"  # the model wrote a call-free output
    STEP_LIMIT = "step_limit"  # max_steps calls were made; a final answer was forced
    REJECTED = "rejected"  # the input was refused before the model ran (empty, too long)
    FAILED = "failed"  # the backend failed; the user got an apology, not a traceback


@dataclass(frozen=True)
class TextDelta:
    """A piece of answer text, safe to show as it arrives."""

    text: str


@dataclass(frozen=True)
class ToolCall:
    """The model asked a tool for something."""

    tool: str
    query: str
    step: int


@dataclass(frozen=True)
class ToolResult:
    """What the tool answered; `ok` is false when the text is an error the model will read."""

    tool: str
    query: str
    result: str
    seconds: float
    ok: bool
    step: int


@dataclass(frozen=True)
class Notice:
    """A message for the user that is not the model's answer (input refused, step limit reached)."""

    text: str
    kind: str


@dataclass(frozen=True)
class Call:
    """One completed tool call in a turn's trace."""

    tool: str
    query: str
    result: str
    seconds: float
    ok: bool = True
    step: int = 0

    def to_dict(self) -> dict:
        """The JSON shape used by the CLI and the API."""
        return {"tool": self.tool, "query": self.query, "result": self.result, "seconds": round(self.seconds, 3), "ok": self.ok}


@dataclass(frozen=True)
class Timings:
    """Where a turn's time went, in seconds."""

    model: float = 0.0
    tools: float = 0.0
    total: float = 0.0

    @property
    def overhead(self) -> float:
        """Loop time that was neither the model nor a tool."""
        return max(0.0, self.total - self.model - self.tools)

    def to_dict(self) -> dict:
        """The JSON shape used by the CLI and benchmarks."""
        return {k: round(v, 3) for k, v in (("model", self.model), ("tools", self.tools), ("overhead", self.overhead), ("total", self.total))}


@dataclass(frozen=True)
class FinalAnswer:
    """The last event of every turn."""

    text: str
    calls: tuple[Call, ...] = ()
    outcome: Outcome = Outcome.ANSWER
    timings: Timings = field(default_factory=Timings)
    persona: str = ""  # who spoke the main part ("" when personas are off)
    segments: tuple[Segment, ...] = ()  # the reply's parts, each with its persona and prosody (empty: one plain part)
    candidates: tuple[Candidate, ...] = ()  # what the persona stage chose from


Event = Union[TextDelta, ToolCall, ToolResult, Notice, FinalAnswer]


@dataclass(frozen=True)
class Turn:
    """A finished turn: the answer, the calls made on the way, and timings."""

    text: str
    calls: tuple[Call, ...]
    outcome: Outcome
    timings: Timings
    notices: tuple[str, ...] = ()
    persona: str = ""
    segments: tuple[Segment, ...] = ()
    candidates: tuple[Candidate, ...] = ()

    def to_dict(self) -> dict:
        """The JSON shape printed by `python -m assistant chat --json`."""
        return {
            "text": self.text,
            "calls": [c.to_dict() for c in self.calls],
            "outcome": self.outcome.value,
            "notices": list(self.notices),
            "timings": self.timings.to_dict(),
            "persona": self.persona,
            "segments": [{"persona": s.persona, "text": s.text} for s in self.segments],
            "candidates": [c.to_dict() for c in self.candidates],
        }
