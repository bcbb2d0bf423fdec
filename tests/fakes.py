"""Deterministic stand-ins for tests only: a scripted language model and a hashing embedder."""

from __future__ import annotations

import hashlib
import math
import re
import threading
from collections import deque
from typing import Iterator, Sequence

from assistant.backends.base import Backend, until_stop


class ScriptedBackend(Backend):
    """Plays back queued outputs, a few characters at a time, honouring stop strings like a real engine.

    `decisions` (optional) makes it a scoring backend: each queued entry names the option to prefer
    (a tool name, or None for answering directly).
    """

    name = "scripted"

    def __init__(self, outputs: Sequence[str] = (), *, decisions: Sequence[str | None] | None = None, chunk: int = 3) -> None:
        self.outputs: deque[str] = deque(outputs)
        self.decisions: deque[str | None] | None = deque(decisions) if decisions is not None else None
        self.can_score = decisions is not None
        self.chunk = chunk
        self.prompts: list[str] = []
        self.forbids: list[tuple[str, ...]] = []
        self.lock = threading.Lock()

    def enqueue(self, *outputs: str) -> "ScriptedBackend":
        """Add outputs to play back, in order."""
        self.outputs.extend(outputs)
        return self

    def stream(self, prompt: str, *, stop: Sequence[str] = (), max_tokens: int = 256, temperature: float = 0.0,
               forbid: Sequence[str] = ()) -> Iterator[str]:
        """Yield the next scripted output (or an empty one when the script ran out)."""
        with self.lock:
            self.prompts.append(prompt)
            self.forbids.append(tuple(forbid))
            text = self.outputs.popleft() if self.outputs else ""
        pieces = (text[i : i + self.chunk] for i in range(0, len(text), self.chunk))
        yield from until_stop(pieces, stop)

    def score(self, prompt: str, continuations: Sequence[str], *, otherwise: bool = False) -> list[float]:
        """Prefer the next scripted decision."""
        if self.decisions is None:
            raise NotImplementedError
        want = self.decisions.popleft() if self.decisions else None
        scores = [0.0 if c.strip() == f"<{want}>" else -5.0 for c in continuations]
        if otherwise:
            scores.append(0.0 if want is None else -5.0)
        return scores


class HashEmbedder:
    """Bag-of-words vectors from hashed tokens: similar wording gives similar vectors, no model needed."""

    def __init__(self, dimensions: int = 64) -> None:
        self.dimensions = dimensions

    def embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        """Normalised hashed-token counts."""
        vectors = []
        for text in texts:
            vector = [0.0] * self.dimensions
            for token in re.findall(r"\w+", text.lower()):
                vector[int(hashlib.md5(token.encode()).hexdigest(), 16) % self.dimensions] += 1.0
            norm = math.sqrt(sum(v * v for v in vector)) or 1.0
            vectors.append([v / norm for v in vector])
        return vectors
