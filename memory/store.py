"""A minimal per-user memory: remembered turns in one Chroma collection per user, recalled by similarity.

The full memory bank (thresholds, replacement on conflict, clean-up) is a separate piece of work; this is the
part the tool loop needs: write after the answer, read through the `<memory>` tag.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from memory.chroma import COSINE, open_client
from memory.embeddings import Embedder, embed_one
from tools.registry import Tool, ToolContext, tool

MAX_MEMORY_CHARS = 2000


def collection_for(user_id: str) -> str:
    """The user's own collection: a digest of the id, so no crafted name can point at another user's."""
    return "mem_" + hashlib.sha256(user_id.encode("utf-8", "replace")).hexdigest()[:40]


@dataclass(frozen=True)
class Memory:
    """One remembered turn."""

    text: str
    answer: str
    when: datetime
    similarity: float = 0.0


class MemoryStore:
    """Per-user remembered turns over Chroma (embedded on disk, or a server)."""

    def __init__(self, data_dir: Path, embedder: Embedder, *, chroma_url: str = "", threshold: float = 0.35, top_k: int = 3) -> None:
        self.data_dir = Path(data_dir)
        self.embedder = embedder
        self.chroma_url = chroma_url
        self.threshold = threshold
        self.top_k = top_k
        self._lock = threading.Lock()

    def _collection(self, user_id: str):
        client = open_client(self.data_dir, url=self.chroma_url)
        return client.get_or_create_collection(collection_for(user_id), configuration=COSINE, embedding_function=None)

    def remember(self, user_id: str, text: str, answer: str = "", *, when: datetime | None = None) -> bool:
        """Store a turn unless an almost identical one is already there; True when stored."""
        text = " ".join(text.split())[:MAX_MEMORY_CHARS]
        if not text:
            return False
        when = when or datetime.now(timezone.utc)
        vector = embed_one(self.embedder, text)
        with self._lock:
            collection = self._collection(user_id)
            if collection.count():
                near = collection.query(query_embeddings=[vector], n_results=1)
                if near["distances"][0] and 1.0 - near["distances"][0][0] > 0.95:
                    return False
            key = hashlib.sha256(f"{when.isoformat()}|{text}".encode("utf-8", "replace")).hexdigest()
            collection.add(ids=[key], embeddings=[vector], documents=[text],
                           metadatas=[{"answer": answer[:MAX_MEMORY_CHARS], "ts": when.timestamp()}])
        return True

    def recall(self, user_id: str, query: str) -> list[Memory]:
        """The user's memories most similar to the query, above the threshold, best first."""
        collection = self._collection(user_id)
        if not query.strip() or not collection.count():
            return []
        found = collection.query(query_embeddings=[embed_one(self.embedder, query)], n_results=min(self.top_k, collection.count()))
        memories = []
        for text, meta, dist in zip(found["documents"][0], found["metadatas"][0], found["distances"][0]):
            if 1.0 - dist >= self.threshold:
                when = datetime.fromtimestamp(float(meta.get("ts", 0)), timezone.utc)
                memories.append(Memory(text, str(meta.get("answer", "")), when, 1.0 - dist))
        return memories

    def memory(self, topic: str, ctx: ToolContext) -> str:
        """Recall what the user told you in earlier conversations.

        Args:
            topic: what to look for, e.g. "my sister's name"

        Example:
            my sister's name
        """
        found = self.recall(ctx.user_id, topic)
        if not found:
            return "Nothing about that in this user's memories."
        return " | ".join(f'On {m.when.astimezone(ctx.now().tzinfo):%-d %b} you said: "{m.text}"' for m in found)

    @property
    def tool(self) -> Tool:
        """The tool the agent registers."""
        return tool(self.memory, name="memory")
