"""The data of persona rewriting (spec: personas-rewriting.md §3): context, personas, candidates, spoken segments."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Group(str, Enum):
    """Which set a candidate reply belongs to."""

    PLAIN = "plain"  # from fulfilment: tool results through templates, and the agent's own answer
    MODIFIED = "modified"  # a persona's rewrite of a plain output
    ADDITIONAL = "additional"  # the answer to the hidden proactive query, as fulfilment gave it
    MODIFIED_ADDITIONAL = "modified_additional"  # that answer rewritten by a persona


class Provenance(str, Enum):
    """Where a modified candidate came from."""

    FULFILMENT = "fulfilment"  # plain outputs
    ONLINE = "online"  # rewritten by the model during the turn
    OFFLINE = "offline"  # fetched from the precomputed index


@dataclass(frozen=True)
class Prosody:
    """How a persona sounds; espeak-ng units (words per minute, pitch 0-99), pauses in milliseconds."""

    rate: int = 165  # words per minute
    pitch: int = 50  # 0-99, espeak-ng's scale
    pitch_range: int = 50  # 0-99: flat to lively intonation
    pause_ms: int = 10  # extra pause between words
    sentence_pause_ms: int = 300  # pause at the end of each segment
    voice: str = "en-us"  # espeak-ng voice (or a speaker id for a transformers TTS model)

    def __post_init__(self) -> None:
        if not 80 <= self.rate <= 450:
            raise ValueError(f"prosody rate must be 80-450 words per minute, got {self.rate}")
        for name in ("pitch", "pitch_range"):
            if not 0 <= getattr(self, name) <= 99:
                raise ValueError(f"prosody {name} must be 0-99, got {getattr(self, name)}")
        if not 0 <= self.pause_ms <= 2000 or not 0 <= self.sentence_pause_ms <= 5000:
            raise ValueError("prosody pauses must be 0-2000 ms (words) and 0-5000 ms (segments)")


@dataclass(frozen=True)
class ParameterSet:
    """What conditions the model to speak as a persona. Today a prompt; the seam for a soft prompt or an adapter."""

    kind: str = "prompt"  # prompt | soft_prompt | adapter
    prompt: str = ""  # kind=prompt: the persona's instructions and style, rendered into the rewrite prompt
    path: str = ""  # kind=soft_prompt or adapter: where the trained weights live


@dataclass(frozen=True)
class Persona:
    """A voice the assistant can speak in: words it favours, its style, examples of it, how it sounds."""

    name: str
    description: str
    parameter_set: ParameterSet
    vocabulary: tuple[str, ...] = ()  # words and phrases it favours
    sub_vocabularies: dict[str, tuple[str, ...]] = field(default_factory=dict)  # e.g. {"indian": (...), "mediterranean": (...)}
    style: str = ""  # e.g. "formal, concise, courteous"
    examples: tuple[tuple[str, str], ...] = ()  # (plain output, this persona's rewrite) pairs
    prosody: Prosody = field(default_factory=Prosody)


@dataclass(frozen=True)
class Context:
    """The conversation context (spec §3), passed to the rewriter, the matcher and the ranker."""

    time_of_day: str = ""  # morning | afternoon | evening | night
    day_of_week: str = ""  # Monday ...
    local_time: str = ""  # e.g. "8:30 AM"
    location: str = ""  # e.g. "primary residence", or a city
    ambient_noise: str = ""  # quiet | noisy | unknown
    user_name: str = ""
    profile: dict[str, Any] = field(default_factory=dict)  # the user's Profile.to_dict()
    app_data: dict[str, Any] = field(default_factory=dict)  # e.g. upcoming reminders
    known_environment: dict[str, Any] = field(default_factory=dict)
    session_history: tuple[tuple[str, str], ...] = ()  # (user, assistant) turns of this session
    prior_sessions: tuple[str, ...] = ()  # remembered earlier queries
    utterance_position: int = 0  # 0 for a session's first message
    session_seconds: float = 0.0  # how long this session has lasted

    def signals(self) -> dict[str, str]:
        """The discrete context signals used as index keys and for context matching."""
        return {k: v for k, v in (("time_of_day", self.time_of_day), ("day_of_week", self.day_of_week),
                                  ("location", self.location), ("ambient_noise", self.ambient_noise),
                                  ("position", "opener" if self.utterance_position == 0 else "follow-up")) if v}


@dataclass(frozen=True)
class Candidate:
    """One possible reply (or part of one), with what the ranker needs to know about it."""

    text: str
    group: Group
    persona: str = ""  # empty for plain candidates
    provenance: Provenance = Provenance.FULFILMENT
    parent_plain_id: int = -1  # index of the plain output it rewrites, -1 if none
    asr_conf: float = 1.0  # 1.0 for typed input
    nlu_conf: float = 1.0
    fulfillment_score: float = 1.0
    naturalness_score: float = 0.0  # filled by the ranker's classifier
    score: float = 0.0  # the ranker's overall score

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of `--json` output: source set, persona, text and score."""
        return {"group": self.group.value, "persona": self.persona, "provenance": self.provenance.value, "text": self.text,
                "score": round(self.score, 4), "naturalness": round(self.naturalness_score, 4)}


@dataclass(frozen=True)
class Segment:
    """A piece of the final reply spoken by one persona, with that persona's prosody."""

    text: str
    persona: str
    prosody: Prosody = field(default_factory=Prosody)
