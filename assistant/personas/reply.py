"""The persona stage of a turn: plain outputs -> gate -> rewrites (precomputed or online) -> proactive part -> ranking.

`PersonaStage.respond` takes what the agent did (its answer and tool calls) and gives the reply the user sees and
hears: one or more segments, each spoken by one persona, with every candidate it was chosen from.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol, Sequence

from assistant.backends.base import Backend
from assistant.personas.gate import GateSettings, decide, within_budget
from assistant.personas.intents import OPEN, Intent, classify, plain_outputs
from assistant.personas.proactive import Additional, additional_outputs
from assistant.personas.ranking import Classifier, Ranker, RankerWeights, facts, numbers
from assistant.personas.rewriter import PersonaRewriter
from assistant.personas.types import Candidate, Context, Group, Persona, Provenance, Segment
from assistant.types import Call
from tools.registry import ToolContext, ToolRegistry

log = logging.getLogger(__name__)

FALLBACKS = ("online", "plain")
FIRST_GUESS_MS = 700.0  # one rewrite model call, before any was measured (embedded model, 2 CPU cores)


@dataclass(frozen=True)
class PersonaSettings:
    """How the persona stage behaves; each field has an ASSISTANT_PERSONA_* setting (README)."""

    rewrites_per_plain: int = 1  # spec §13 suggests 2; one keeps a CPU turn short
    mode: str = "auto"  # choose | frame | free | auto (assistant/personas/rewriter.py)
    proactive: bool = True  # ask the hidden additional query of a related intent
    require_modified: bool = False  # modified-required mode (spec §10)
    no_match_fallback: str = "online"  # what to do when the precomputed index has nothing: online | plain
    time_class: str = OPEN  # class of "what time is it?" (spec §9): open | factual
    gate: GateSettings = field(default_factory=GateSettings)
    weights: RankerWeights = field(default_factory=RankerWeights)

    def __post_init__(self) -> None:
        if not 0 <= self.rewrites_per_plain <= 8:
            raise ValueError("rewrites per plain output must be 0-8")
        if self.no_match_fallback not in FALLBACKS:
            raise ValueError(f"no_match_fallback must be one of {', '.join(FALLBACKS)}")


class PersonaBook(Protocol):
    """Where personas come from (assistant/personas/registry.py)."""

    def get(self, name: str) -> Persona:
        """The persona of this name; raises UnknownPersona."""


class RewriteLookup(Protocol):
    """The precomputed index (assistant/personas/index.py)."""

    def match(self, query: str, context: Context, plain_outputs: Sequence[str], *, user_id: str, persona: str) -> Any:
        """A match with `.outputs` (texts) and `.how`, or None."""


@dataclass(frozen=True)
class Reply:
    """The reply of a turn: its text, the segments to speak, and what the ranker chose from."""

    text: str
    segments: tuple[Segment, ...]
    persona: str  # the persona of the main part
    intent: Intent
    candidates: tuple[Candidate, ...]  # every candidate, scored, best first within its group
    gate: str  # why the turn was or was not rewritten
    notes: tuple[str, ...] = ()  # degradations the user should know about (unknown persona, nothing matched…)
    hidden_queries: tuple[str, ...] = ()  # additional queries asked; never part of `text`


def time_of_day(hour: int) -> str:
    """morning 5-12, afternoon 12-17, evening 17-21, night otherwise."""
    return "morning" if 5 <= hour < 12 else "afternoon" if 12 <= hour < 17 else "evening" if 17 <= hour < 21 else "night"


def make_context(now: datetime, *, profile: dict[str, Any], session: Sequence[tuple[str, str]] = (), position: int = 0,
                 session_seconds: float = 0.0, location: str = "", prior: Sequence[str] = ()) -> Context:
    """The conversation context of a turn from the user's local time, profile and session."""
    clock = f"{(now.hour - 1) % 12 + 1}:{now.minute:02d} {'AM' if now.hour < 12 else 'PM'}"
    return Context(time_of_day=time_of_day(now.hour), day_of_week=f"{now:%A}", local_time=clock,
                   location=location or str(profile.get("location") or ""), user_name=str(profile.get("name") or ""),
                   profile=dict(profile), session_history=tuple(session), prior_sessions=tuple(prior), utterance_position=position,
                   session_seconds=session_seconds)


