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


class AgentPrompt:
    """Builds the transcript the model continues: header, few-shot examples, session context, the user turn."""

    def __init__(self, tools: Sequence[Any], *, name: str = "agent") -> None:
        data = load(name)
        self.tools = list(tools)
        names = {t.name for t in self.tools}
        self._turn = data["turn"]
        blocks = [render(data["header"], tools=self.tools).rstrip()]
        for example in data["examples"]:
            calls = example.get("calls") or []
            if all(call[0] in names for call in calls):
                blocks.append(self._exchange(example["user"], calls, example["answer"]))
        self.preamble = "\n\n".join(blocks) + "\n\n"

    def user_turn(self, user: str) -> str:
        """`User: ...` / `Assistant:` for one message (neutralised)."""
        return render(self._turn, user=neutralise(" ".join(user.split())))

    def _exchange(self, user: str, calls: Sequence[Sequence[str]], answer: str) -> str:
        steps = "".join(f" {render_call(tool, query)}{render_result(tool, result)}" for tool, query, result in calls)
        return f"{self.user_turn(user)}{steps} {answer}"

    def transcript(self, user: str, *, context: Sequence[PastTurn] = (), budget_chars: int = 6000) -> str:
        """The full prompt up to `Assistant:`; the oldest context turns are dropped first to fit the budget."""
        turns = [f"{self.user_turn(t.user)} {neutralise(t.answer)}" for t in context]
        current = self.user_turn(user)
        while turns and len(self.preamble) + sum(len(t) + 2 for t in turns) + len(current) > budget_chars:
            turns.pop(0)
        return self.preamble + "".join(t + "\n\n" for t in turns) + current
