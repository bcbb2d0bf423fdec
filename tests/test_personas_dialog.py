"""The spec's worked three-turn dialog (personas-rewriting.md §14), through the whole Assistant with an injected clock,
profile and weather: with the scripted model (exact replies), then with the real embedded model (structure only)."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from assistant.chat import Assistant
from assistant.config import Config
from assistant.personas.reply import PersonaStage
from assistant.personas.types import Group
from assistant.types import Outcome
from tests.fakes import ScriptedBackend
from tools.clock import current_time
from tools.reminders import Reminders
from tools.weather import Weather, day_label

MORNING = datetime(2024, 5, 14, 8, 30, tzinfo=timezone.utc)  # a Tuesday, 8:30 AM for a user in UTC
TURN_1 = "Hey Assistant, what time is it?"
TURN_2 = "Yes, I'm thinking about going to the beach."
TURN_3 = "Oh no… thanks for the heads up, can you remind me to check the weather again in two hours?"


class RainyCoast:
    """The injected weather: rain and chilly all day, wherever you go."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def forecast(self, place: str, day: date) -> str:
        self.asked.append(place)
        return f"{place.title()}, {day_label(day)}: rain, 9 to 13°C, 90% chance of rain, wind 30 km/h"


class WordClassifier:
    """A stand-in for the trained classifier: sentences read as natural; a persona's own words read as in character."""

    WORDS = {"butler": ("good morning", "shall", "may i"), "surfer": ("sounds fun", "waves", "dude"),
             "forecaster": ("expect", "rain"), "neutral": ("sure thing", "hope")}

    def naturalness(self, text: str) -> float:
        return 0.9 if text[:1].isupper() and text.rstrip()[-1:] in ".!?" else 0.3

    def in_character(self, text: str, persona: str) -> float:
        return 0.9 if any(w in text.lower() for w in self.WORDS.get(persona, ())) else 0.4


def dialog(tmp_path, backend, *, classifier=None, embedder):
    """The assistant of the dialog: Ann, who usually surfs at Half Moon Bay, at 8:30 AM on a rainy Tuesday."""
    config = Config(data_dir=tmp_path / "data", persona="auto")
    weather = RainyCoast()
    reminders = Reminders(tmp_path / "data" / "reminders.sqlite3")
    stage = None
    if classifier is not None:
        from assistant.personas.registry import PersonaRegistry

        stage = PersonaStage(backend, PersonaRegistry(), classifier, settings=config.persona_settings())
    assistant = Assistant(config, backend=backend, embedder=embedder, clock=lambda: MORNING, persona_stage=stage,
                          tools=[current_time, Weather(weather).tool, reminders.tool])
    assistant.profiles.update("ann", name="Ann", places={"beach": "Half Moon Bay"})
    return assistant, weather, reminders


def test_the_worked_dialog_with_the_scripted_model(tmp_path, embedder):
    backend = ScriptedBackend([
        # turn 1: the agent asks the clock and answers; the butler opens and closes around the plain answer
        " <time>now</time>", " It's 8:30.", " Good morning, Ann.", " Any fun plans today?",
        # turn 2: no tool; the surfer frames "Sounds fun!"; the forecaster opens the hidden weather query's answer
        " Sounds fun!", " Oh yeah!", " Catch some waves!", " Heads up, dude.",
        # turn 3: the reminder; the contextual wish comes from the rewrite, not from the plain output
        " <remind>in 2 hours: check the weather</remind>", " Done.", " Sure thing.", " I hope the weather clears up for you!",
    ])
    assistant, weather, reminders = dialog(tmp_path, backend, classifier=WordClassifier(), embedder=embedder)

    first = assistant.chat(TURN_1, user_id="ann", session_id="phone", persona="butler")
    assert first.outcome is Outcome.ANSWER and first.persona == "butler"
    assert first.text == "Good morning, Ann. It's 8:30. Any fun plans today?"  # greeting, the functional answer, a question
    assert first.text != "It's 8:30."  # what a baseline system would say

    second = assistant.chat(TURN_2, user_id="ann", session_id="phone")
    assert [s.persona for s in second.segments] == ["surfer", "forecaster"]
    assert "Sounds fun!" in second.segments[0].text
    assert second.segments[1].text.endswith("But if you're going to Half Moon Bay again, expect rain and chilly temps (9 to 13°C).")
    assert weather.asked == ["Half Moon Bay"]  # the hidden query went to the weather tool…
    assert "Half Moon Bay today" not in second.text and "weather" not in second.text.lower()  # …and is never shown
    assert {c.group for c in second.candidates} == {Group.PLAIN, Group.MODIFIED, Group.ADDITIONAL, Group.MODIFIED_ADDITIONAL}

    third = assistant.chat(TURN_3, user_id="ann", session_id="phone")
    due = reminders.upcoming("ann", now=MORNING)
    assert [(r.task, r.due_utc.hour, r.due_utc.minute) for r in due] == [("check the weather", 10, 30)]
    assert "10:30 AM" in third.text and "I hope the weather clears up for you!" in third.text
    assert third.text.startswith("Sure thing.")
    plain = [c.text for c in third.candidates if c.group is Group.PLAIN]
    assert not any("hope" in text for text in plain)  # the wish is the rewrite's, the plain output only confirms


