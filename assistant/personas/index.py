"""The precomputed rewrite index (spec §3 IndexEntry, §6): persona outputs of past turns, stored by their keys and matched.

One SQLite file under the data dir (`<data_dir>/personas/rewrites.sqlite3`); vectors are float32 blobs. Entries are
read into memory on open and re-read when another process (a reviewer's CLI) changes the file, so a discard shows
at once. Per-user entries are only ever matched for their own user; population entries for anyone.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from contextlib import closing
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from assistant.errors import AssistantError
from assistant.markup import neutralise
from assistant.personas.matching import (ContextEmbedding, Evidence, MatchKind, MatchRule, MatchSettings, context_sentence,
                                         cosine, edit_distance, length_bound, rank_key, signals_agree, signals_of, soft, terms)
from assistant.personas.types import Context, Persona
from memory.embeddings import Embedder

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 4000  # as the activity log
MAX_TEXT_CHARS = 1000  # one stored output
MAX_TEXTS = 8  # outputs per persona, plain outputs, additional queries or outputs of one entry
SCHEMA = 1


class Scope(str, Enum):
    """Whose queries an entry was made from, and so who it may be served to."""

    USER = "user"  # one user's own queries: matched for that user only
    POPULATION = "population"  # many users' queries: matched for anyone


class ReviewStatus(str, Enum):
    """Where an entry is in the optional review (spec §6.4)."""

    PENDING = "pending"
    KEPT = "kept"
    EDITED = "edited"
    DISCARDED = "discarded"  # never returned by a match


CURATED = (ReviewStatus.KEPT, ReviewStatus.EDITED)


class RewriteIndexError(AssistantError):
    """The index cannot do what was asked (unknown entry, a discarded entry edited, bad review input)."""


class UnknownEntry(RewriteIndexError):
    """No index entry has this id."""


def safe_text(text: Any, *, limit: int = MAX_TEXT_CHARS) -> str:
    """Stored or reviewed text made safe to serve: a string, no control characters or tag markup, one line, capped."""
    if not isinstance(text, str):
        return ""
    return " ".join(neutralise(text).split())[:limit].strip()


def safe_texts(texts: Any, *, limit: int = MAX_TEXT_CHARS) -> tuple[str, ...]:
    """The non-empty, distinct safe strings of a list (anything else gives an empty tuple), at most MAX_TEXTS."""
    if isinstance(texts, str) or not isinstance(texts, (list, tuple)):
        return ()
    found: list[str] = []
    for text in texts:
        clean = safe_text(text, limit=limit)
        if clean and clean not in found:
            found.append(clean)
    return tuple(found[:MAX_TEXTS])


def _vector(values: Any) -> np.ndarray | None:
    """A finite float32 vector from an embedder's output, or None."""
    try:
        array = np.asarray(values, dtype=np.float32).reshape(-1)
    except (TypeError, ValueError):
        return None
    return array if array.size and np.isfinite(array).all() else None


@dataclass(frozen=True)
class IndexKeys:
    """What an entry is found by (spec §3): the query, the context and the plain outputs, as terms and as embeddings."""

    query: str
    query_terms: tuple[str, ...]
    context_signals: dict[str, str]
    plain_outputs: tuple[str, ...]
    plain_output_terms: tuple[tuple[str, ...], ...]
    context_method: ContextEmbedding = ContextEmbedding.SIGNALS
    query_embedding: np.ndarray | None = field(default=None, compare=False, repr=False)  # (dims,)
    context_embedding: np.ndarray | None = field(default=None, compare=False, repr=False)  # (dims,)
    plain_output_embeddings: np.ndarray | None = field(default=None, compare=False, repr=False)  # (len(plain_outputs), dims)


