"""The tool-token loop: generate, run any `<K>query</K>` call, append `<K-r>result</K-r>`, repeat; a call-free output is the answer."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterator, Sequence

from assistant.backends.base import Backend
from assistant.decision import ToolDecision
from assistant.markup import (
    ParsedAnswer,
    ParsedCall,
    closing,
    held_back,
    neutralise,
    opening,
    parse,
    render_call,
    render_result,
    strip_markup,
)
from assistant.prompts import AgentPrompt, PastTurn, load
from assistant.types import Call, Event, FinalAnswer, Notice, Outcome, TextDelta, Timings, ToolCall, ToolResult
from memory.embeddings import Embedder
from tools.registry import ToolContext, ToolRegistry

MEMORY = "memory"  # the tag pre-fetched memories are shown under


@dataclass(frozen=True)
class AgentSettings:
    """Knobs of the loop; defaults documented in the README's configuration table."""

    max_steps: int = 8  # tool calls per turn; at the cap a final answer is forced
    max_answer_tokens: int = 160
    max_query_tokens: int = 48
    max_result_chars: int = 600  # tool results are cut to this before the model reads them
    constrained: bool = True  # score the decision point when the backend can (see assistant/decision.py)
    include_query: bool = True  # spec: put the model's call (not only the result) into the next input
    context_chars: int = 6000  # transcript budget; the oldest session turns are dropped first

    def __post_init__(self) -> None:
        if not 1 <= self.max_steps <= 64:
            raise ValueError(f"max_steps must be between 1 and 64, got {self.max_steps}")
        if self.max_answer_tokens < 1 or self.max_query_tokens < 1 or self.max_result_chars < 20:
            raise ValueError("token and character limits must be positive (max_result_chars at least 20)")


