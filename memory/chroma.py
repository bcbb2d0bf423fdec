"""Chroma clients (embedded on disk under the data dir, or a Chroma server by URL) and their failures."""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Any, Callable, TypeVar
from urllib.parse import urlparse

from assistant.errors import AssistantError

COSINE = {"hnsw": {"space": "cosine"}}
_clients: dict[str, Any] = {}
_lock = threading.Lock()
F = TypeVar("F", bound=Callable[..., Any])


class MemoryUnavailable(AssistantError):
    """The store cannot be opened or written; nothing in it was changed or deleted."""


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
            try:
                if url:
                    parts = urlparse(url)
                    _clients[key] = chromadb.HttpClient(host=parts.hostname or "127.0.0.1", port=parts.port or 8000,
                                                        ssl=parts.scheme == "https", settings=settings)
                else:
                    Path(key).mkdir(parents=True, exist_ok=True)
                    _clients[key] = chromadb.PersistentClient(path=key, settings=settings)
            except Exception as exc:
                raise _unavailable(key, exc) from exc
        return _clients[key]


def _is_store_error(exc: BaseException) -> bool:
    names = {cls.__name__ for cls in type(exc).__mro__}
    return isinstance(exc, OSError) or bool(names & {"ChromaError", "ConnectError", "ConnectionError", "TimeoutException"})


def _unavailable(where: str, exc: BaseException) -> MemoryUnavailable:
    return MemoryUnavailable(
        f"the memory store at {where} cannot be used ({type(exc).__name__}: {exc}). Nothing in it was changed or "
        "deleted: check the folder or the server, move a damaged folder aside to start afresh, or restore an export."
    )


def guarded(method: F) -> F:
    """Turn store failures (a damaged or missing folder, an unreachable server) into MemoryUnavailable."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except MemoryUnavailable:
            raise
        except Exception as exc:
            if type(exc).__name__ == "NotFoundError":  # collections deleted by another process: reopen once
                self.forget_handles()
                try:
                    return method(self, *args, **kwargs)
                except Exception as again:
                    exc = again
            if _is_store_error(exc):
                raise _unavailable(self.chroma_url or str(Path(self.data_dir, "chroma")), exc) from exc
            raise

    return wrapper  # type: ignore[return-value]