@dataclass(frozen=True)
class IndexEntry:
    """One precomputed turn: its keys, each persona's outputs, the proactive part, who may see it, its review state."""

    id: int
    pair_key: str  # which logged (query, context) pair it was made from; precompute skips pairs it already has
    keys: IndexKeys
    outputs: dict[str, tuple[str, ...]]  # persona name -> rewrites
    additional_queries: tuple[str, ...] = ()  # hidden proactive queries; never shown
    additional_outputs: tuple[str, ...] = ()  # their answers
    scope: Scope = Scope.USER
    user_id: str = ""  # the owner of a user-scope entry; empty for population entries
    review_status: ReviewStatus = ReviewStatus.PENDING
    cached_audio: str = ""  # path of synthesised audio, if any
    sources: tuple[int, ...] = ()  # activity log ids
    updated: str = ""

    @property
    def curated(self) -> bool:
        """Kept or edited by a reviewer."""
        return self.review_status in CURATED

    def visible_to(self, user_id: str) -> bool:
        """Population entries are for anyone; user entries for their owner only."""
        return self.scope is Scope.POPULATION or (bool(user_id) and self.user_id == user_id)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (without vectors)."""
        return {"id": self.id, "scope": self.scope.value, "user_id": self.user_id, "status": self.review_status.value,
                "query": self.keys.query, "context": self.keys.context_signals, "plain_outputs": list(self.keys.plain_outputs),
                "outputs": {p: list(t) for p, t in self.outputs.items()}, "additional_queries": list(self.additional_queries),
                "additional_outputs": list(self.additional_outputs), "cached_audio": self.cached_audio, "sources": list(self.sources),
                "updated": self.updated}


@dataclass(frozen=True)
class Match:
    """A fetched entry: the persona's outputs to use as the modified set, and how the entry matched."""

    entry: IndexEntry
    persona: str
    outputs: tuple[str, ...]
    how: tuple[MatchKind, ...]  # e.g. (edit_distance, context)
    evidence: Evidence
    refreshed: bool = False  # the stored plain output inside the outputs was replaced by the turn's own


@dataclass(frozen=True)
class Lookup:
    """The outcome of a lookup: a match, or what to fall back to (`online` or `plain`)."""

    match: Match | None
    fallback: str | None  # None when matched


class _Probe:
    """The current turn as the matcher compares it; its embeddings are computed once, on first need."""

    def __init__(self, query: str, context: Context, plain_outputs: Sequence[str], embedder: Embedder | None,
                 settings: MatchSettings) -> None:
        self.query = " ".join(str(query).split())[:MAX_QUERY_CHARS]
        self.soft = soft(self.query)
        self.terms = terms(self.query)
        self.signals = signals_of(context)
        self.plain = safe_texts(list(plain_outputs))
        self.plain_soft = {soft(p) for p in self.plain} - {""}
        self.sentence = context_sentence(self.signals, method=settings.context_embedding, history=context.session_history)
        self.embedder = embedder
        self._vectors: tuple | None = None

    def vectors(self) -> tuple[np.ndarray | None, np.ndarray | None, list[np.ndarray | None]]:
        """(query, context, plain outputs) embeddings; all None without an embedder or when it fails."""
        if self._vectors is None:
            self._vectors = (None, None, [])
            if self.embedder is not None and self.terms:
                texts = [self.query, self.sentence or self.query, *self.plain]
                try:
                    found = [_vector(v) for v in self.embedder.embed_batch(texts)]
                    self._vectors = (found[0], found[1] if self.sentence else None, found[2:])
                except Exception:
                    log.exception("embedding the turn failed; matching without embeddings")
        return self._vectors


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def index_path(data_dir: Path) -> Path:
    """Where the index lives under a data dir."""
    return Path(data_dir) / "personas" / "rewrites.sqlite3"


def context_from_signals(signals: Mapping[str, str]) -> Context:
    """A context holding only these signals (for re-indexing an entry by hand)."""
    position = 0 if str(signals.get("position", "opener")) in ("opener", "0", "") else 1
    return Context(time_of_day=str(signals.get("time_of_day", "")), day_of_week=str(signals.get("day_of_week", "")),
                   location=str(signals.get("location", "")), ambient_noise=str(signals.get("ambient_noise", "")),
                   utterance_position=position)