def test_the_persona_parts_of_a_turn_are_in_the_cli_json(tmp_path, embedder):
    backend = ScriptedBackend([" It's lovely to hear from you.", " Good day.", " Shall I help with anything else?"])
    assistant, _, _ = dialog(tmp_path, backend, classifier=WordClassifier(), embedder=embedder)
    shown = assistant.chat("hello there", user_id="ann", persona="butler").to_dict()
    assert shown["persona"] == "butler" and shown["segments"][0]["persona"] == "butler"
    groups = {c["group"] for c in shown["candidates"]}
    assert groups == {"plain", "modified"} and all({"group", "persona", "text", "score"} <= set(c) for c in shown["candidates"])


@pytest.mark.parametrize("persona, note", [("pirate", "pirate"), ("", "")])
def test_an_unknown_persona_answers_plainly_in_the_default_voice_with_a_note(tmp_path, embedder, persona, note):
    backend = ScriptedBackend([" Hello!", "", ""])
    assistant, _, _ = dialog(tmp_path, backend, classifier=WordClassifier(), embedder=embedder)
    turn = assistant.chat("hello there", user_id="ann", persona=persona or None)
    assert turn.outcome is Outcome.ANSWER and turn.text == "Hello!"
    assert any(note in n for n in turn.notices) if note else not any("persona" in n.lower() for n in turn.notices)


def test_a_broken_persona_stage_degrades_to_the_plain_answer_with_a_note(tmp_path, embedder):
    class Exploding:
        def naturalness(self, text):
            raise RuntimeError("classifier on fire")

        in_character = naturalness

    backend = ScriptedBackend([" <time>now</time>", " It's 8:30.", " Good morning.", " Any plans?"])
    assistant, _, _ = dialog(tmp_path, backend, classifier=Exploding(), embedder=embedder)
    turn = assistant.chat(TURN_1, user_id="ann", persona="butler")
    assert turn.text == "It's 8:30." and turn.outcome is Outcome.ANSWER
    assert any("plainly" in n for n in turn.notices)


@pytest.mark.model
def test_the_worked_dialog_with_the_embedded_model(tmp_path, adapted):
    """The product set-up (the adapted model, the trained classifier, real MiniLM); wording is the model's, so structure only."""
    from memory.embeddings import SentenceEmbedder
    from assistant.personas.classifier import PersonaClassifier

    embedder = SentenceEmbedder()
    assistant, weather, reminders = dialog(tmp_path, adapted, classifier=PersonaClassifier.load(embedder=embedder), embedder=embedder)

    first = assistant.chat(TURN_1, user_id="ann", session_id="phone", persona="butler")
    assert [c.tool for c in first.calls if c.step > 0][:1] == ["time"]
    assert "8:30" in first.text and first.persona == "butler"
    assert any(c.group is Group.MODIFIED and c.persona == "butler" for c in first.candidates)

    second = assistant.chat(TURN_2, user_id="ann", session_id="phone")
    personas = [s.persona for s in second.segments]
    assert personas[-1] == "forecaster" and "Half Moon Bay" in second.segments[-1].text and "rain" in second.segments[-1].text
    assert "Half Moon Bay today" not in second.text

    third = assistant.chat(TURN_3, user_id="ann", session_id="phone")
    due = reminders.upcoming("ann", now=MORNING)
    assert [(r.due_utc.hour, r.due_utc.minute) for r in due] == [(10, 30)]
    assert "10:30" in third.text
