"""Online persona rewriting (spec §5): the model turns a plain output into a persona's reply, given the context."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import yaml

from assistant.backends.base import Backend
from assistant.markup import clean_text
from assistant.prompts import render
from assistant.personas.types import Context, Persona

PROMPTS_FILE = Path(__file__).with_name("prompts.yaml")
MODES = ("auto", "choose", "frame", "free")
_TIMES_OF_DAY = ("morning", "afternoon", "evening", "night", "tonight")
MAX_PART_CHARS = 160  # an opening or a closing
MIN_LIKENESS = 0.2  # choose mode: how alike (Jaccard of words) an example's plain output must be to lend its phrases
NEAREST_EXAMPLES = 3  # choose mode: openings and closings come from (at most this many of) the examples most like the plain output
MAX_REWRITE_CHARS = 400
MAX_EXAMPLES = 6
_MARKUP = re.compile(r"<[^>]*>|[\[\]{}|]")


@lru_cache(maxsize=1)
def prompts() -> dict[str, str]:
    """The rewrite prompt templates (prompts.yaml)."""
    return yaml.safe_load(PROMPTS_FILE.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Frame:
    """A persona example split around its plain output: what the persona says before and after it."""

    plain: str
    opens: str
    closes: str
    rewrite: str


def frames(persona: Persona) -> list[Frame]:
    """The persona's examples; `opens`/`closes` are set where the rewrite keeps the plain output word for word."""
    found = []
    for plain, rewrite in persona.examples:
        at = rewrite.find(plain)
        opens, closes = (rewrite[:at].strip(), rewrite[at + len(plain):].strip()) if at >= 0 else ("", "")
        found.append(Frame(plain, opens, closes, rewrite))
    return found


def situation(context: Context) -> str:
    """'morning on Tuesday, talking with Ann' from the context."""
    when = " on ".join(part for part in (context.time_of_day, context.day_of_week) if part) or "daytime"
    return when + (f", talking with {context.user_name}" if context.user_name else "")


def tidy(text: str, *, limit: int = MAX_PART_CHARS) -> str:
    """One line of model output made safe to show: no markup, no control characters, whole sentences, capped."""
    text = _MARKUP.sub("", clean_text(text)).strip().strip('"').strip()
    text = " ".join(text.split())
    if len(text) > limit:
        cut = max(text.rfind(mark, 0, limit) for mark in ".!?")
        text = text[: cut + 1] if cut > 0 else ""
    return text


def _echoes(part: str, *texts: str) -> bool:
    """A part that mostly repeats the user's message or the plain output says nothing new."""
    words = set(re.findall(r"[a-z']+", part.lower()))
    if not words:
        return True
    return any(len(words & set(re.findall(r"[a-z']+", t.lower()))) / len(words) >= 0.7 for t in texts if t)


_COMMON = frozenset("a an the is are was be to of for in on at and or but it it's i you your my me we that this".split())


def _shape(text: str) -> set[str]:
    """The words of a text with every digit as 0, so "It's 8:30 AM." and "It's 7:45 AM." look alike."""
    return set(re.findall(r"[a-z0-9']+(?::0)?", re.sub(r"\d+", "0", text.lower()))) - _COMMON


def phrases(persona: Persona, part: str, context: Context, plain: str = "") -> list[str]:
    """The persona's openings or closings (`part`: opens | closes) from its examples, minus those for another time of day.

    With `plain`, only those of the examples most like it (most shared words, digits alike, common words aside), so that
    an opening written for a clock reading is not offered for a reminder; all of them when no example is alike.
    """
    eligible = []
    for frame in frames(persona):
        text = getattr(frame, part)
        words = set(re.findall(r"[a-z]+", text.lower()))
        if text and not any(t in words and t != context.time_of_day for t in _TIMES_OF_DAY if context.time_of_day):
            eligible.append(frame)
    if plain:
        shape = _shape(plain)
        # shared words, counted only for examples alike enough (Jaccard >= MIN_LIKENESS): one shared "thanks" does not
        # make "Thanks for telling me." a model for "I'm doing well, thanks for asking!"
        shared = {}
        for f in eligible:
            other = _shape(f.plain)
            alike = len(shape & other) >= MIN_LIKENESS * len(shape | other)
            shared[id(f)] = len(shape & other) if alike else 0
        best = max(shared.values(), default=0)
        if best:
            eligible = [f for f in eligible if shared[id(f)] == best][:NEAREST_EXAMPLES]
    return list(dict.fromkeys(getattr(f, part) for f in eligible))