_COLUMNS = ("id, pair_key, scope, user_id, status, query, context_signals, context_method, plain_outputs, dims, query_embedding, "
            "context_embedding, plain_output_embeddings, outputs, additional_queries, additional_outputs, cached_audio, sources, "
            "updated")


class RewriteIndex:
    """The store of precomputed persona outputs and the matcher over it; safe to share between threads."""

    def __init__(self, path: Path, *, embedder: Embedder | None = None, settings: MatchSettings = MatchSettings()) -> None:
        self.path = Path(path)
        self.embedder = embedder
        self.settings = settings
        self.unreadable = 0  # rows skipped on load because they could not be read
        self._lock = threading.RLock()
        self._entries: dict[int, IndexEntry] = {}
        self._pairs: dict[str, int] = {}  # pair key -> entry id
        self._revision = -1
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"CREATE TABLE IF NOT EXISTS entries (id INTEGER PRIMARY KEY AUTOINCREMENT, pair_key TEXT NOT NULL UNIQUE, "
                         "scope TEXT NOT NULL, user_id TEXT NOT NULL, status TEXT NOT NULL, query TEXT NOT NULL, "
                         "context_signals TEXT NOT NULL, context_method TEXT NOT NULL, plain_outputs TEXT NOT NULL, dims INTEGER NOT NULL, "
                         "query_embedding BLOB, context_embedding BLOB, plain_output_embeddings BLOB, outputs TEXT NOT NULL, "
                         "additional_queries TEXT NOT NULL, additional_outputs TEXT NOT NULL, cached_audio TEXT NOT NULL, "
                         "sources TEXT NOT NULL, updated TEXT NOT NULL)")
            conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('revision', '0')")
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA),))
        self._fresh()

    @classmethod
    def at(cls, data_dir: Path, **options: Any) -> "RewriteIndex":
        """The index under a data dir (`<data_dir>/personas/rewrites.sqlite3`)."""
        return cls(index_path(data_dir), **options)

    # storage ------------------------------------------------------------------------------------------------------------------

    def _connect(self) -> closing[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        conn.execute("PRAGMA synchronous=NORMAL")
        return closing(conn)

    @staticmethod
    def _read_revision(conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT value FROM meta WHERE key = 'revision'").fetchone()
        return int(row[0]) if row else 0

    def _fresh(self) -> None:
        """Re-read every entry if the file changed since the last read (any process may write it)."""
        with self._lock, self._connect() as conn:
            revision = self._read_revision(conn)
            if revision == self._revision:
                return
            rows = conn.execute(f"SELECT {_COLUMNS} FROM entries ORDER BY id").fetchall()
            entries, bad = {}, 0
            for row in rows:
                entry = self._parse(row)
                if entry is None:
                    bad += 1
                else:
                    entries[entry.id] = entry
            self._entries, self._revision, self.unreadable = entries, revision, bad
            self._pairs = {e.pair_key: e.id for e in entries.values()}
            if bad:
                log.warning("%d unreadable rows in %s were skipped", bad, self.path)

    def reload(self) -> None:
        """Re-read the file now."""
        with self._lock:
            self._revision = -1
            self._fresh()

    @staticmethod
    def _parse(row: tuple) -> IndexEntry | None:
        """An entry from a row, or None when the row is malformed (never raises)."""
        try:
            (entry_id, pair_key, scope, user_id, status, query, signals, method, plain, dims, q_blob, c_blob, p_blob, outputs,
             add_q, add_o, audio, sources, updated) = row
            signals = json.loads(signals)
            outputs = json.loads(outputs)
            if not isinstance(signals, dict) or not isinstance(outputs, dict) or not isinstance(query, str):
                return None
            plain_outputs = safe_texts(json.loads(plain))
            dims = int(dims)

            def vector(blob: Any, rows: int | None = None) -> np.ndarray | None:
                """A (dims,) vector, or a (rows, dims) matrix when `rows` is given; None when the blob does not fit."""
                if not isinstance(blob, bytes) or dims <= 0 or len(blob) != 4 * dims * (rows or 1):
                    return None
                array = np.frombuffer(blob, dtype="<f4").astype(np.float32)
                if not np.isfinite(array).all():
                    return None
                return array if rows is None else array.reshape(rows, dims)

            query = " ".join(query.split())[:MAX_QUERY_CHARS]
            keys = IndexKeys(query=query, query_terms=terms(query),
                             context_signals={str(k): safe_text(str(v), limit=100) for k, v in signals.items()
                                              if isinstance(v, (str, int))},
                             plain_outputs=plain_outputs, plain_output_terms=tuple(terms(p) for p in plain_outputs),
                             context_method=ContextEmbedding(method), query_embedding=vector(q_blob), context_embedding=vector(c_blob),
                             plain_output_embeddings=vector(p_blob, len(plain_outputs)) if plain_outputs else None)
            sources_list = json.loads(sources)
            return IndexEntry(id=int(entry_id), pair_key=str(pair_key), keys=keys,
                              outputs={str(p): safe_texts(t) for p, t in outputs.items()},
                              additional_queries=safe_texts(json.loads(add_q)), additional_outputs=safe_texts(json.loads(add_o)),
                              scope=Scope(scope), user_id=str(user_id), review_status=ReviewStatus(status),
                              cached_audio=audio if isinstance(audio, str) else "",
                              sources=tuple(int(s) for s in sources_list if isinstance(s, int)) if isinstance(sources_list, list) else (),
                              updated=str(updated))
        except (ValueError, TypeError, KeyError, AttributeError, json.JSONDecodeError):
            return None

    @staticmethod
    def _blob(vector: np.ndarray | None) -> bytes | None:
        return None if vector is None else np.asarray(vector, dtype="<f4").tobytes()

    def _row(self, entry: IndexEntry) -> dict[str, Any]:
        keys = entry.keys
        dims = next((v.shape[-1] for v in (keys.query_embedding, keys.context_embedding, keys.plain_output_embeddings) if v is not None), 0)
        return {"pair_key": entry.pair_key, "scope": entry.scope.value, "user_id": entry.user_id, "status": entry.review_status.value,
                "query": keys.query, "context_signals": json.dumps(keys.context_signals, ensure_ascii=False),
                "context_method": keys.context_method.value, "plain_outputs": json.dumps(list(keys.plain_outputs), ensure_ascii=False),
                "dims": int(dims), "query_embedding": self._blob(keys.query_embedding),
                "context_embedding": self._blob(keys.context_embedding),
                "plain_output_embeddings": self._blob(keys.plain_output_embeddings),
                "outputs": json.dumps({p: list(t) for p, t in entry.outputs.items()}, ensure_ascii=False),
                "additional_queries": json.dumps(list(entry.additional_queries), ensure_ascii=False),
                "additional_outputs": json.dumps(list(entry.additional_outputs), ensure_ascii=False),
                "cached_audio": entry.cached_audio, "sources": json.dumps(list(entry.sources)), "updated": _now()}

    def _write(self, entry: IndexEntry, *, insert: bool) -> IndexEntry:
        """Insert or update one entry and bump the revision, in one transaction; keeps the in-memory copy current."""
        row = self._row(entry)
        with self._lock, self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                before = self._read_revision(conn)
                if insert:
                    names = ", ".join(row)
                    cursor = conn.execute(f"INSERT INTO entries ({names}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))
                    entry_id = int(cursor.lastrowid or 0)
                else:
                    sets = ", ".join(f"{name} = ?" for name in row)
                    if conn.execute(f"UPDATE entries SET {sets} WHERE id = ?", (*row.values(), entry.id)).rowcount != 1:
                        raise UnknownEntry(f"no index entry {entry.id}")
                    entry_id = entry.id
                conn.execute("UPDATE meta SET value = ? WHERE key = 'revision'", (str(before + 1),))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            stored = replace(entry, id=entry_id, updated=row["updated"])
            if before == self._revision:  # nobody else wrote in between: the memory copy only lacks this row
                self._entries[entry_id] = stored
                self._pairs[stored.pair_key] = entry_id
                self._revision = before + 1
            else:
                self._revision = -1
                self._fresh()
            return self._entries.get(entry_id, stored)

    # building -----------------------------------------------------------------------------------------------------------------

    def keys_for(self, query: str, context: Context, plain_outputs: Sequence[str], *, embedder: Embedder | None = None) -> IndexKeys:
        """The keys of a (query, context, plain outputs) triple, embedded in one batch by `embedder` (default: the index's)."""
        embedder = embedder if embedder is not None else self.embedder
        query = " ".join(str(query).split())[:MAX_QUERY_CHARS]
        plain = safe_texts(list(plain_outputs))
        signals = signals_of(context)
        method = self.settings.context_embedding
        sentence = context_sentence(signals, method=method, history=context.session_history)
        vectors: list[np.ndarray | None] = []
        if embedder is not None and query:
            vectors = [_vector(v) for v in embedder.embed_batch([query, sentence or query, *plain])]
        dims = {v.shape[0] for v in vectors if v is not None}
        if len(dims) > 1 or any(v is None for v in vectors):
            raise RewriteIndexError("the embedder returned vectors of different sizes or non-finite values")
        plain_vectors = np.stack(vectors[2:]) if vectors and plain else None
        return IndexKeys(query=query, query_terms=terms(query), context_signals=signals, plain_outputs=plain,
                         plain_output_terms=tuple(terms(p) for p in plain), context_method=method,
                         query_embedding=vectors[0] if vectors else None,
                         context_embedding=vectors[1] if vectors and sentence else None, plain_output_embeddings=plain_vectors)

    def put(self, pair_key: str, keys: IndexKeys, outputs: Mapping[str, Sequence[str]], *, scope: Scope | str, user_id: str = "",
            additional_queries: Sequence[str] = (), additional_outputs: Sequence[str] = (), sources: Sequence[int] = ()) -> IndexEntry:
        """Store the entry of a pair (new, or replacing a pending one's outputs); reviewed entries are left as they are."""
        scope = Scope(scope)
        if scope is Scope.USER and not user_id:
            raise RewriteIndexError("a user-scope entry needs the user id")
        entry = IndexEntry(id=0, pair_key=pair_key, keys=keys, outputs={str(p): safe_texts(list(t)) for p, t in outputs.items()},
                           additional_queries=safe_texts(list(additional_queries)), additional_outputs=safe_texts(list(additional_outputs)),
                           scope=scope, user_id=user_id if scope is Scope.USER else "", sources=tuple(int(s) for s in sources))
        with self._lock:
            old = self.find(pair_key)
            if old is None:
                return self._write(entry, insert=True)
            if old.review_status is not ReviewStatus.PENDING:
                return old
            return self._write(replace(entry, id=old.id, cached_audio=old.cached_audio), insert=False)

    # reading ------------------------------------------------------------------------------------------------------------------

    def get(self, entry_id: int) -> IndexEntry:
        """The entry with this id; raises UnknownEntry."""
        self._fresh()
        with self._lock:
            entry = self._entries.get(int(entry_id))
        if entry is None:
            raise UnknownEntry(f"no index entry {entry_id} (see: python -m assistant personas review list)")
        return entry

    def find(self, pair_key: str) -> IndexEntry | None:
        """The entry made from this pair, if any."""
        self._fresh()
        with self._lock:
            entry_id = self._pairs.get(pair_key)
            return self._entries.get(entry_id) if entry_id is not None else None

    def entries(self, *, status: ReviewStatus | str | None = None, scope: Scope | str | None = None, user_id: str | None = None,
                persona: str | None = None) -> list[IndexEntry]:
        """Entries, oldest first, optionally only of one status, scope, owner or with outputs of one persona."""
        self._fresh()
        status = ReviewStatus(status) if status is not None else None
        scope = Scope(scope) if scope is not None else None
        with self._lock:
            found = list(self._entries.values())
        return [e for e in found if (status is None or e.review_status is status) and (scope is None or e.scope is scope)
                and (user_id is None or e.user_id == user_id) and (persona is None or e.outputs.get(persona))]

    def __len__(self) -> int:
        self._fresh()
        with self._lock:
            return len(self._entries)

    def stats(self) -> dict[str, Any]:
        """Counts of entries by review status, scope and persona (and of unreadable rows)."""
        entries = self.entries()
        by_persona: dict[str, int] = {}
        for entry in entries:
            for persona, texts in entry.outputs.items():
                if texts:
                    by_persona[persona] = by_persona.get(persona, 0) + 1
        return {"path": str(self.path), "entries": len(entries), "unreadable": self.unreadable,
                "by_status": {s.value: sum(e.review_status is s for e in entries) for s in ReviewStatus},
                "by_scope": {s.value: sum(e.scope is s for e in entries) for s in Scope},
                "by_persona": dict(sorted(by_persona.items())), "users": len({e.user_id for e in entries if e.scope is Scope.USER})}

    # matching -----------------------------------------------------------------------------------------------------------------

    def match(self, query: str, context: Context, plain_outputs: Sequence[str] = (), *, user_id: str, persona: str | Persona,
              settings: MatchSettings | None = None) -> Match | None:
        """The best entry for this turn with outputs of this persona, or None; discarded entries never match."""
        settings = settings or self.settings
        name = persona.name if isinstance(persona, Persona) else str(persona)
        self._fresh()
        with self._lock:
            pool = [e for e in self._entries.values() if e.review_status is not ReviewStatus.DISCARDED and e.visible_to(user_id)
                    and e.outputs.get(name) and (settings.serve_pending or e.curated)]
        if not pool:
            return None
        probe = _Probe(query, context, plain_outputs, self.embedder, settings)
        if not probe.terms and not probe.query:
            return None
        best: tuple[tuple, IndexEntry, Evidence] | None = None
        for entry in pool:
            evidence = self._evidence(entry, probe, settings)
            if not evidence.qualifies(settings.rule):
                continue
            key = rank_key(evidence, personal=entry.scope is Scope.USER, curated=entry.curated, entry_id=entry.id)
            if best is None or key < best[0]:
                best = (key, entry, evidence)
        if best is None:
            return None
        _, entry, evidence = best
        outputs, refreshed = self._outputs(entry, name, probe, settings)
        return Match(entry, name, outputs, evidence.kinds, evidence, refreshed)

    def lookup(self, query: str, context: Context, plain_outputs: Sequence[str] = (), *, user_id: str, persona: str | Persona,
               settings: MatchSettings | None = None) -> Lookup:
        """A match, or the configured fallback (`online` or `plain`) when there is none."""
        settings = settings or self.settings
        found = self.match(query, context, plain_outputs, user_id=user_id, persona=persona, settings=settings)
        return Lookup(found, None if found is not None else settings.no_match_fallback)

    @staticmethod
    def _evidence(entry: IndexEntry, probe: _Probe, settings: MatchSettings) -> Evidence:
        """Every kind of match between one entry and the turn, with the similarities that rank it."""
        keys, kinds = entry.keys, []
        query_similarity = 0.0
        if keys.query == probe.query:
            kinds.append(MatchKind.EXACT)
            query_similarity = 1.0
        elif probe.soft and " ".join(keys.query_terms) == probe.soft:
            kinds.append(MatchKind.SOFT)
            query_similarity = 1.0
        elif probe.terms and keys.query_terms:
            unit_lengths = ((len(probe.terms), len(keys.query_terms)) if settings.edit_distance_unit == "word"
                            else (len(probe.soft), len(" ".join(keys.query_terms))))
            if length_bound(*unit_lengths) <= settings.edit_distance_max:
                distance = edit_distance(probe.query, keys.query, unit=settings.edit_distance_unit, metric=settings.edit_distance_metric)
                if distance <= settings.edit_distance_max:
                    kinds.append(MatchKind.EDIT_DISTANCE)
                    query_similarity = 1.0 - distance
            if keys.query_embedding is not None:
                similarity = cosine(probe.vectors()[0], keys.query_embedding)
                if similarity >= settings.query_embedding_threshold:
                    kinds.append(MatchKind.EMBEDDING)
                    query_similarity = max(query_similarity, similarity)
        context_similarity = 0.0
        if signals_agree(keys.context_signals, probe.signals, settings.context_signals):
            kinds.append(MatchKind.CONTEXT)
            context_similarity = 1.0
        elif (keys.context_embedding is not None and settings.context_embedding is not ContextEmbedding.NONE
              and keys.context_method is settings.context_embedding):
            context_similarity = max(0.0, cosine(probe.vectors()[1], keys.context_embedding))
            if context_similarity >= settings.context_embedding_threshold:
                kinds.append(MatchKind.CONTEXT)
        output_similarity = 0.0
        if probe.plain_soft and probe.plain_soft & {" ".join(t) for t in keys.plain_output_terms}:
            kinds.append(MatchKind.OUTPUT)
            output_similarity = 1.0
        elif probe.plain and keys.plain_output_embeddings is not None:
            stored = keys.plain_output_embeddings
            output_similarity = max([0.0, *(cosine(v, s) for v in probe.vectors()[2] for s in stored)])
            if output_similarity >= settings.output_embedding_threshold:
                kinds.append(MatchKind.OUTPUT)
        return Evidence(tuple(kinds), query_similarity, context_similarity, output_similarity)

    @staticmethod
    def _outputs(entry: IndexEntry, persona: str, probe: _Probe, settings: MatchSettings) -> tuple[tuple[str, ...], bool]:
        """The persona's outputs; with `refresh_plain`, the stored plain output quoted in them becomes the turn's own."""
        outputs = entry.outputs[persona]
        old, new = (entry.keys.plain_outputs[:1] or ("",))[0], (probe.plain[:1] or ("",))[0]
        if not settings.refresh_plain or not old or not new or soft(old) == soft(new) or not any(old in t for t in outputs):
            return outputs, False
        return tuple(dict.fromkeys(t.replace(old, new) for t in outputs)), True

    # review -------------------------------------------------------------------------------------------------------------------

    def _reviewable(self, entry_id: int) -> IndexEntry:
        entry = self.get(entry_id)
        if entry.review_status is ReviewStatus.DISCARDED:
            raise RewriteIndexError(f"index entry {entry_id} is discarded; discarded entries stay discarded")
        return entry

    def pending(self) -> list[IndexEntry]:
        """Entries nobody has reviewed yet, oldest first."""
        return self.entries(status=ReviewStatus.PENDING)

    def keep(self, entry_id: int) -> IndexEntry:
        """Mark an entry as reviewed and good as it is (curated)."""
        with self._lock:
            return self._write(replace(self._reviewable(entry_id), review_status=ReviewStatus.KEPT), insert=False)

    def discard(self, entry_id: int) -> IndexEntry:
        """Never return this entry again (precompute does not remake it either)."""
        with self._lock:
            return self._write(replace(self.get(entry_id), review_status=ReviewStatus.DISCARDED), insert=False)

    def edit(self, entry_id: int, *, persona: str, texts: Sequence[str] | None = None, text: str | None = None, at: int | None = None,
             additional_outputs: Sequence[str] | None = None) -> IndexEntry:
        """Change a persona's outputs (all of them with `texts`, or the one `at` with `text`; any length); marks it edited."""
        with self._lock:
            entry = self._reviewable(entry_id)
            current = list(entry.outputs.get(persona, ()))
            if texts is not None:
                new = list(safe_texts(list(texts)))
                if not new:
                    raise RewriteIndexError("edit needs at least one non-empty text")
            elif text is not None:
                clean = safe_text(text)
                if not clean:
                    raise RewriteIndexError("edit needs a non-empty text")
                position = 0 if at is None else at  # the first output, or a new one after the last
                if not 0 <= position <= len(current):
                    raise RewriteIndexError(f"entry {entry_id} has {len(current)} {persona} outputs; --at must be 0-{len(current)}")
                new = current[:position] + [clean] + current[position + 1:]
            elif additional_outputs is None:
                raise RewriteIndexError("edit needs texts, a text or additional outputs")
            else:
                new = current
            outputs = dict(entry.outputs)
            if new:
                outputs[persona] = tuple(dict.fromkeys(new))[:MAX_TEXTS]
            extra = safe_texts(list(additional_outputs)) if additional_outputs is not None else entry.additional_outputs
            return self._write(replace(entry, outputs=outputs, additional_outputs=extra, review_status=ReviewStatus.EDITED), insert=False)

    def reindex(self, entry_id: int, *, query: str | None = None, signals: Mapping[str, str] | None = None,
                plain_outputs: Sequence[str] | None = None, scope: Scope | str | None = None, user_id: str | None = None) -> IndexEntry:
        """Change what an entry is found by (query, context signals, plain outputs, scope), recompute its keys; marks it edited."""
        with self._lock:
            entry = self._reviewable(entry_id)
            keys = entry.keys
            new_query = keys.query if query is None else " ".join(str(query).split())
            if not terms(new_query):
                raise RewriteIndexError("the query of an entry cannot be empty")
            context = context_from_signals({**keys.context_signals, **dict(signals or {})})
            plain = keys.plain_outputs if plain_outputs is None else plain_outputs
            new_scope = Scope(scope) if scope is not None else entry.scope
            owner = (user_id if user_id is not None else entry.user_id) if new_scope is Scope.USER else ""
            if new_scope is Scope.USER and not owner:
                raise RewriteIndexError("a user-scope entry needs a user (--user NAME)")
            new_keys = self.keys_for(new_query, context, plain)
            return self._write(replace(entry, keys=new_keys, scope=new_scope, user_id=owner, review_status=ReviewStatus.EDITED),
                               insert=False)

    def set_cached_audio(self, entry_id: int, path: str) -> IndexEntry:
        """Remember where the synthesised audio of an entry is (TTS is skipped when it exists)."""
        with self._lock:
            return self._write(replace(self.get(entry_id), cached_audio=str(path)), insert=False)

    def reembed(self) -> int:
        """Recompute every entry's keys with the current embedder and context method (after changing either); returns how many."""
        count = 0
        for entry in self.entries():
            keys = self.keys_for(entry.keys.query, context_from_signals(entry.keys.context_signals), entry.keys.plain_outputs)
            self._write(replace(entry, keys=keys), insert=False)
            count += 1
        return count

    def curated_records(self) -> Iterable[dict[str, Any]]:
        """One training record per curated persona output: query, context, plain outputs, persona and its rewrite."""
        for entry in self.entries():
            if not entry.curated:
                continue
            for persona, texts in sorted(entry.outputs.items()):
                for text in texts:
                    yield {"entry": entry.id, "status": entry.review_status.value, "scope": entry.scope.value, "query": entry.keys.query,
                           "context": entry.keys.context_signals, "plain": list(entry.keys.plain_outputs), "persona": persona,
                           "rewrite": text}

    def export_curated(self, out: Path) -> int:
        """Write the curated records as JSONL (for adjusting or retraining the rewriter); returns how many lines."""
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        lines = [json.dumps(r, ensure_ascii=False) for r in self.curated_records()]
        out.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        return len(lines)


__all__ = ["CURATED", "IndexEntry", "IndexKeys", "Lookup", "Match", "MatchKind", "MatchRule", "MatchSettings", "ReviewStatus",
           "RewriteIndex", "RewriteIndexError", "Scope", "UnknownEntry", "context_from_signals", "index_path", "safe_text", "safe_texts"]
