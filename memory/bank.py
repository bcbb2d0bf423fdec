"""The long-term memory bank: per-user remembered turns, read by similarity, written after each answer, cleaned.

Storage is Chroma, three collections per user, named by a digest of the user id so no crafted name can point
at another user's: `mem_*` (active rows, embedded by their input), `memua_*` (the same rows embedded by input
and answer, for reads that compare against both) and `memh_*` (the history: replaced and deleted rows, so a
replacement never deletes without adding and every change can be undone).
"""

from __future__ import annotations

import hashlib
import re
import threading
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from enum import Enum
from pathlib import Path
from typing import Callable, Iterable, Sequence

from assistant.markup import clean_text
from memory.chroma import COSINE, guarded, open_client
from memory.conflicts import ConflictDetector, FactConflicts
from memory.embeddings import Embedder
from memory.staleness import is_stale as default_is_stale
from memory.topics import topic_of
from tools.registry import Tool, ToolContext, tool, utc_now

NOTHING_REMEMBERED = "Nothing about that in this user's memories."  # the <memory> result when no row matches


class ReadMode(str, Enum):
    """Which rows a read returns (spec §6.2)."""

    THRESHOLD = "threshold"  # every row above the first threshold
    LATEST = "latest"  # only the newest row above the first threshold
    TOP_K = "top_k"  # the K most similar rows
    TOPIC = "topic"  # rows above the threshold with the query's topic


class Compare(str, Enum):
    """What a query or a new turn is compared against."""

    INPUT = "input"
    INPUT_ANSWER = "input_answer"


class GapPolicy(str, Enum):
    """A new turn similar to a row but not in conflict with it (spec §6.4.3)."""

    SKIP = "skip"  # treated as already covered
    ADD = "add"


@dataclass(frozen=True)
class MemorySettings:
    """Thresholds are cosine similarities of all-MiniLM-L6-v2 vectors, which run lower than the spec's examples."""

    threshold: float = 0.35  # first (δ): a read returns rows above it
    novelty: float = 0.85  # second: a turn below it against every row is new and is added
    replace: float = 0.5  # third: a conflicting row above it is replaced by the new turn
    context_threshold: float = 0.35  # fourth: pre-fetch with input + session context
    read_mode: ReadMode = ReadMode.THRESHOLD
    top_k: int = 3
    read_compare: Compare = Compare.INPUT
    write_compare: Compare = Compare.INPUT
    gap_policy: GapPolicy = GapPolicy.SKIP
    retention_days: float = 30.0
    max_rows_read: int = 5  # a threshold read returns at most this many
    max_chars: int = 4000  # longest input or answer kept

    def __post_init__(self) -> None:
        for name in ("threshold", "novelty", "replace", "context_threshold"):
            if not -1.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"memory {name} threshold must be a cosine similarity between -1 and 1")
        if self.top_k < 1 or self.max_rows_read < 1 or self.retention_days <= 0:
            raise ValueError("memory top_k, max_rows_read and retention_days must be positive")
        for name, kind in (("read_mode", ReadMode), ("read_compare", Compare), ("write_compare", Compare), ("gap_policy", GapPolicy)):
            try:
                object.__setattr__(self, name, kind(getattr(self, name)))
            except ValueError:
                raise ValueError(f"memory {name} must be one of {', '.join(k.value for k in kind)}, got {getattr(self, name)!r}") from None


@dataclass(frozen=True)
class MemoryRow:
    """One remembered turn."""

    id: str
    input: str
    answer: str
    timestamp: datetime
    topic: str = ""
    similarity: float = 0.0
    note: str = ""  # history only: why the row left the bank (replaced, deleted, undone)

    def to_dict(self) -> dict:
        """The JSON shape of exports."""
        data = {"id": self.id, "input": self.input, "answer": self.answer, "timestamp": self.timestamp.isoformat(), "topic": self.topic}
        return data | ({"note": self.note} if self.note else {})


@dataclass(frozen=True)
class WriteResult:
    """What writing a turn did: `added`, `replaced` (with the rows it moved to history) or `skipped`."""

    action: str
    row: MemoryRow | None = None
    replaced: tuple[MemoryRow, ...] = ()
    reason: str = ""


def user_key(user_id: str) -> str:
    """The digest naming a user's collections."""
    return hashlib.sha256(user_id.encode("utf-8", "replace")).hexdigest()[:40]


def _row(row_id: str, meta: dict, similarity: float = 0.0) -> MemoryRow:
    return MemoryRow(row_id, str(meta.get("input", "")), str(meta.get("answer", "")),
                     datetime.fromtimestamp(float(meta.get("ts", 0.0)), timezone.utc), str(meta.get("topic", "")),
                     similarity, str(meta.get("note", "")))


