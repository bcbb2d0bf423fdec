"""Chroma clients: embedded on disk under the data dir, or a Chroma server by URL."""

from __future__ import annotations

import threading
from pathlib import Path
from urllib.parse import urlparse

_clients: dict[str, object] = {}
_lock = threading.Lock()


def open_client(data_dir: Path, *, url: str = ""):
    """A chromadb client: `HttpClient` when `url` is set, else a `PersistentClient` in `data_dir/chroma`.

    Chroma allows one embedded client per path and process, so clients are shared by path.
    """
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False, allow_reset=False)
    key = url or str(Path(data_dir, "chroma").resolve())
    with _lock:
        if key not in _clients:
            if url:
                parts = urlparse(url)
                _clients[key] = chromadb.HttpClient(
                    host=parts.hostname or "127.0.0.1", port=parts.port or 8000, ssl=parts.scheme == "https", settings=settings
                )
            else:
                Path(key).mkdir(parents=True, exist_ok=True)
                _clients[key] = chromadb.PersistentClient(path=key, settings=settings)
        return _clients[key]


COSINE = {"hnsw": {"space": "cosine"}}
