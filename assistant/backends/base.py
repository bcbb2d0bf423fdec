"""One interface for every language model: stream a continuation of a text prompt."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Iterable, Iterator, Sequence

from assistant.markup import first_stop, held_back


class Backend(ABC):
    """A language model that continues text. `stream` is the only required method; the rest are capabilities."""

    name: str = "backend"
    #: True when `score` is implemented (log-probabilities of given continuations).
    can_score: bool = False
    #: The agent prompt (assistant/prompts/NAME.yaml) this model works with; a trained adapter brings its own.
    prompt: str = "agent"

    @abstractmethod
    def stream(self, prompt: str, *, stop: Sequence[str] = (), max_tokens: int = 256, temperature: float = 0.0,
               forbid: Sequence[str] = ()) -> Iterator[str]:
        """Yield the continuation of `prompt` piece by piece, ending before the first stop string.

        `forbid` lists strings no token may start (the agent forbids tool tags once the model chose to
        answer); backends that cannot constrain decoding ignore it.
        """

    def complete(self, prompt: str, *, stop: Sequence[str] = (), max_tokens: int = 256, temperature: float = 0.0,
                 forbid: Sequence[str] = ()) -> str:
        """The whole continuation at once: drains `stream`."""
        return "".join(self.stream(prompt, stop=stop, max_tokens=max_tokens, temperature=temperature, forbid=forbid))

    def score(self, prompt: str, continuations: Sequence[str], *, otherwise: bool = False) -> list[float]:
        """Log-probability of each continuation after `prompt`.

        With `otherwise`, one more value is appended: the log-probability that the text continues with a
        first token that could start none of the continuations.
        """
        raise NotImplementedError(f"the {self.name} backend cannot score continuations")

    def load(self) -> None:
        """Load weights or check the connection now rather than on the first request."""

    def describe(self) -> str:
        """One line for logs and the UI: which model this is."""
        return self.name


def until_stop(pieces: Iterable[str], stop: Sequence[str]) -> Iterator[str]:
    """Re-chunk a text stream so it ends before the first stop string, for engines that don't stop by themselves."""
    stop = [s for s in stop if s]
    text, sent = "", 0
    for piece in pieces:
        text += piece
        cut = first_stop(text, stop)
        if cut >= 0:
            if cut > sent:
                yield text[sent:cut]
            return
        safe = len(text) - held_back(text, stop)
        if safe > sent:
            yield text[sent:safe]
            sent = safe
    if len(text) > sent:
        yield text[sent:]