class Agent:
    """Runs one user message through the model and the tools, yielding typed events."""

    def __init__(self, backend: Backend, tools: ToolRegistry, *, settings: AgentSettings = AgentSettings(), prompt: str = "agent",
                 embedder: Embedder | None = None) -> None:
        self.backend = backend
        self.tools = tools
        self.settings = settings
        self.prompt = AgentPrompt(list(tools.tools.values()), name=prompt, embedder=embedder)
        self.answer_stops: list[str] = list(load(prompt)["stop"])
        self.decision = ToolDecision(backend, tools.names()) if self._constrained else None

    @property
    def _constrained(self) -> bool:
        return self.settings.constrained and self.backend.can_score and bool(self.tools.names())

    def run(self, message: str, *, ctx: ToolContext, context: Sequence[PastTurn] = (), recalled: Sequence[str] = ()) -> Iterator[Event]:
        """Yield TextDelta / ToolCall / ToolResult / Notice events and finally one FinalAnswer.

        `recalled` are memories fetched before generation; they enter the initial input as a memory call the
        runtime made (step 0), the format the demonstrations show.
        """
        started = time.perf_counter()
        transcript = self.prompt.transcript(message, context=context, budget_chars=self.settings.context_chars)
        names = self.tools.names()
        calls: list[Call] = []
        if recalled:
            query, result = " ".join(message.split())[:200], self._cut(" | ".join(recalled))
            calls.append(Call(MEMORY, query, result, 0.0, True, 0))
            yield ToolCall(MEMORY, query, 0)
            yield ToolResult(MEMORY, query, result, 0.0, True, 0)
            transcript += f" {render_call(MEMORY, neutralise(query))}{render_result(MEMORY, result)}"
        spoken: list[str] = []  # answer text already streamed to the user, across steps
        model_seconds = tool_seconds = 0.0
        outcome = Outcome.ANSWER

        for step in range(1, self.settings.max_steps + 2):
            at_cap = step > self.settings.max_steps
            tick = time.perf_counter()
            output, shown = yield from self._step(transcript, tools=[] if at_cap else names)
            model_seconds += time.perf_counter() - tick
            spoken.append(strip_markup(shown, names))

            parsed = parse(output, [] if at_cap else names)
            if isinstance(parsed, ParsedAnswer):
                if at_cap:
                    outcome = Outcome.STEP_LIMIT
                    yield Notice(f"I stopped after {self.settings.max_steps} tool calls and answered with what I had.", "step_limit")
                text = " ".join(part for part in spoken if part)
                if not text:
                    text = self._fallback(calls)
                    yield TextDelta(text)
                timings = Timings(model=model_seconds, tools=tool_seconds, total=time.perf_counter() - started)
                yield FinalAnswer(text=text, calls=tuple(calls), outcome=outcome, timings=timings)
                return

            assert isinstance(parsed, ParsedCall)
            yield ToolCall(parsed.tool, parsed.query, step)
            result = self.tools.run(parsed.tool, parsed.query, ctx)
            tool_seconds += result.seconds
            text = self._cut(result.text)
            calls.append(Call(parsed.tool, parsed.query, text, result.seconds, result.ok, step))
            yield ToolResult(parsed.tool, parsed.query, text, result.seconds, result.ok, step)
            said = f" {parsed.before}" if parsed.before else ""
            call = f" {render_call(parsed.tool, parsed.query)}" if self.settings.include_query else ""
            transcript += said + call + render_result(parsed.tool, text)
        raise AssertionError("the loop always returns at the step cap")  # pragma: no cover

    def plan(self, message: str, *, context: Sequence[PastTurn] = ()) -> ParsedAnswer | ParsedCall:
        """What the model does first for a message (call or answer), without running any tool."""
        transcript = self.prompt.transcript(message, context=context, budget_chars=self.settings.context_chars)
        steps = self._step(transcript, tools=self.tools.names())
        while True:
            try:
                next(steps)
            except StopIteration as done:
                return parse(done.value[0], self.tools.names())

    def _step(self, transcript: str, *, tools: Sequence[str]) -> Iterator[Event]:
        """One model output: the constrained decision (when possible), then free generation from there."""
        choice = self.decision.choose(transcript) if self.decision is not None and tools else None
        answering = not tools or (self.decision is not None and choice is None)
        forbid = tuple(opening(t) for t in self.tools.names()) if answering else ()  # once answering, no tag may start
        forced = f" {opening(choice)}" if choice else ""
        return (yield from self._generate(transcript, forced=forced, tools=tools, forbid=forbid))

    def _generate(self, transcript: str, *, forced: str, tools: Sequence[str], forbid: Sequence[str] = ()) -> Iterator[Event]:
        """Stream one model output; answer text goes out as TextDelta until an opening tag shows up.

        Returns (the whole output including `forced`, the text of it that was streamed to the user).
        """
        stops = [*self.answer_stops, *(closing(t) for t in tools)]
        openers = [opening(t) for t in tools]
        output, sent = forced, len(forced)
        calling = bool(forced)
        limit = self.settings.max_query_tokens if calling else self.settings.max_answer_tokens
        for piece in self.backend.stream(transcript + forced, stop=stops, max_tokens=limit, forbid=forbid):
            output += piece
            if calling:
                continue
            tag_at = min((i for i in (output.find(o, sent) for o in openers) if i >= 0), default=-1)
            end = tag_at if tag_at >= 0 else len(output) - held_back(output, openers)
            if end > sent:
                yield TextDelta(output[sent:end])
                sent = end
            calling = tag_at >= 0
        if not calling and len(output) > sent:
            yield TextDelta(output[sent:])
            sent = len(output)
        return output, output[len(forced):sent]

    def _cut(self, text: str) -> str:
        """A tool result as long as the model may read."""
        return text if len(text) <= self.settings.max_result_chars else text[: self.settings.max_result_chars] + "…"

    def _fallback(self, calls: Sequence[Call]) -> str:
        """What to say when the model produced no answer text."""
        if calls and calls[-1].ok:
            return f"Here is what I found: {calls[-1].result}"
        return "Sorry, I don't have a good answer to that. Could you rephrase it?"
