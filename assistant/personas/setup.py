"""Wiring of the persona stage into a turn: the default stage from the settings, and one turn's reply in character."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Sequence

from assistant.personas.reply import PersonaStage, Reply, make_context
from assistant.types import FinalAnswer, Outcome
from memory.profile import Profile
from tools.registry import ToolContext, ToolRegistry
from tools.reminders import local_label

if TYPE_CHECKING:
    from assistant.backends.base import Backend
    from assistant.config import Config
    from memory.embeddings import Embedder

log = logging.getLogger(__name__)


def default_stage(config: "Config", backend: "Backend", *, embedder: "Embedder") -> PersonaStage:
    """The product's persona stage: the persona registry, the shipped classifier and the precomputed index in the data dir."""
    from assistant.personas.classifier import ClassifierError, PersonaClassifier
    from assistant.personas.index import RewriteIndex
    from assistant.personas.registry import PersonaRegistry

    registry = PersonaRegistry()
    try:
        classifier = PersonaClassifier.load(embedder=embedder)
    except ClassifierError as exc:  # the memory bank embeds with another model: the classifier brings its own MiniLM
        log.info("persona classifier: %s; loading the embedder it was trained with", exc)
        classifier = PersonaClassifier.load()
    index = RewriteIndex.at(config.data_dir, embedder=embedder)
    return PersonaStage(backend, registry, classifier, settings=config.persona_settings(), index=index)


def speak_in_character(stage: PersonaStage, message: str, final: FinalAnswer, *, profile: Profile, wanted: str, ctx: ToolContext,
                       session: Sequence[tuple[str, str]], interaction_seconds: float, tools: ToolRegistry) -> tuple[Reply, list[str]]:
    """The reply to an answered turn, spoken by the persona the user asked for, pinned, scheduled, or the context suggests."""
    from assistant.personas.registry import choose_persona

    now = ctx.now()
    choice = choose_persona(stage.personas, wanted=wanted, profile=profile, local_time=now, session=session, message=message)
    context = make_context(now, profile=profile.to_dict(), session=session, position=len(session), session_seconds=interaction_seconds)
    today = local_label(now, now.tzinfo).rsplit(" ", 1)[0]  # "Tue 14 May": reminders for today read "10:30 AM"
    reply = stage.respond(message, answer=final.text, calls=final.calls, context=context, persona=choice.persona, pinned=choice.pinned,
                          user_id=ctx.user_id, tools=tools, ctx=ctx, today=today, answered=final.outcome is Outcome.ANSWER)
    notes = [*([choice.note] if choice.note else []), *reply.notes]
    return reply, notes