def _meta(row: MemoryRow, **extra: str) -> dict:
    return {"input": row.input, "answer": row.answer, "ts": row.timestamp.timestamp(), "topic": row.topic, **extra}


class MemoryBank:
    """Per-user long-term memory (spec §6): rows, reads, writes with replacement, history, clean-up."""

    def __init__(self, data_dir: Path, embedder: Embedder, *, settings: MemorySettings = MemorySettings(),
                 conflicts: ConflictDetector | None = None, is_stale: Callable[[MemoryRow, datetime], bool] = default_is_stale,
                 chroma_url: str = "", clock: Callable[[], datetime] = utc_now) -> None:
        self.data_dir = Path(data_dir)
        self.embedder = embedder
        self.settings = settings
        self.conflicts = conflicts or FactConflicts()
        self.is_stale = is_stale
        self.chroma_url = chroma_url
        self.clock = clock
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._handles: dict[str, tuple] = {}

    # -- storage ----------------------------------------------------------------------------------------
    def _client(self):
        return open_client(self.data_dir, url=self.chroma_url)

    def _collections(self, key: str):
        """(active, input+answer, history) collections of one user digest; handles are kept between calls."""
        with self._locks_guard:
            if key not in self._handles:
                client = self._client()
                self._handles[key] = tuple(client.get_or_create_collection(f"{prefix}_{key}", configuration=COSINE, embedding_function=None)
                                           for prefix in ("mem", "memua", "memh"))
            return self._handles[key]

    def forget_handles(self) -> None:
        """Drop cached collection handles (another process deleted or recreated collections)."""
        with self._locks_guard:
            self._handles.clear()

    def _lock(self, key: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(key, threading.Lock())

    def _text(self, text: str, what: str) -> str:
        text = " ".join(clean_text(text or "").split())
        if len(text) > self.settings.max_chars:
            raise ValueError(f"the {what} is {len(text):,} characters; a memory holds at most {self.settings.max_chars:,}")
        return text

    def _store(self, key: str, row: MemoryRow) -> None:
        active, both, _ = self._collections(key)
        vectors = self.embedder.embed_batch([row.input, f"{row.input} {row.answer}".strip()])
        both.upsert(ids=[row.id], embeddings=[vectors[1]], documents=[f"{row.input} {row.answer}"], metadatas=[_meta(row)])
        active.upsert(ids=[row.id], embeddings=[vectors[0]], documents=[row.input], metadatas=[_meta(row)])

    def _retire(self, key: str, rows: Iterable[MemoryRow], note: str) -> None:
        """Move rows to the history (added there first, then removed from the bank)."""
        rows = list(rows)
        if not rows:
            return
        active, both, history = self._collections(key)
        vectors = self.embedder.embed_batch([r.input for r in rows])
        history.upsert(ids=[r.id for r in rows], embeddings=vectors, documents=[r.input for r in rows],
                       metadatas=[_meta(r, note=note, retired=self.clock().timestamp()) for r in rows])
        active.delete(ids=[r.id for r in rows])
        both.delete(ids=[r.id for r in rows])

    # -- reads ------------------------------------------------------------------------------------------
    def _nearest(self, key: str, text: str, *, compare: Compare, limit: int, topic: str = "") -> list[MemoryRow]:
        active, both, _ = self._collections(key)
        collection = active if compare is Compare.INPUT else both
        if not text.strip():
            return []
        found = collection.query(query_embeddings=self.embedder.embed_batch([text]), n_results=limit,
                                 where={"topic": topic} if topic else None)
        return [_row(i, m, 1.0 - d) for i, m, d in zip(found["ids"][0], found["metadatas"][0], found["distances"][0])]

    @guarded
    def read(self, user_id: str, query: str, *, mode: ReadMode | None = None, threshold: float | None = None) -> list[MemoryRow]:
        """Memories for a query by the configured rule: threshold, latest, top-K or topic; best first."""
        mode = ReadMode(mode or self.settings.read_mode)
        threshold = self.settings.threshold if threshold is None else threshold
        key, compare = user_key(user_id), self.settings.read_compare
        if mode is ReadMode.TOP_K:
            return self._nearest(key, query, compare=compare, limit=self.settings.top_k)
        topic = topic_of(query) if mode is ReadMode.TOPIC else ""
        rows = [r for r in self._nearest(key, query, compare=compare, limit=max(self.settings.max_rows_read, 20), topic=topic)
                if r.similarity > threshold]
        if mode is ReadMode.LATEST:
            return sorted(rows, key=lambda r: r.timestamp)[-1:]
        return rows[: self.settings.max_rows_read]

    @guarded
    def prefetch(self, user_id: str, message: str, *, context: Sequence[str] = ()) -> list[MemoryRow]:
        """Pre-generation read: by the message (first threshold) or message + session context (fourth)."""
        if context:
            return self.read(user_id, " ".join([*context, message]), threshold=self.settings.context_threshold)
        return self.read(user_id, message)

    @guarded
    def rows(self, user_id: str) -> list[MemoryRow]:
        """All of a user's memories, newest first."""
        active, _, _ = self._collections(user_key(user_id))
        found = active.get(include=["metadatas"])
        return sorted((_row(i, m) for i, m in zip(found["ids"], found["metadatas"])), key=lambda r: r.timestamp, reverse=True)

    @guarded
    def history(self, user_id: str) -> list[MemoryRow]:
        """Rows that were replaced or deleted, newest change first."""
        _, _, history = self._collections(user_key(user_id))
        found = history.get(include=["metadatas"])
        pairs = sorted(zip(found["ids"], found["metadatas"]), key=lambda p: p[1].get("retired", 0), reverse=True)
        return [_row(i, m) for i, m in pairs]

    @guarded
    def search(self, user_id: str, text: str, *, limit: int = 20) -> list[MemoryRow]:
        """Memories that contain the text, then the most similar ones."""
        needle = text.strip().lower()
        exact = [r for r in self.rows(user_id) if needle and (needle in r.input.lower() or needle in r.answer.lower())]
        similar = self._nearest(user_key(user_id), text, compare=Compare.INPUT_ANSWER, limit=limit)
        seen = {r.id for r in exact}
        return (exact + [r for r in similar if r.id not in seen])[:limit]

    # -- writes -----------------------------------------------------------------------------------------
    @guarded
    def add(self, user_id: str, text: str, answer: str = "", *, when: datetime | None = None, topic: str | None = None) -> MemoryRow:
        """Store a row unconditionally (the write rules are in `remember`)."""
        text, answer = self._text(text, "memory"), self._text(answer, "answer")
        if not text:
            raise ValueError("a memory needs some text")
        when = when or self.clock()
        row = MemoryRow(f"{int(when.timestamp() * 1000):013d}-{uuid.uuid4().hex[:10]}", text, answer, when,
                        topic_of(f"{text} {answer}") if topic is None else topic)
        key = user_key(user_id)
        with self._lock(key):
            self._store(key, row)
        return row

    @guarded
    def remember(self, user_id: str, text: str, answer: str, *, when: datetime | None = None) -> WriteResult:
        """Write a finished turn by the spec's rules: replace a conflicting similar row, add a new one, else the gap policy."""
        text, answer = self._text(text, "message"), self._text(answer, "answer")
        if not text:
            return WriteResult("skipped", reason="empty")
        if answer and self.conflicts.conflicts(as_said_by_user(answer), text):
            answer = ""  # the assistant got the user's own statement wrong: keep the statement, not the mistake
        key = user_key(user_id)
        probe = text if self.settings.write_compare is Compare.INPUT else f"{text} {answer}"
        with self._lock(key):
            near = self._nearest(key, probe, compare=self.settings.write_compare, limit=10)
            clash = [r for r in near if r.similarity > self.settings.replace and self.conflicts.conflicts(text, r.input)]
            top = near[0].similarity if near else -1.0
            if not clash and top >= self.settings.novelty and self.settings.gap_policy is GapPolicy.SKIP:
                return WriteResult("skipped", reason=f"already covered by {near[0].id} (similarity {top:.2f})")
            when = when or self.clock()
            row = MemoryRow(f"{int(when.timestamp() * 1000):013d}-{uuid.uuid4().hex[:10]}", text, answer, when, topic_of(f"{text} {answer}"))
            self._store(key, row)
            self._retire(key, clash, note=f"replaced by {row.id}")
        return WriteResult("replaced" if clash else "added", row, tuple(clash))

    @guarded
    def edit(self, user_id: str, row_id: str, *, text: str | None = None, answer: str | None = None) -> MemoryRow:
        """Change a memory's text or answer; the old version goes to the history."""
        key = user_key(user_id)
        with self._lock(key):
            old = self._get(key, row_id)
            new = replace(old, input=self._text(text, "memory") if text is not None else old.input,
                          answer=self._text(answer, "answer") if answer is not None else old.answer)
            if not new.input:
                raise ValueError("a memory needs some text")
            new = replace(new, id=f"{old.id[:13]}-{uuid.uuid4().hex[:10]}", topic=topic_of(f"{new.input} {new.answer}"))
            self._store(key, new)
            self._retire(key, [old], note=f"edited into {new.id}")
        return new

    @guarded
    def delete(self, user_id: str, row_id: str) -> MemoryRow:
        """Remove one memory (kept in the history, so it can be undone)."""
        key = user_key(user_id)
        with self._lock(key):
            row = self._get(key, row_id)
            self._retire(key, [row], note="deleted")
        return row

    @guarded
    def delete_all(self, user_id: str) -> int:
        """Erase every memory of the user, history included; returns how many active rows there were."""
        key = user_key(user_id)
        with self._lock(key):
            count = self._collections(key)[0].count()
            client = self._client()
            with self._locks_guard:
                self._handles.pop(key, None)
            for prefix in ("mem", "memua", "memh"):
                client.delete_collection(f"{prefix}_{key}")
        return count

    @guarded
    def undo(self, user_id: str, history_id: str) -> MemoryRow:
        """Bring a replaced, edited or deleted row back; the row that replaced it goes to the history."""
        key = user_key(user_id)
        with self._lock(key):
            _, _, history = self._collections(key)
            found = history.get(ids=[history_id], include=["metadatas"])
            if not found["ids"]:
                raise KeyError(f"no change {history_id!r} in this user's history")
            meta = found["metadatas"][0]
            row = _row(history_id, meta)
            successor = str(meta.get("note", "")).rpartition(" ")[2]
            current = self._find(key, successor)
            self._store(key, replace(row, note=""))
            history.delete(ids=[history_id])
            if current is not None:
                self._retire(key, [current], note=f"undone, {history_id} restored")
        return replace(row, note="")

    def _find(self, key: str, row_id: str) -> MemoryRow | None:
        found = self._collections(key)[0].get(ids=[row_id], include=["metadatas"]) if row_id else {"ids": []}
        return _row(found["ids"][0], found["metadatas"][0]) if found["ids"] else None

    def _get(self, key: str, row_id: str) -> MemoryRow:
        row = self._find(key, row_id)
        if row is None:
            raise KeyError(f"no memory {row_id!r} for this user")
        return row

    @guarded
    def export(self, user_id: str) -> dict:
        """Everything stored for the user, as JSON-ready data."""
        return {"user": user_id, "exported_at": self.clock().isoformat(),
                "memories": [r.to_dict() for r in self.rows(user_id)], "history": [r.to_dict() for r in self.history(user_id)]}

    # -- clean-up ---------------------------------------------------------------------------------------
    @guarded
    def cleanup(self, *, now: datetime | None = None) -> dict[str, int]:
        """Delete rows past the retention period or failing the staleness check, for every user; returns counts."""
        now = now or self.clock()
        cutoff = (now - timedelta(days=self.settings.retention_days)).timestamp()
        counts = {"expired": 0, "stale": 0, "history_expired": 0}
        for name in [c if isinstance(c, str) else c.name for c in self._client().list_collections()]:
            if not name.startswith("mem_"):
                continue
            key = name[len("mem_"):]
            with self._lock(key):
                active, both, history = self._collections(key)
                found = active.get(include=["metadatas"])
                rows = [_row(i, m) for i, m in zip(found["ids"], found["metadatas"])]
                expired = [r.id for r in rows if r.timestamp.timestamp() < cutoff]
                stale = [r.id for r in rows if r.id not in expired and self.is_stale(r, now)]
                for ids in (expired, stale):
                    if ids:
                        active.delete(ids=ids)
                        both.delete(ids=ids)
                old = history.get(include=["metadatas"])
                gone = [i for i, m in zip(old["ids"], old["metadatas"]) if float(m.get("retired", 0)) < cutoff]
                if gone:
                    history.delete(ids=gone)
                counts["expired"] += len(expired)
                counts["stale"] += len(stale)
                counts["history_expired"] += len(gone)
        return counts

    # -- the tool ---------------------------------------------------------------------------------------
    def memory(self, topic: str, ctx: ToolContext) -> str:
        """Recall what the user told you in earlier conversations.

        Args:
            topic: what to look for, e.g. "my sister's name"

        Example:
            my sister's name
        """
        rows = self.read(ctx.user_id, topic)
        if not rows:
            return NOTHING_REMEMBERED
        return " | ".join(describe(r, ctx) for r in rows)

    @property
    def tool(self) -> Tool:
        """The `<memory>` tool."""
        return tool(self.memory, name="memory")


_SECOND_PERSON = [(r"\byour\b", "my"), (r"\byou're\b", "I'm"), (r"\byou are\b", "I am"), (r"\byou\b", "I")]


def as_said_by_user(answer: str) -> str:
    """An answer turned round to the user's voice ("your dog is Rex" → "my dog is Rex"), to compare it with their words."""
    for pattern, replacement in _SECOND_PERSON:
        answer = re.sub(pattern, replacement, answer, flags=re.I)
    return answer


def describe(row: MemoryRow, ctx: ToolContext) -> str:
    """A memory as the model reads it: when, what the user said, what the assistant answered."""
    said = f'On {row.timestamp.astimezone(ctx.now().tzinfo):%-d %b} you said: "{row.input}"'
    return f'{said} I answered: "{row.answer}"' if row.answer else said
