"""The ranker (spec §10): scores plain, modified, additional and modified-additional candidates together.

score = w_confidence * mean(asr, nlu, fulfilment) + w_naturalness * classifier + w_intent * promotion, where the
classifier is the in-character score for a persona's candidate and the naturalness score for a plain one, and
promotion is 1 for plain candidates of a factual intent and for modified candidates of an open-ended one. A
rewrite that loses a fact of its plain output (a number, a time, a name) loses: it is never chosen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Protocol, Sequence

from assistant.personas.types import Candidate, Group

_NUMBER = re.compile(r"\d+(?:[.:,]\d+)*")
_NAME = re.compile(r"\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*\b")
_NOT_NAMES = frozenset("I It It's Its The A An And But Or So Okay Ok Yes No Good Morning Afternoon Evening Night Hello Hi Hey "
                       "Sure Thanks Thank You Your You're Sounds That This There Here What When Where Who Why How Reminder "
                       "Set Done Great Nice Oh Well Very Please Let Any Have Is Are Do Does Will Would Can Could Shall "
                       "Monday Tuesday Wednesday Thursday Friday Saturday Sunday Mon Tue Wed Thu Fri Sat Sun AM PM".split())


class Classifier(Protocol):
    """Scores how natural a text is and how much it sounds like a persona (both in [0, 1])."""

    def naturalness(self, text: str) -> float:
        """How natural and fluent the text is."""

    def in_character(self, text: str, persona: str) -> float:
        """How much the text sounds like `persona`."""


def numbers(text: str) -> set[str]:
    """The numbers of a text other than clock times, without trailing punctuation, thousands separators or leading zeros
    ("$1,949.99" -> "1949.99"); clock times are left out because answers rightly say "8:30 PM" for a result's 20:30."""
    found = (n.rstrip(".,:").replace(",", "") for n in _NUMBER.findall(text))
    return {n.lstrip("0") or "0" for n in found if ":" not in n}


def facts(text: str) -> set[str]:
    """Numbers, times and names in a text: what a rewrite must keep."""
    written = {n.rstrip(".,:") for n in _NUMBER.findall(text)}
    names = set()
    for match in _NAME.finditer(text):
        words = [w for w in match[0].split() if w not in _NOT_NAMES]
        if words:
            names.add(" ".join(words))
    return written | names


def keeps_facts(plain: str, rewrite: str) -> bool:
    """True when every fact of the plain output is still in the rewrite."""
    found = facts(rewrite)
    text = rewrite.lower()
    return all(fact in found or fact.lower() in text for fact in facts(plain))


@dataclass(frozen=True)
class RankerWeights:
    """Weights of the ranking signals (spec §13 defaults)."""

    confidence: float = 0.4
    naturalness: float = 0.4
    intent: float = 0.2

    def __post_init__(self) -> None:
        if min(self.confidence, self.naturalness, self.intent) < 0 or self.confidence + self.naturalness + self.intent <= 0:
            raise ValueError("ranker weights must be non-negative and not all zero")


@dataclass(frozen=True)
class Ranked:
    """A scored candidate and whether it may be chosen."""

    candidate: Candidate
    facts_kept: bool = True


class Ranker:
    """Scores candidates with the confidences, the intent and the classifier; picks the best allowed one."""

    def __init__(self, classifier: Classifier, *, weights: RankerWeights = RankerWeights(), require_modified: bool = False) -> None:
        self.classifier = classifier
        self.weights = weights
        self.require_modified = require_modified

    def score(self, candidate: Candidate, *, factual: bool) -> Candidate:
        """The candidate with its naturalness and overall score filled in."""
        modified = candidate.group in (Group.MODIFIED, Group.MODIFIED_ADDITIONAL)
        natural = self.classifier.naturalness(candidate.text)
        if modified and candidate.persona:
            natural = 0.5 * natural + 0.5 * self.classifier.in_character(candidate.text, candidate.persona)
        confidence = (candidate.asr_conf + candidate.nlu_conf + candidate.fulfillment_score) / 3
        promotion = float(modified != factual)
        w = self.weights
        total = (w.confidence * confidence + w.naturalness * natural + w.intent * promotion) / (w.confidence + w.naturalness + w.intent)
        return replace(candidate, naturalness_score=natural, score=total)

    def rank(self, candidates: Sequence[Candidate], plain: Sequence[Candidate], *, factual: bool) -> list[Ranked]:
        """Every candidate scored, best first; rewrites that lost a fact of their plain output are marked and sink."""
        warm = getattr(self.classifier, "score_many", None)
        if warm is not None:
            warm([c.text for c in candidates])  # one batch through the embedder; the per-candidate calls below hit its cache
        ranked = []
        for candidate in candidates:
            scored = self.score(candidate, factual=factual)
            parent = plain[candidate.parent_plain_id].text if 0 <= candidate.parent_plain_id < len(plain) else ""
            kept = not parent or keeps_facts(parent, candidate.text)
            ranked.append(Ranked(scored, kept))
        return sorted(ranked, key=lambda r: (r.facts_kept, r.candidate.score), reverse=True)

    def choose(self, ranked: Sequence[Ranked]) -> Candidate | None:
        """The best candidate that kept its facts (from a modified set, in modified-required mode, when there is one)."""
        allowed = [r.candidate for r in ranked if r.facts_kept]
        if self.require_modified:
            modified = [c for c in allowed if c.group in (Group.MODIFIED, Group.MODIFIED_ADDITIONAL)]
            allowed = modified or allowed
        return allowed[0] if allowed else None
