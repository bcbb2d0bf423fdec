"""How a turn matches a precomputed rewrite (spec §6.7): the settings, text normalisation, distances and the match rule.

Kinds of match, checked per index entry:

- query: `exact` (same text), `soft` (same after folding case, punctuation and whitespace), `edit_distance`
  (normalised distance ≤ `edit_distance_max`), `embedding` (cosine of the query embeddings ≥ `query_embedding_threshold`);
- `context`: the signals named in `context_signals` agree, or the context embeddings reach `context_embedding_threshold`;
- `output`: one of the turn's plain outputs equals (softly) or embeds close to one the entry was made from.

The rule (`MatchRule`) says which combinations qualify; of the qualifying entries the best is chosen by `rank_key`.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from enum import Enum
from typing import Sequence

import numpy as np

from assistant.personas.types import Context

SIGNAL_NAMES = ("time_of_day", "day_of_week", "location", "ambient_noise", "position")
MAX_DISTANCE_TOKENS = 64  # longer texts are compared on their first 64 words (or 256 characters): bounded cost per entry
_NOT_WORD = re.compile(r"[^\w\s]|_")


class MatchKind(str, Enum):
    """One way an entry matched the turn."""

    EXACT = "exact"
    SOFT = "soft"
    EDIT_DISTANCE = "edit_distance"
    EMBEDDING = "embedding"
    CONTEXT = "context"
    OUTPUT = "output"


QUERY_KINDS = (MatchKind.EXACT, MatchKind.SOFT, MatchKind.EDIT_DISTANCE, MatchKind.EMBEDDING)
FUZZY_KINDS = (MatchKind.EDIT_DISTANCE, MatchKind.EMBEDDING)


class MatchRule(str, Enum):
    """Which combinations of match kinds make an entry usable."""

    QUERY = "query"  # any query match
    CORROBORATED = "corroborated"  # exact or soft alone; a fuzzy query match also needs a context or output match
    STRICT = "strict"  # any query match, plus a context or output match
    ANY = "any"  # any single kind, context or output alone included (the spec's widest reading)


class ContextEmbedding(str, Enum):
    """What the context embedding is the embedding of."""

    SIGNALS = "signals"  # a sentence made from the context signals: "evening, Tuesday, at primary residence, opening message"
    SIGNALS_HISTORY = "signals_history"  # that sentence plus the last two user turns of the session
    NONE = "none"  # no context embedding; context matches by signals only


@dataclass(frozen=True)
class MatchSettings:
    """The matcher's settings; defaults from spec §13 where it gives one."""

    edit_distance_max: float = 0.5  # normalised, 0-1
    edit_distance_unit: str = "word"  # word | char
    edit_distance_metric: str = "indel"  # indel (a substitution is a deletion plus an insertion) | levenshtein
    query_embedding_threshold: float = 0.8  # cosine
    context_embedding_threshold: float = 0.8  # cosine
    output_embedding_threshold: float = 0.8  # cosine, plain outputs
    context_signals: tuple[str, ...] = ("time_of_day", "location")  # signals that must agree for a context match
    context_embedding: ContextEmbedding = ContextEmbedding.SIGNALS
    rule: MatchRule = MatchRule.CORROBORATED
    precompute_scope: str = "user"  # user | population: whose logged queries `precompute` reads by default
    no_match_fallback: str = "online"  # online | plain: what the caller does when nothing matches
    serve_pending: bool = True  # entries nobody reviewed yet are served (review is optional, spec §6.4)
    refresh_plain: bool = True  # outputs quoting the stored plain output get the turn's own plain output instead

    def __post_init__(self) -> None:
        object.__setattr__(self, "context_embedding", ContextEmbedding(self.context_embedding))
        object.__setattr__(self, "rule", MatchRule(self.rule))
        object.__setattr__(self, "context_signals", tuple(self.context_signals))
        if not 0.0 <= self.edit_distance_max <= 1.0:
            raise ValueError(f"edit_distance_max must be 0-1 (normalised), got {self.edit_distance_max}")
        for name in ("query_embedding_threshold", "context_embedding_threshold", "output_embedding_threshold"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a cosine in (0, 1], got {getattr(self, name)}")
        if self.edit_distance_unit not in ("word", "char"):
            raise ValueError(f"edit_distance_unit must be word or char, got {self.edit_distance_unit!r}")
        if self.edit_distance_metric not in ("indel", "levenshtein"):
            raise ValueError(f"edit_distance_metric must be indel or levenshtein, got {self.edit_distance_metric!r}")
        unknown = [s for s in self.context_signals if s not in SIGNAL_NAMES]
        if unknown or not self.context_signals:
            raise ValueError(f"context_signals must be some of {', '.join(SIGNAL_NAMES)}, got {list(self.context_signals)}")
        if self.precompute_scope not in ("user", "population"):
            raise ValueError(f"precompute_scope must be user or population, got {self.precompute_scope!r}")
        if self.no_match_fallback not in ("online", "plain"):
            raise ValueError(f"no_match_fallback must be online or plain, got {self.no_match_fallback!r}")


def soft(text: str) -> str:
    """Text folded for soft matching: Unicode-normalised, case-folded, punctuation dropped, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", str(text)).casefold()
    return " ".join(_NOT_WORD.sub("", text).split())


def terms(text: str) -> tuple[str, ...]:
    """The words of a text after soft folding ("I'm feeling pretty hungry!" -> im, feeling, pretty, hungry)."""
    return tuple(soft(text).split())


def _distance(a: Sequence, b: Sequence, *, substitution: int) -> int:
    """Edit distance between two sequences; `substitution` 1 is Levenshtein, 2 is insertions and deletions only."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (0 if x == y else substitution)))
        previous = current
    return previous[-1]


def edit_distance(a: str, b: str, *, unit: str = "word", metric: str = "indel") -> float:
    """Normalised edit distance, 0 (same) to 1: edits divided by the longer length, capped at 1.

    Word level with the indel metric (the default), "I'm hungry" -> "I'm feeling pretty hungry" is two insertions
    over four words: 0.5, within the spec's 0.5 default; "I'm hungry" -> "I'm thirsty" is a deletion plus an
    insertion over two words: 1.0, no match.
    """
    x: Sequence = terms(a)[:MAX_DISTANCE_TOKENS] if unit == "word" else soft(a)[: MAX_DISTANCE_TOKENS * 4]
    y: Sequence = terms(b)[:MAX_DISTANCE_TOKENS] if unit == "word" else soft(b)[: MAX_DISTANCE_TOKENS * 4]
    longer = max(len(x), len(y))
    if not longer:
        return 0.0
    if not min(len(x), len(y)):
        return 1.0
    return min(1.0, _distance(x, y, substitution=2 if metric == "indel" else 1) / longer)


def length_bound(a: int, b: int) -> float:
    """The smallest normalised distance two texts of these lengths can have (a cheap filter before the real one)."""
    longer = max(a, b)
    return abs(a - b) / longer if longer else 0.0


def cosine(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """Cosine similarity, or -1 when either vector is missing, of another size or not finite."""
    if a is None or b is None or a.shape != b.shape or not a.size:
        return -1.0
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    value = float(np.dot(a, b)) / norms if norms else -1.0
    return value if math.isfinite(value) else -1.0


def signals_of(context: Context) -> dict[str, str]:
    """The context's signals, folded for comparison (lower case, single spaces)."""
    return {k: " ".join(str(v).lower().split()) for k, v in context.signals().items()}


def signals_agree(stored: dict[str, str], current: dict[str, str], names: Sequence[str]) -> bool:
    """Every named signal has the same value on both sides (absent counts as a value), and at least one is present."""
    pairs = [(str(stored.get(n, "")).lower().strip(), str(current.get(n, "")).lower().strip()) for n in names]
    return all(a == b for a, b in pairs) and any(a for a, _ in pairs)


def context_sentence(signals: dict[str, str], *, method: ContextEmbedding = ContextEmbedding.SIGNALS,
                     history: Sequence[tuple[str, str]] = ()) -> str:
    """The text whose embedding is the context embedding: the signals as a phrase (plus recent user turns)."""
    method = ContextEmbedding(method)
    if method is ContextEmbedding.NONE:
        return ""
    parts = [signals.get("time_of_day", ""), signals.get("day_of_week", "")]
    if signals.get("location"):
        parts.append(f"at {signals['location']}")
    if signals.get("ambient_noise"):
        parts.append(f"{signals['ambient_noise']} surroundings")
    if signals.get("position"):
        parts.append("opening message" if signals["position"] == "opener" else "follow-up message")
    sentence = ", ".join(p for p in parts if p)
    if method is ContextEmbedding.SIGNALS_HISTORY and history:
        sentence += " | " + " | ".join(user for user, _ in list(history)[-2:])
    return sentence


@dataclass(frozen=True)
class Evidence:
    """How one entry compares with the turn."""

    kinds: tuple[MatchKind, ...]  # every kind that matched, query kinds first
    query_similarity: float = 0.0  # 1 - edit distance, or the cosine, whichever is larger (1 for exact and soft)
    context_similarity: float = 0.0  # 1 when the signals agree, else the context cosine (0 when unknown)
    output_similarity: float = 0.0

    @property
    def query_kind(self) -> MatchKind | None:
        """The strongest query kind that matched, if any."""
        return next((k for k in self.kinds if k in QUERY_KINDS), None)

    def qualifies(self, rule: MatchRule) -> bool:
        """Whether this evidence is enough under the rule."""
        query = self.query_kind
        backed = MatchKind.CONTEXT in self.kinds or MatchKind.OUTPUT in self.kinds
        if rule is MatchRule.ANY:
            return bool(self.kinds)
        if rule is MatchRule.QUERY:
            return query is not None
        if rule is MatchRule.STRICT:
            return query is not None and backed
        return query in (MatchKind.EXACT, MatchKind.SOFT) or (query is not None and backed)


_QUERY_STRENGTH = {MatchKind.EXACT: 3, MatchKind.SOFT: 2, MatchKind.EDIT_DISTANCE: 1, MatchKind.EMBEDDING: 1}


def rank_key(evidence: Evidence, *, personal: bool, curated: bool, entry_id: int) -> tuple:
    """Sort key, best first when sorted ascending: query strength, corroboration, similarities, own, curated, oldest id."""
    strength = _QUERY_STRENGTH.get(evidence.query_kind, 0) if evidence.query_kind else 0
    corroboration = (MatchKind.CONTEXT in evidence.kinds) + (MatchKind.OUTPUT in evidence.kinds)
    return (-strength, -corroboration, -round(evidence.query_similarity, 6), -round(evidence.context_similarity, 6),
            -round(evidence.output_similarity, 6), -int(personal), -int(curated), entry_id)
