"""`Assistant`: the one object the UI, the CLI and Python users talk to."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Callable, Iterator

from assistant.agent import MEMORY, Agent, AgentSettings
from assistant.backends import Backend, make_backend
from assistant.config import Config
from assistant.errors import AssistantError
from assistant.markup import clean_text
from assistant.prompts import PastTurn
from assistant.types import Event, FinalAnswer, Notice, Outcome, TextDelta, Timings, Turn
from memory.activity import ActivityLog
from memory.bank import MemoryBank, describe
from memory.conflicts import FactConflicts, JudgeConflicts
from memory.embeddings import Embedder, SentenceEmbedder
from memory.profile import Profiles
from tools.registry import Tool, ToolContext, ToolRegistry, utc_now

if TYPE_CHECKING:
    from assistant.personas.reply import PersonaStage
    from assistant.speech import Audio
    from tools.search import WikiIndex

log = logging.getLogger(__name__)

MAX_USER_ID = 64
SESSION_TURNS = 20  # short-term context kept per session; the prompt budget trims further
MAX_SESSIONS = 10_000  # open sessions kept; the least recently used goes first
INTERACTION_GAP = 120.0  # seconds of silence that end an interaction (the persona gate times the current one)


@dataclass
class Session:
    """One open conversation: who it belongs to and its recent turns (never persisted)."""

    user_id: str
    turns: deque = field(default_factory=lambda: deque(maxlen=SESSION_TURNS))
    timezone: str = ""
    started: datetime | None = None  # when the current interaction began
    last: datetime | None = None  # the latest message

    def interaction_seconds(self, now: datetime) -> float:
        """How long the current interaction has lasted at `now`; a silence of INTERACTION_GAP starts a new one."""
        if self.started is None or self.last is None or (now - self.last).total_seconds() > INTERACTION_GAP:
            self.started = now
        self.last = now
        return (now - self.started).total_seconds()


_QUESTION_WORDS = ("what", "whats", "what's", "who", "whom", "whose", "where", "when", "which", "why", "how", "do", "does",
                   "did", "is", "are", "was", "were", "can", "could", "will", "would", "should", "have", "has", "remind")


def is_question(text: str) -> bool:
    """A message that asks rather than tells."""
    words = text.strip().lower().split()
    return text.rstrip().endswith("?") or (bool(words) and words[0] in _QUESTION_WORDS)


def check_user_id(user_id: str) -> str:
    """A usable user id, or a ValueError that says what is wrong with it."""
    cleaned = " ".join(clean_text(user_id or "").split())
    if not cleaned:
        raise ValueError("a user name is needed")
    if len(cleaned) > MAX_USER_ID:
        raise ValueError(f"user names are at most {MAX_USER_ID} characters")
    return cleaned


class Assistant:
    """Chat with the agent: input checks, sessions, tools per user, memory written after each answer."""

    def __init__(
        self,
        config: Config | None = None,
        *,
        backend: Backend | None = None,
        tools: list[Tool] | None = None,
        embedder: Embedder | None = None,
        clock: Callable[[], datetime] = utc_now,
        persona_stage: "PersonaStage | None" = None,
    ) -> None:
        self.config = config or Config.from_env()
        self.backend = backend or make_backend(self.config)
        self.clock = clock
        self.embedder = embedder or SentenceEmbedder()
        conflicts = JudgeConflicts(self.backend) if self.config.memory_conflicts == "llm" else FactConflicts()
        self.memory = MemoryBank(self.config.data_dir, self.embedder, settings=self.config.memory_settings(), conflicts=conflicts,
                                 chroma_url=self.config.chroma_url, clock=clock)
        self.profiles = Profiles(self.config.data_dir / "profiles.sqlite3")
        self.activity = ActivityLog(self.config.data_dir / "activity.sqlite3")
        self._persona_stage = persona_stage
        self._persona_lock = threading.Lock()
        self.wiki: WikiIndex | None = None
        tool_list = tools if tools is not None else self._default_tools()
        self.tools = ToolRegistry.of(tool_list, timeout=self.config.tool_timeout)
        settings = AgentSettings(max_steps=self.config.max_steps, constrained=self.config.constrained)
        self.agent = Agent(self.backend, self.tools, settings=settings, prompt=self.backend.prompt, embedder=self.embedder)
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._sessions_lock = threading.Lock()
        self._transcriber = None
        self._stopping = threading.Event()

    def _default_tools(self) -> list[Tool]:
        from tools.calc import calc
        from tools.clock import current_time
        from tools.reminders import Reminders
        from tools.search import ChromaRetriever, Search, WikiIndex
        from tools.weather import Weather, make_weather_provider
        from assistant.pages.product_pages import ProductPages
        from tools.shop import Shop

        self.pages = ProductPages.for_assistant(self)  # the <shop> tool's result pages, read by the side panel
        shop = [Shop(self.pages).tool] if self.pages.wants_shop_tool(self.backend.prompt) else []
        self.wiki = WikiIndex(self.config.data_dir, self.embedder, chroma_url=self.config.chroma_url)
        self.reminders = Reminders(self.config.data_dir / "reminders.sqlite3")
        weather = Weather(make_weather_provider(self.config.weather.value))
        # a search while the index is still being built says so before the tool times out, and the build goes on
        search = Search(ChromaRetriever(index=self.wiki, wait=max(0.0, min(15.0, self.config.tool_timeout - 5))))
        memory = [self.memory.tool] if self.config.memory_tool else []
        return [calc, current_time, weather.tool, search.tool, *memory, self.reminders.tool, *shop]

    def warm_up(self) -> None:
        """Load the model and build the search index now, so the first question is not the slow one."""
        try:
            self.backend.load()
            self.agent.prompt.select("hello")  # embeds the demonstrations once
            if self.wiki is not None:
                self.wiki.ensure_built()
            log.info("ready: %s", self.backend.describe())
        except AssistantError as exc:
            log.error("warm-up failed, the first question will try again: %s", exc)

    def clean_memories_every(self, seconds: float) -> threading.Thread:
        """Run the memory clean-up (retention, staleness) now and then every `seconds`, in a daemon thread."""

        def loop() -> None:
            while True:
                try:
                    log.info("memory clean-up: %s", self.memory.cleanup())
                except Exception:
                    log.exception("memory clean-up failed; trying again next time")
                if self._stopping.wait(seconds):
                    return

        worker = threading.Thread(target=loop, name="memory-cleanup", daemon=True)
        worker.start()
        return worker

    def close(self) -> None:
        """Stop background work (the clean-up schedule)."""
        self._stopping.set()

    def transcribe(self, audio: "Audio") -> str:
        """Speech to text with the configured recogniser (offline pocketsphinx by default)."""
        from assistant.speech import make_transcriber

        if self._transcriber is None:
            self._transcriber = make_transcriber(self.config.asr_model or None)
        return self._transcriber.transcribe(audio)

    # -- sessions ---------------------------------------------------------------------------------------
    def session(self, session_id: str | None, user_id: str) -> Session:
        """The session with this id, opened for `user_id` (a session never changes hands); no id: a one-turn session."""
        if not session_id:
            return Session(user_id)
        with self._sessions_lock:
            found = self._sessions.get(session_id)
            if found is None or found.user_id != user_id:
                found = self._sessions[session_id] = Session(user_id)
            self._sessions.move_to_end(session_id)
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)  # tabs that vanished without saying goodbye
            return found

    def end_session(self, session_id: str) -> None:
        """Forget a session's short-term context (the browser tab closed)."""
        with self._sessions_lock:
            self._sessions.pop(session_id, None)

    # -- chatting ---------------------------------------------------------------------------------------
    def stream(self, message: str, *, user_id: str, session_id: str | None = None, timezone: str | None = None,
               persona: str | None = None) -> Iterator[Event]:
        """Yield the events of one turn; the last one is always a FinalAnswer. Never raises for bad input.

        The answer text streams as the agent writes it; the FinalAnswer carries the reply the persona stage chose
        (`persona`: a name, `auto` or `off`; default: the `persona` setting), which may say more than the stream did.
        """
        started = time.perf_counter()
        try:
            user_id = check_user_id(user_id)
        except ValueError as exc:
            yield from self._refuse(f"I can't tell who you are: {exc}.", started)
            return
        text = clean_text(message if isinstance(message, str) else str(message or "")).strip()
        if not text:
            yield from self._refuse("Please type a message (it was empty).", started)
            return
        if len(text) > self.config.max_input_chars:
            yield from self._refuse(
                f"Your message is {len(text):,} characters long; I can read up to {self.config.max_input_chars:,}. "
                "Please shorten it or send the important part.", started)
            return
        session = self.session(session_id, user_id)
        if timezone:
            session.timezone = timezone
        ctx = ToolContext(user_id=user_id, session_id=session_id or "", timezone=session.timezone or self.config.timezone, clock=self.clock)
        final: FinalAnswer | None = None
        now = self.clock()
        interaction = session.interaction_seconds(now)
        try:
            recalled = self._recall(user_id, text, session, ctx)
            for event in self.agent.run(text, ctx=ctx, context=list(session.turns), recalled=recalled):
                if isinstance(event, FinalAnswer):
                    final = event
                else:
                    yield event
        except AssistantError as exc:
            log.warning("turn failed: %s", exc)
            yield from self._refuse(f"Sorry, I can't answer right now: {exc}", started, outcome=Outcome.FAILED)
            return
        except Exception:
            log.exception("turn failed")
            yield from self._refuse("Sorry, something went wrong on my side while answering. Please try again.", started, outcome=Outcome.FAILED)
            return
        assert final is not None, "the agent always ends with a FinalAnswer"
        plain = final
        final, notes = self._in_character(text, final, session=session, ctx=ctx, persona=persona, interaction=interaction)
        for note in notes:
            yield Notice(note, "persona")
        yield replace(final, timings=replace(final.timings, total=time.perf_counter() - started))
        session.turns.append(PastTurn(text, final.text))
        self._remember(user_id, text, plain)
        self._log_activity(text, plain, ctx=ctx, position=len(session.turns) - 1)

    @property
    def persona_stage(self) -> "PersonaStage":
        """The persona stage (personas, the naturalness classifier, the precomputed index), built on first use."""
        with self._persona_lock:
            if self._persona_stage is None:
                from assistant.personas.setup import default_stage

                self._persona_stage = default_stage(self.config, self.backend, embedder=self.embedder)
            return self._persona_stage

    def _in_character(self, message: str, final: FinalAnswer, *, session: Session, ctx: ToolContext, persona: str | None,
                      interaction: float) -> tuple[FinalAnswer, list[str]]:
        """The persona stage's reply for an answered turn, or the plain answer with a note when it cannot run."""
        wanted = (persona or self.config.persona or "auto").strip()
        if wanted.lower() == "off" or final.outcome not in (Outcome.ANSWER, Outcome.STEP_LIMIT):
            return final, []
        try:
            from assistant.personas.setup import speak_in_character

            reply, notes = speak_in_character(
                self.persona_stage, message, final, profile=self.profiles.get(ctx.user_id), wanted=wanted, ctx=ctx,
                session=[(t.user, t.answer) for t in session.turns], interaction_seconds=interaction, tools=self.tools)
        except AssistantError as exc:
            log.warning("persona stage unavailable: %s", exc)
            return final, [f"Answered plainly: {exc}"]
        except Exception:
            log.exception("persona stage failed; answering plainly")
            return final, ["Answered plainly: the persona rewrite failed."]
        return replace(final, text=reply.text or final.text, persona=reply.persona, segments=reply.segments,
                       candidates=reply.candidates), notes

    def _log_activity(self, text: str, final: FinalAnswer, *, ctx: ToolContext, position: int) -> None:
        """The turn into the activity log (precomputed rewrites are made from it) with its context; failures are only logged."""
        from assistant.personas.reply import time_of_day

        if final.outcome not in (Outcome.ANSWER, Outcome.STEP_LIMIT):
            return
        local = ctx.now()
        context = {"time_of_day": time_of_day(local.hour), "day_of_week": f"{local:%A}", "position": position,
                   "session_id": ctx.session_id}
        try:
            self.activity.record(ctx.user_id, text, when=local, context=context, tools=[c.tool for c in final.calls if c.step > 0],
                                 answer=final.text)
        except Exception:
            log.exception("could not log the turn")

    def _recall(self, user_id: str, text: str, session: Session, ctx: ToolContext) -> list[str]:
        """Memories fetched before generation (input, or input + session context), as the model reads them."""
        if not self.config.memory_prefetch:
            return []
        try:
            rows = self.memory.prefetch(user_id, text, context=[turn.user for turn in session.turns])
        except Exception:
            log.exception("memory pre-fetch failed; answering without memories")
            return []
        # the last few turns are in the prompt already as this session's conversation: repeating them as a memory
        # only distracts the model (measured: with the previous turn recalled, a clear reminder request became `list`)
        shown = {turn.user.strip() for turn in list(session.turns)[-3:]}
        return [describe(row, ctx) for row in rows if row.input.strip() not in shown]

    def _remember(self, user_id: str, text: str, final: FinalAnswer) -> None:
        """Write after the answer, never during generation, by the bank's rules.

        Turns answered by live tools (sums, weather, search) are facts of the moment, not memories about the
        user, and a question answered from memory adds nothing new; neither is written.
        """
        used = {call.tool for call in final.calls}
        if used - {MEMORY} or (MEMORY in used and is_question(text)):
            return
        try:
            self.memory.remember(user_id, text, final.text, when=self.clock())
        except Exception:
            log.exception("could not store a memory")

    def _refuse(self, text: str, started: float, *, outcome: Outcome = Outcome.REJECTED) -> Iterator[Event]:
        yield Notice(text, outcome.value)
        yield TextDelta(text)
        yield FinalAnswer(text=text, outcome=outcome, timings=Timings(total=time.perf_counter() - started))

    def chat(self, message: str, *, user_id: str, session_id: str | None = None, timezone: str | None = None,
             persona: str | None = None) -> Turn:
        """Run one turn to the end and return it (drains `stream`)."""
        notices: list[str] = []
        final = None
        for event in self.stream(message, user_id=user_id, session_id=session_id, timezone=timezone, persona=persona):
            if isinstance(event, Notice):
                notices.append(event.text)
            elif isinstance(event, FinalAnswer):
                final = event
        assert final is not None, "every stream ends with a FinalAnswer"
        return Turn(text=final.text, calls=final.calls, outcome=final.outcome, timings=final.timings, notices=tuple(notices),
                    persona=final.persona, segments=final.segments, candidates=final.candidates)
