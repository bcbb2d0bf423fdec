"""Does a new turn contradict a remembered one? A rule that works offline, and an LLM judge."""

from __future__ import annotations

import re
from typing import Protocol

from assistant.backends.base import Backend
from assistant.markup import neutralise

_FILLER = re.compile(r"\b(now|actually|anymore|again|currently|these days|at the moment|already|still|just|really|by the way)\b", re.I)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.I)
_WHEN = re.compile(r"\b(last|this|next) (week|month|year|weekend)\b|\b(yesterday|today|recently|lately|since \w+)\b", re.I)
# (subject, value) patterns, tried in order; the subject names what the fact is about.
_FACTS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\bmy ([a-z' -]{2,40}?)'s name is ([^.,;!?]+)", re.I), "my {0}"),
    (re.compile(r"\bmy ([a-z' -]{2,40}?)(?:'s| is| are|'re)(?: called| named)? ([^.,;!?]+)", re.I), "my {0}"),
    (re.compile(r"\bi (live|work|study|stay) (?:in|at|for|near) ([^.,;!?]+)", re.I), "i {0}"),
    (re.compile(r"\bi(?:'ve| have) moved to ([^.,;!?]+)", re.I), "i live"),
    (re.compile(r"\bi moved to ([^.,;!?]+)", re.I), "i live"),
    (re.compile(r"\bi(?:'m| am) (\d{1,3}) (?:years? old|now)", re.I), "my age"),
    (re.compile(r"\bi(?:'m| am) allergic to ([^.,;!?]+)", re.I), "my allergy"),
    (re.compile(r"\bi(?:'m| am) (?:a|an) ([a-z -]{3,40}?) (?:by profession|for a living)\b", re.I), "my job"),
]


def _clean(text: str) -> str:
    return " ".join(_ARTICLES.sub(" ", _FILLER.sub(" ", _WHEN.sub(" ", text.lower()))).split())


def facts(text: str) -> dict[str, str]:
    """The (subject → value) facts a statement makes, e.g. "My dog is called Rex" → {"my dog": "rex"}."""
    found: dict[str, str] = {}
    for pattern, subject in _FACTS:
        for match in pattern.finditer(text):
            groups = match.groups()
            key = subject.format(*(_clean(g) for g in groups[:-1])) if len(groups) > 1 else subject
            value = _clean(groups[-1])
            if value and key not in found:
                found[" ".join(key.split())] = value
    return found


class ConflictDetector(Protocol):
    """Decides whether two remembered statements cannot both be true."""

    def conflicts(self, new: str, old: str) -> bool:
        """True when `new` contradicts `old`."""


class FactConflicts:
    """Offline default: the same subject with a different value ("my dog is called Rex" → "… Max")."""

    def conflicts(self, new: str, old: str) -> bool:
        """True when both state a fact about one subject and the values differ."""
        before, after = facts(old), facts(new)
        return any(subject in before and before[subject] != value for subject, value in after.items())


JUDGE_PROMPT = """Do the two statements contradict each other? Answer yes or no.

Statement 1: My dog is called Rex.
Statement 2: My dog is called Max now.
Contradict: yes

Statement 1: I live in Leeds.
Statement 2: I love pizza.
Contradict: no

Statement 1: My sister is called Anna.
Statement 2: My brother is called Tom.
Contradict: no

Statement 1: I work at a bakery.
Statement 2: I started a new job at the library.
Contradict: yes

Statement 1: {old}
Statement 2: {new}
Contradict:"""


class JudgeConflicts:
    """An LLM judge: few-shot yes/no, read from the model's log-probabilities when it can score."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def conflicts(self, new: str, old: str) -> bool:
        """Ask the model; outside text is neutralised and kept to one line."""
        prompt = JUDGE_PROMPT.format(old=neutralise(" ".join(old.split()))[:500], new=neutralise(" ".join(new.split()))[:500])
        if self.backend.can_score:
            yes, no = self.backend.score(prompt, [" yes", " no"])
            return yes > no
        return self.backend.complete(prompt, stop=["\n"], max_tokens=3).strip().lower().startswith("yes")