class PersonaRewriter:
    """Rewrites plain outputs in a persona's voice with any backend.

    Modes: `choose` (the model's log-probabilities pick the persona's opening and closing for this context from its own
    phrases: one scoring pass per part, and nothing off-character can come out; the default for backends that score),
    `frame` (the model writes an opening and a closing around the plain output, kept word for word), `free` (it rewrites
    everything; for bigger models). `auto` is `choose` when the backend can score, else `frame`.
    """

    def __init__(self, backend: Backend, *, mode: str = "auto", max_tokens: int = 24, temperature: float = 0.8) -> None:
        if mode not in MODES:
            raise ValueError(f"rewrite mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.backend = backend
        if mode == "auto":
            mode = "choose" if backend.can_score else "frame"
        if mode == "choose" and not backend.can_score:
            raise ValueError(f"rewrite mode choose needs a backend that scores continuations; {backend.name} cannot (use frame)")
        self.mode = mode
        self.max_tokens = max_tokens
        self.temperature = temperature  # for the second and later rewrites; the first is greedy
        self.calls = 0  # model calls made (the precompute report and the tests count them)
        self.seconds = 0.0

    def _complete(self, prompt: str, *, temperature: float) -> str:
        started = time.perf_counter()
        try:
            return self.backend.complete(prompt, stop=["\n"], max_tokens=self.max_tokens, temperature=temperature)
        finally:
            self.calls += 1
            self.seconds += time.perf_counter() - started

    def rewrite(self, query: str, context: Context, plain_outputs: Sequence[str], persona: Persona, *, n: int = 1,
                closes: bool = True) -> list[str]:
        """Up to `n` distinct rewrites of the first plain output by `persona` (fewer when the model repeats itself)."""
        plain = next((p for p in plain_outputs if p.strip()), "")
        if not plain or n < 1:
            return []
        label = persona.name.capitalize()
        shown = [f for f in frames(persona) if (f.opens or f.closes) if self.mode == "frame"] or frames(persona)
        values = {"persona": persona, "examples": shown[:MAX_EXAMPLES], "label": label, "situation": situation(context),
                  "query": tidy(query, limit=300), "plain": plain}
        prompt = render(prompts()["free" if self.mode == "free" else "frame"], **values)
        if self.mode == "choose":
            return self._choose(prompt, plain, query, label, context, persona, n, closes)
        found: list[str] = []
        for attempt in range(n):
            temperature = 0.0 if attempt == 0 else self.temperature
            text = self._frame(prompt, plain, query, label, temperature, closes) if self.mode == "frame" else \
                tidy(self._complete(prompt, temperature=temperature), limit=MAX_REWRITE_CHARS)
            if text and text != plain and text not in found:
                found.append(text)
        return found

    def _frame(self, prompt: str, plain: str, query: str, label: str, temperature: float, closes: bool) -> str:
        opens = tidy(self._complete(prompt, temperature=temperature))
        if _echoes(opens, query, plain):
            opens = ""
        after = ""
        if closes:
            suffix = render(prompts()["closes_suffix"], label=label)
            after = tidy(self._complete(f"{prompt} {opens}{suffix}", temperature=temperature))
            if _echoes(after, query, plain, opens):
                after = ""
        return " ".join(part for part in (opens, plain, after) if part)

    def _best(self, prompt: str, options: Sequence[str], n: int) -> list[str]:
        """The `n` options the model finds likeliest after `prompt`, by mean log-probability per word."""
        if not options:
            return []
        started = time.perf_counter()
        try:
            scores = self.backend.score(prompt, [f" {o}" for o in options])
        finally:
            self.calls += 1
            self.seconds += time.perf_counter() - started
        ranked = sorted(zip(scores, options), key=lambda pair: pair[0] / max(1, len(pair[1].split())), reverse=True)
        return [option for _, option in ranked[:n]]

    def _choose(self, prompt: str, plain: str, query: str, label: str, context: Context, persona: Persona, n: int,
                closes: bool) -> list[str]:
        openings = self._best(prompt, [o for o in phrases(persona, "opens", context, plain) if not _echoes(o, query, plain)], n)
        found: list[str] = []
        for i, opens in enumerate(openings or [""]):
            after = ""
            if closes:
                suffix = render(prompts()["closes_suffix"], label=label)
                options = [c for c in phrases(persona, "closes", context, plain) if not _echoes(c, query, plain, opens)]
                best = self._best(f"{prompt} {opens}{suffix}", options, i + 1)
                after = best[min(i, len(best) - 1)] if best else ""
            text = " ".join(part for part in (opens, plain, after) if part)
            if text != plain and text not in found:
                found.append(text)
        return found
