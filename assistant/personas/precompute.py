"""Offline precompute (spec §6.1-6.5): every logged (query, context) pair of a scope, rewritten once per persona, indexed.

A pair is a distinct (query, context signals) of the scope: a user asking "what time is it?" every morning is one pair,
rewritten once, whose plain output set holds the distinct answers it got. Each pair's entry is stored as soon as its
personas are done, so a killed run resumes where it stopped; pairs already indexed are skipped unless `force`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Sequence

from tqdm import tqdm

from assistant.errors import AssistantError
from assistant.personas.index import MAX_TEXTS, ReviewStatus, RewriteIndex, RewriteIndexError, Scope, safe_text, safe_texts
from assistant.personas.matching import signals_of, soft
from assistant.personas.types import Context, Persona
from memory.activity import Activity, ActivityLog
from memory.embeddings import Embedder

logger = logging.getLogger(__name__)

PERSONAL_TOOLS = frozenset({"memory", "remind"})  # turns about one user's own data stay out of population entries
MAX_HISTORY_TURNS = 6

Rewrite = Callable[[str, Context, list[str], Persona], list[str]]
Additional = Callable[[str, Context, list[str]], tuple[Sequence[str], Sequence[str]]]  # -> (hidden queries, their outputs)


@dataclass
class PrecomputeReport:
    """What a precompute run did; `calls` is the number of rewrite calls, one per new (pair, persona)."""

    scope: str
    user_id: str
    personas: tuple[str, ...]
    logged: int = 0  # activity rows read
    dropped: int = 0  # rows without an answer, or personal turns in population scope
    pairs: int = 0  # distinct (query, context) pairs among the rest
    calls: int = 0  # rewrite calls made
    skipped: int = 0  # (pair, persona) already in the index
    reviewed: int = 0  # pairs left as a reviewer decided (kept, edited or discarded)
    failed: int = 0  # rewrite calls that raised; retried by the next run
    stored: int = 0  # entries written
    additional_calls: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["personas"] = list(self.personas)
        return data


@dataclass
class _Pair:
    """One distinct (query, context) of the scope and everything logged for it."""

    key: str
    query: str
    context: Context
    plain: list[str] = field(default_factory=list)
    sources: list[int] = field(default_factory=list)


def _text(value: Any, limit: int = 200) -> str:
    return safe_text(value, limit=limit) if isinstance(value, str) else ""


def _position(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(0, value)
    return 1 if value == "follow-up" else 0


def context_from_activity(activity: Activity, history: Sequence[tuple[str, str]] = (), *, personal: bool = True) -> Context:
    """The context a logged query came with, rebuilt from its context dict (user data only when `personal`)."""
    logged = activity.context if isinstance(activity.context, dict) else {}
    seconds = logged.get("session_seconds", 0.0)

    def mapping(name: str) -> dict[str, Any]:
        value = logged.get(name)
        return dict(value) if personal and isinstance(value, dict) else {}

    return Context(time_of_day=_text(logged.get("time_of_day")), day_of_week=_text(logged.get("day_of_week")),
                   local_time=_text(logged.get("local_time")), location=_text(logged.get("location")),
                   ambient_noise=_text(logged.get("ambient_noise")), user_name=_text(logged.get("user_name")) if personal else "",
                   profile=mapping("profile"), app_data=mapping("app_data"), known_environment=mapping("known_environment"),
                   session_history=tuple(history)[-MAX_HISTORY_TURNS:], utterance_position=_position(logged.get("position")),
                   session_seconds=float(seconds) if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) else 0.0)


def pair_key(query: str, context: Context, *, scope: Scope, user_id: str = "") -> str:
    """The identity of a (query, context) pair in a scope: the folded query and the context signals."""
    owner = user_id if scope is Scope.USER else ""
    raw = json.dumps([scope.value, owner, soft(query), sorted(signals_of(context).items())], ensure_ascii=False)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


def collect(activities: Iterable[Activity], *, scope: Scope, user_id: str = "", skip_personal: bool = True) -> tuple[list[_Pair], int, int]:
    """The distinct pairs of these activities (oldest first), the rows read and the rows dropped."""
    pairs: OrderedDict[str, _Pair] = OrderedDict()
    sessions: dict[tuple[str, str], list[tuple[str, str]]] = {}
    logged = dropped = 0
    for activity in activities:
        logged += 1
        session_id = activity.context.get("session_id") if isinstance(activity.context, dict) else None
        turns = sessions.setdefault((activity.user_id, str(session_id)), []) if session_id else []
        history = list(turns)
        answer = _text(activity.answer, 1000)
        if session_id:
            turns.append((activity.query, answer))
        if not answer or not soft(activity.query) or (scope is Scope.POPULATION and skip_personal and PERSONAL_TOOLS & set(activity.tools)):
            dropped += 1
            continue
        context = context_from_activity(activity, history if scope is Scope.USER else (), personal=scope is Scope.USER)
        key = pair_key(activity.query, context, scope=scope, user_id=user_id)
        pair = pairs.setdefault(key, _Pair(key, activity.query, context))
        if answer not in pair.plain and len(pair.plain) < MAX_TEXTS:
            pair.plain.append(answer)
        pair.sources.append(activity.id)
    return list(pairs.values()), logged, dropped


def precompute(log: ActivityLog, index: RewriteIndex, rewrite: Rewrite, *, personas: Sequence[Persona], scope: Scope | str = Scope.USER,
               user_id: str | None = None, embedder: Embedder | None = None, additional: Additional | None = None, force: bool = False,
               kind: str | None = "chat", skip_personal: bool = True, progress: bool = True) -> PrecomputeReport:
    """Rewrite every logged pair of the scope once per persona and index the results; resumable, see the module doc."""
    started = time.perf_counter()
    scope = Scope(scope)
    if not personas:
        raise RewriteIndexError("precompute needs at least one persona")
    if len({p.name for p in personas}) != len(personas):
        raise RewriteIndexError("each persona may be given once")
    if scope is Scope.USER and not user_id:
        raise RewriteIndexError("user scope needs the user (--user NAME); population scope reads everyone's queries")
    owner = (user_id or "") if scope is Scope.USER else ""
    rows = reversed(log.queries(owner, kind=kind, limit=log.max_rows_per_user)) if scope is Scope.USER else log.everyone(kind=kind)
    pairs, logged, dropped = collect(rows, scope=scope, user_id=owner, skip_personal=skip_personal)
    report = PrecomputeReport(scope.value, owner, tuple(p.name for p in personas), logged=logged, dropped=dropped, pairs=len(pairs))
    for pair in tqdm(pairs, desc="precompute", unit="pair", disable=not progress, file=sys.stderr):
        existing = index.find(pair.key)
        if existing is not None and existing.review_status is not ReviewStatus.PENDING:
            report.reviewed += 1
            continue
        todo = [p for p in personas if force or existing is None or p.name not in existing.outputs]
        report.skipped += len(personas) - len(todo)
        if not todo:
            continue
        outputs: dict[str, Sequence[str]] = dict(existing.outputs) if existing is not None else {}
        done = 0
        for persona in todo:
            report.calls += 1
            try:
                texts = rewrite(pair.query, pair.context, list(pair.plain), persona)
            except AssistantError:
                raise  # the model is unavailable: stop; the next run resumes here
            except Exception:
                report.failed += 1
                logger.exception("rewriting %r as %s failed; the next run retries it", pair.query[:80], persona.name)
                continue
            outputs[persona.name] = safe_texts(list(texts or []))
            done += 1
        if not done:
            continue
        extra_queries, extra_outputs = (existing.additional_queries, existing.additional_outputs) if existing is not None else ((), ())
        if additional is not None and (existing is None or force):
            report.additional_calls += 1
            extra_queries, extra_outputs = additional(pair.query, pair.context, list(pair.plain))
        keys = existing.keys if existing is not None and not force else index.keys_for(pair.query, pair.context, pair.plain,
                                                                                          embedder=embedder)
        index.put(pair.key, keys, outputs, scope=scope, user_id=owner, additional_queries=list(extra_queries),
                  additional_outputs=list(extra_outputs), sources=pair.sources)
        report.stored += 1
    report.seconds = round(time.perf_counter() - started, 3)
    return report