class PersonaStage:
    """Chooses and writes the reply of a turn in character."""

    def __init__(self, backend: Backend, personas: PersonaBook, classifier: Classifier, *, settings: PersonaSettings = PersonaSettings(),
                 index: RewriteLookup | None = None) -> None:
        self.personas = personas
        self.settings = settings
        self.index = index
        self.rewriter = PersonaRewriter(backend, mode=settings.mode)
        self.ranker = Ranker(classifier, weights=settings.weights, require_modified=settings.require_modified)
        self._ms_per_call = FIRST_GUESS_MS
        self._lock = threading.Lock()

    def estimate_ms(self, additional: int = 0) -> float:
        """What online rewriting of this turn would cost: model calls times the measured time per call."""
        per_rewrite = 1 if self.rewriter.mode == "free" else 2  # an opening and a closing
        return (self.settings.rewrites_per_plain * per_rewrite + additional) * self._ms_per_call

    def _rewrite(self, query: str, context: Context, plain: Sequence[str], persona: Persona, *, n: int, closes: bool = True) -> list[str]:
        with self._lock:  # one rewriter, its counters and the time estimate are shared by concurrent turns
            calls, seconds = self.rewriter.calls, self.rewriter.seconds
            found = self.rewriter.rewrite(query, context, plain, persona, n=n, closes=closes)
            made = self.rewriter.calls - calls
            if made:
                self._ms_per_call = 0.7 * self._ms_per_call + 0.3 * 1000 * (self.rewriter.seconds - seconds) / made
        return found

    def respond(self, message: str, *, answer: str, calls: Sequence[Call], context: Context, persona: Persona, pinned: bool,
                user_id: str, tools: ToolRegistry, ctx: ToolContext, today: str = "", answered: bool = True) -> Reply:
        """The reply for a turn the agent answered with `answer` after `calls`; never raises for bad model output."""
        intent = classify(message, calls, time_class=self.settings.time_class)
        texts = plain_outputs(intent, calls, answer, time_of_day=context.time_of_day, today=today)
        plain = self._plain(texts, answer, intent, calls, answered, message=message)
        notes: list[str] = []
        gate = decide(intent, texts, settings=self.settings.gate, session_seconds=context.session_seconds)
        modified: list[Candidate] = []
        extras: list[tuple[Additional, list[Candidate]]] = []
        if gate.modify:
            best = max(range(len(plain)), key=lambda i: self.ranker.score(plain[i], factual=False).score)
            ordered = [texts[best], *(t for i, t in enumerate(texts) if i != best)]  # the rewriter rewrites the best plain output
            modified = [replace(c, parent_plain_id=best) for c in self._modified(message, context, ordered, persona, user_id, notes)]
            if self.settings.proactive:
                extras = self._additional(intent, context, persona, pinned, tools, ctx, message)
        ranked = self.ranker.rank(plain + modified, plain, factual=intent.factual)
        main = self.ranker.choose(ranked) or (plain[0] if plain else Candidate(answer, Group.PLAIN))
        if main.group is Group.PLAIN and any(not r.facts_kept for r in ranked):
            notes.append("Answered plainly: the persona's rewrite lost a fact of the answer.")
        segments = [Segment(main.text, main.persona or persona.name, self._prosody(main.persona or persona.name))]
        every = [r.candidate for r in ranked]
        for item, group in extras:
            ranked_extra = self.ranker.rank(group, group[:1], factual=intent.factual)
            chosen = self.ranker.choose(ranked_extra)
            every.extend(r.candidate for r in ranked_extra)
            if chosen is None:
                continue
            speaker = chosen.persona or item.persona or persona.name
            segment = Segment(chosen.text, speaker, self._prosody(speaker))
            segments = [segment, *segments] if item.position == "before" else [*segments, segment]
        text = " ".join(s.text for s in segments)
        return Reply(text, tuple(segments), main.persona or persona.name, intent, tuple(every), gate.reason, tuple(notes),
                     tuple(item.query for item, _ in extras))

    @staticmethod
    def _plain(texts: list[str], answer: str, intent: Intent, calls: Sequence[Call], answered: bool, *,
               message: str = "") -> list[Candidate]:
        """Plain candidates, scored by how many facts of the tool results they carry ("Done." says less than "Reminder set
        for 10:30 AM."); at equal coverage the agent's own answer is preferred to a template, unless it has a number that
        is in no tool result and not in the message (an invented price or time), when a template over the results wins."""
        tool_ok = all(c.ok for c in calls if c.step > 0)
        agent = " ".join(answer.split())
        sources = [c.result for c in calls if c.ok] + [message]
        invented = bool(calls) and not numbers(agent) <= set().union(*(numbers(t) for t in sources))
        wanted = set().union(*(facts(t) for t in texts if t != agent))  # the templates are built from the tool results
        found = []
        used_tools = any(c.step > 0 for c in calls)
        for text in texts:
            coverage = len(wanted & facts(text)) / len(wanted) if wanted else 1.0
            if not (tool_ok and answered):
                score = 0.5
            elif text == agent:
                score = 0.7 if invented and len(texts) > 1 else 0.8 + 0.2 * coverage
            else:  # a template: over tool results it is as good as what it carries; without any, a stock reaction ("Hi there!")
                score = 0.78 + 0.2 * coverage if used_tools else 0.6
            found.append(Candidate(text, Group.PLAIN, nlu_conf=intent.confidence, fulfillment_score=score))
        return found

    def _modified(self, message: str, context: Context, plain: list[str], persona: Persona, user_id: str, notes: list[str]) -> list[Candidate]:
        """The modified set: from the precomputed index when it matches, else online (or nothing), as configured."""
        if self.index is not None:
            try:
                match = self.index.match(message, context, plain, user_id=user_id, persona=persona.name)
            except Exception:
                log.exception("the precomputed index failed; rewriting online")
                match = None
            if match is not None and match.outputs:
                return [Candidate(t, Group.MODIFIED, persona=persona.name, provenance=Provenance.OFFLINE, parent_plain_id=0)
                        for t in match.outputs]
        if self.settings.no_match_fallback == "plain":
            return []
        budget = within_budget(self.estimate_ms(), settings=self.settings.gate)
        if not budget.modify:
            notes.append(f"Answered plainly: {budget.reason}.")
            return []
        rewrites = self._rewrite(message, context, plain, persona, n=self.settings.rewrites_per_plain)
        return [Candidate(t, Group.MODIFIED, persona=persona.name, provenance=Provenance.ONLINE, parent_plain_id=0) for t in rewrites]

    def _additional(self, intent: Intent, context: Context, persona: Persona, pinned: bool, tools: ToolRegistry, ctx: ToolContext,
                    message: str) -> list[tuple[Additional, list[Candidate]]]:
        """For each fulfilled additional query: its raw answer and that answer rewritten by the persona that speaks it."""
        found = []
        for item in additional_outputs(intent, context.profile, tools=tools, ctx=ctx):
            speaker = self._speaker(item.persona, persona, pinned)
            group = [Candidate(item.answer, Group.ADDITIONAL, persona="", nlu_conf=intent.confidence)]
            if self.settings.rewrites_per_plain and within_budget(self.estimate_ms(1), settings=self.settings.gate).modify:
                rewrites = self._rewrite(message, context, [item.answer], speaker, n=1, closes=False)
                group += [Candidate(t, Group.MODIFIED_ADDITIONAL, persona=speaker.name, provenance=Provenance.ONLINE, parent_plain_id=0)
                          for t in rewrites]
            found.append((replace(item, persona=speaker.name), group))
        return found

    def _speaker(self, wanted: str, persona: Persona, pinned: bool) -> Persona:
        """Who speaks a part: the pinned persona for everything, else the part's own persona when it exists."""
        if pinned or not wanted:
            return persona
        try:
            return self.personas.get(wanted)
        except Exception:
            return persona

    def _prosody(self, name: str):
        try:
            return self.personas.get(name).prosody
        except Exception:
            from assistant.personas.types import Prosody

            return Prosody()
