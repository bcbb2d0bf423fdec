"""Deterministic stand-ins for tests only: a scripted language model and a hashing embedder."""

from __future__ import annotations

import hashlib
import math
import re
import threading
from collections import deque
from typing import Callable, Iterator, Sequence

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


class ScriptedLLM:
    """A text-in, text-out client (the alignment `LLM`): replies from a queue, or from a function of the prompt."""

    def __init__(self, replies: Sequence[str] | Callable[[str], str] = (), *, name: str = "llm") -> None:
        self.name = name
        self.reply = replies if callable(replies) else None
        self.replies: deque[str] = deque([] if callable(replies) else replies)
        self.prompts: list[str] = []

    def enqueue(self, *replies: str) -> "ScriptedLLM":
        """Add replies to play back, in order."""
        self.replies.extend(replies)
        return self

    def complete(self, prompt: str) -> str:
        """The next queued reply (empty when none is left), or the function's reply to the prompt."""
        self.prompts.append(prompt)
        if self.reply is not None:
            return self.reply(prompt)
        return self.replies.popleft() if self.replies else ""


class RoleCrash(RuntimeError):
    """Raised by `ScriptedRoles` to simulate a run killed in the middle of a step."""


class ScriptedRoles:
    """Deterministic alignment roles: each is a function of its input only, every call is logged as (role, key).

    `judge(instruction, response) -> score` decides the scores (default: 5 for everything, so nothing passes);
    `crash=(role, k)` makes that role raise `RoleCrash` on its call number k + 1.
    """

    def __init__(self, *, judge: Callable | None = None, actions: Sequence[str] = ("add a constraint", "add a twist", "ask for an example"),
                 metadata: Callable | None = None, crash: tuple[str, int] | None = None) -> None:
        self.judge = judge or (lambda instruction, response: 5.0)
        self.actions = list(actions)
        self.metadata = metadata
        self.crash = crash
        self.calls: list[tuple[str, str]] = []

    def called(self, role: str) -> list[str]:
        """The keys (instruction ids, texts or metadata keys) one role was called with, in order."""
        return [key for name, key in self.calls if name == role]

    def _log(self, role: str, key: str) -> None:
        if self.crash and self.crash[0] == role and len(self.called(role)) >= self.crash[1]:
            raise RoleCrash(f"{role} crashed after {self.crash[1]} calls")
        self.calls.append((role, key))

    def roles(self, *, post_export: Callable | None = None):
        """A `Roles` whose every role logs here."""
        from types import SimpleNamespace

        from assistant.alignment.records import Metadata, RubricSet
        from assistant.alignment.roles import Roles

        def encode(text):
            self._log("encoder", text)
            return self.metadata(text) if self.metadata else Metadata("creative writing", ["role-play", "sports"])

        def write(metadata, n):
            self._log("decoder", metadata.key)
            return [f"{metadata.use_case} task {k}" for k in range(n)]

        def rubrics(metadata, k):
            self._log("rubric_writer", metadata.key)
            return RubricSet(metadata.key, [f"rubric {i}" for i in range(k)], list(self.actions))

        def improve(instruction, action):
            self._log("improver", instruction.id)
            return f"{instruction.text} + {action}"

        def respond(role):
            def answer(instruction):
                self._log(role, instruction.id)
                return f"{role} answer to: {instruction.text}"
            return answer

        def score(instruction, response):
            self._log("judge", instruction.id)
            return self.judge(instruction, response)

        return Roles(encoder=SimpleNamespace(encode=encode), decoder=SimpleNamespace(write=write),
                     rubric_writer=SimpleNamespace(rubrics=rubrics), improver=SimpleNamespace(improve=improve),
                     strong=SimpleNamespace(respond=respond("strong")), target=SimpleNamespace(respond=respond("target")),
                     judge=SimpleNamespace(score=score), post_export=post_export)
