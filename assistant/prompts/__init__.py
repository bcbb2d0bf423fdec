"""Prompts are data (YAML next to this file), rendered with Jinja2 in strict mode."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import jinja2
import yaml

from assistant.markup import neutralise, render_call, render_result

PROMPTS_DIR = Path(__file__).parent
_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False)


@lru_cache(maxsize=None)
def load(name: str) -> dict[str, Any]:
    """Read a prompt file by name (without `.yaml`)."""
    return yaml.safe_load((PROMPTS_DIR / f"{name}.yaml").read_text(encoding="utf-8"))


def render(template: str, **values: Any) -> str:
    """Render a template string; a missing value raises instead of rendering as empty."""
    return _ENV.from_string(template).render(**values)


@dataclass(frozen=True)
class PastTurn:
    """One earlier exchange of this session, as the transcript shows it."""

    user: str
    answer: str


@dataclass(frozen=True)
class Example:
    """One few-shot demonstration: a message, the calls it needs, the answer."""

    user: str
    calls: tuple[tuple[str, str, str], ...]
    answer: str

    @property
    def kind(self) -> str:
        """The first tool it calls, or `none`."""
        return self.calls[0][0] if self.calls else "none"


class AgentPrompt:
    """Builds the transcript the model continues: header, demonstrations, session context, the user turn.

    With an embedder, the demonstrations are the `shots` examples most similar to the message (most similar
    last, nearest the question), at least `min_direct` of them answering without a tool. Without one, the
    examples are taken round-robin across tools, so every tool is shown.
    """

    def __init__(self, tools: Sequence[Any], *, name: str = "agent", embedder: Any = None) -> None:
        data = load(name)
        self.tools = list(tools)
        names = {t.name for t in self.tools}
        self._turn = data["turn"]
        self.header = render(data["header"], tools=self.tools).rstrip() + "\n\n"
        self.examples = [
            Example(ex["user"], tuple(tuple(c) for c in ex.get("calls") or ()), ex["answer"])
            for ex in data["examples"]
            if all(call[0] in names for call in ex.get("calls") or ())
        ]
        self.shots = min(int(data["shots"]), len(self.examples))
        self.min_direct = int(data["min_direct"])
        self.embedder = embedder
        self._vectors: list[list[float]] | None = None

    def user_turn(self, user: str) -> str:
        """`User: ...` / `Assistant:` for one message (neutralised, on one line)."""
        return render(self._turn, user=neutralise(" ".join(user.split())))

    def exchange(self, example: Example) -> str:
        """One demonstration as transcript text."""
        steps = "".join(f" {render_call(tool, query)}{render_result(tool, result)}" for tool, query, result in example.calls)
        return f"{self.user_turn(example.user)}{steps} {example.answer}"

    def select(self, user: str) -> list[Example]:
        """The demonstrations for this message, in prompt order."""
        if self.embedder is None:
            queues: dict[str, list[Example]] = {}
            for example in self.examples:
                queues.setdefault(example.kind, []).append(example)
            chosen: list[Example] = []
            while len(chosen) < self.shots:
                for queue in queues.values():
                    if queue and len(chosen) < self.shots:
                        chosen.append(queue.pop(0))
            return chosen
        if self._vectors is None:
            self._vectors = self.embedder.embed_batch([e.user for e in self.examples])
        query = self.embedder.embed_batch([user])[0]
        ranked = sorted(range(len(self.examples)), key=lambda i: -sum(a * b for a, b in zip(query, self._vectors[i])))
        best = [self.examples[i] for i in ranked[: self.shots]]
        direct = [self.examples[i] for i in ranked if not self.examples[i].calls]
        missing = [e for e in direct if e not in best][: max(0, self.min_direct - sum(not e.calls for e in best))]
        if missing:
            calls = [e for e in best if e.calls]
            drop = set(map(id, calls[len(calls) - len(missing):]))
            best = [e for e in best if id(e) not in drop] + missing
            best.sort(key=lambda e: ranked.index(self.examples.index(e)))
        return best[::-1]

    def transcript(self, user: str, *, context: Sequence[PastTurn] = (), budget_chars: int = 6000) -> str:
        """The full prompt up to `Assistant:`; the oldest context turns are dropped first to fit the budget."""
        preamble = self.header + "".join(self.exchange(e) + "\n\n" for e in self.select(user))
        turns = [f"{self.user_turn(t.user)} {neutralise(t.answer)}" for t in context]
        current = self.user_turn(user)
        while turns and len(preamble) + sum(len(t) + 2 for t in turns) + len(current) > budget_chars:
            turns.pop(0)
        return preamble + "".join(t + "\n\n" for t in turns) + current
