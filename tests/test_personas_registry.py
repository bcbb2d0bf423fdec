"""Personas as data: the shipped file, strict validation of user files, and the choice of who speaks a turn."""

from __future__ import annotations

import copy
import itertools
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from assistant.errors import AssistantError
from assistant.personas.ranking import facts, keeps_facts
from assistant.personas.registry import (PERSONAS_FILE, Choice, How, PersonaFileError, PersonaRegistry, UnknownPersona,
                                         choose_persona, in_slot, schedule_slot)
from assistant.personas.rewriter import frames, prompts
from assistant.personas.types import Context
from assistant.prompts import render
from memory.profile import Profile

SHIPPED = PersonaRegistry()
NINE = datetime(2024, 5, 14, 9, 0)


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 5, 14, hour, minute)


# -- the shipped personas -------------------------------------------------------------------------------------
def test_the_shipped_file_has_the_five_personas_with_neutral_as_default():
    assert SHIPPED.names() == ["butler", "chef", "surfer", "forecaster", "neutral"]
    assert [p.name for p in SHIPPED.all()] == SHIPPED.names() and len(SHIPPED) == 5
    assert SHIPPED.default.name == "neutral" and SHIPPED.path == PERSONAS_FILE


@pytest.mark.parametrize("name", SHIPPED.names())
def test_each_shipped_persona_is_complete(name):
    persona = SHIPPED.get(name)
    assert persona.description and persona.style and persona.vocabulary
    assert persona.parameter_set.kind == "prompt" and len(persona.parameter_set.prompt) > 40
    assert len(persona.examples) >= 6
    assert len(SHIPPED.exemplars(name)) >= 30 and len(set(SHIPPED.exemplars(name))) == len(SHIPPED.exemplars(name))


@pytest.mark.parametrize("name, plain, rewrite", [(p.name, *e) for p in SHIPPED.all() for e in p.examples])
def test_every_example_keeps_the_plain_text_and_its_facts(name, plain, rewrite):
    assert keeps_facts(plain, rewrite), f"{name}: {rewrite!r} loses {facts(plain) - facts(rewrite)}"
    assert plain in rewrite  # word for word, so frame mode can show the opening and the closing
    frame = next(f for f in frames(SHIPPED.get(name)) if f.plain == plain)
    assert frame.opens and frame.closes


def test_the_personas_differ_in_vocabulary_and_prosody():
    personas = SHIPPED.all()
    for a, b in itertools.combinations(personas, 2):
        shared = {w.lower() for w in a.vocabulary} & {w.lower() for w in b.vocabulary}
        assert not shared, f"{a.name} and {b.name} share {shared}"
        assert a.prosody != b.prosody and a.prosody.voice != b.prosody.voice
    assert len({(p.prosody.rate, p.prosody.pitch) for p in personas}) == 5


def test_prosody_matches_what_the_stage_tests_expect():
    assert SHIPPED.get("surfer").prosody.rate == 190 and SHIPPED.get("forecaster").prosody.rate == 170
    assert SHIPPED.get("butler").prosody.rate < SHIPPED.get("neutral").prosody.rate < SHIPPED.get("surfer").prosody.rate


def test_the_chef_has_mediterranean_and_indian_sub_vocabularies():
    subs = SHIPPED.get("chef").sub_vocabularies
    assert set(subs) == {"mediterranean", "indian"}
    assert "olive oil" in subs["mediterranean"] and "masala" in subs["indian"]


def test_the_classifier_data_is_there():
    assert len(SHIPPED.unnatural) >= 30
    natural = {t for p in SHIPPED.all() for t in SHIPPED.exemplars(p.name)}
    assert not natural & set(SHIPPED.unnatural)


@pytest.mark.parametrize("mode", ["frame", "free"])
def test_every_persona_renders_into_the_rewrite_prompts(mode):
    for persona in SHIPPED.all():
        shown = [f for f in frames(persona) if f.opens or f.closes][:6]
        prompt = render(prompts()[mode], persona=persona, examples=shown, label=persona.name.capitalize(),
                        situation="morning on Tuesday", query="what time is it?", plain="It's 8:30 AM.")
        assert persona.parameter_set.prompt in prompt and shown[0].rewrite.split(shown[0].plain)[0].strip() in prompt


# -- looking personas up -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["butler", "Butler", "BUTLER", " butler "])
def test_get_is_case_insensitive(name):
    assert SHIPPED.get(name).name == "butler" and name in SHIPPED


def test_an_unknown_persona_names_the_known_ones():
    with pytest.raises(UnknownPersona, match=r"unknown persona 'pirate'; known personas: butler, chef, surfer, forecaster, neutral"):
        SHIPPED.get("pirate")
    assert issubclass(UnknownPersona, AssistantError) and "pirate" not in SHIPPED


# -- validating a user's own file --------------------------------------------------------------------------------
def minimal() -> dict:
    return {
        "default": "pirate",
        "context_rules": [{"persona": "pirate", "cues": ["ship", "treasure"]}],
        "personas": {"pirate": {
            "description": "A pirate.", "style": "gruff",
            "parameter_set": {"kind": "prompt", "prompt": "Replies of the pirate."},
            "vocabulary": ["arr", "matey"],
            "examples": [{"plain": "It's 9:00 AM.", "rewrite": "Arr! It's 9:00 AM. Hoist the sails!"}],
            "prosody": {"rate": 150, "pitch": 30},
            "exemplars": ["Arr, matey!"],
        }},
        "unnatural": ["arr arr arr arr"],
    }


def write(tmp_path: Path, data) -> Path:
    path = tmp_path / "mine.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_a_users_own_file_is_loaded_from_its_path(tmp_path):
    registry = PersonaRegistry(write(tmp_path, minimal()))
    pirate = registry.get("Pirate")
    assert registry.names() == ["pirate"] and registry.default is pirate
    assert pirate.prosody.rate == 150 and pirate.prosody.pitch_range == 50  # unset prosody fields keep their defaults
    assert registry.exemplars("pirate") == ("Arr, matey!",) and registry.unnatural == ("arr arr arr arr",)
    assert registry.context_rules[0].persona == "pirate" and registry.context_window == 3


def test_an_adapter_path_resolves_next_to_the_file(tmp_path):
    (tmp_path / "pirate-adapter").mkdir()
    data = minimal()
    data["personas"]["pirate"]["parameter_set"] = {"kind": "adapter", "prompt": "Replies of the pirate.", "path": "pirate-adapter"}
    parameters = PersonaRegistry(write(tmp_path, data)).get("pirate").parameter_set
    assert (parameters.kind, Path(parameters.path)) == ("adapter", tmp_path / "pirate-adapter")


def _set(data: dict, dotted: str, value) -> dict:
    data = copy.deepcopy(data)
    *parents, last = dotted.split(".")
    node = data
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is KeyError:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


@pytest.mark.parametrize("dotted, value, message", [
    ("personas.pirate.description", KeyError, r"personas\.pirate\.description: required field is missing"),
    ("personas.pirate.colour", "red", r"personas\.pirate\.colour: unknown field"),
    ("personas.pirate.style", "", r"personas\.pirate\.style: must be non-empty text"),
    ("personas.pirate.vocabulary", "arr", r"personas\.pirate\.vocabulary: must be a list of text"),
    ("personas.pirate.vocabulary", [], r"personas\.pirate\.vocabulary: needs at least 1"),
    ("personas.pirate.prosody.rate", 500, r"personas\.pirate\.prosody: prosody rate must be 80-450"),
    ("personas.pirate.prosody.rate", "fast", r"personas\.pirate\.prosody\.rate: must be a whole number"),
    ("personas.pirate.prosody.volume", 3, r"personas\.pirate\.prosody\.volume: unknown field"),
    ("personas.pirate.parameter_set.kind", "lora", r"personas\.pirate\.parameter_set\.kind: must be one of prompt, soft_prompt, adapter"),
    ("personas.pirate.parameter_set.prompt", KeyError, r"personas\.pirate\.parameter_set\.prompt: must be non-empty text"),
    ("personas.pirate.parameter_set", {"kind": "soft_prompt", "prompt": "p", "path": "nowhere.pt"},
     r"personas\.pirate\.parameter_set\.path: soft_prompt weights not found"),
    ("personas.pirate.parameter_set", {"kind": "prompt", "prompt": "p", "path": "x"},
     r"personas\.pirate\.parameter_set\.path: only a soft_prompt"),
    ("personas.pirate.examples", [], r"personas\.pirate\.examples: must be a non-empty list"),
    ("personas.pirate.examples.0", {"plain": "It's 9:00 AM."}, r"personas\.pirate\.examples\[0\]: must have exactly"),
    ("personas.pirate.examples.0.rewrite", "Arr! Hoist the sails!", r"personas\.pirate\.examples\[0\]\.rewrite: drops a number"),
    ("personas.pirate.exemplars", ["fine", 3], r"personas\.pirate\.exemplars\[1\]: must be non-empty text"),
    ("personas.pirate.sub_vocabularies", ["x"], r"personas\.pirate\.sub_vocabularies: must be a mapping"),
    ("default", "captain", r"default: 'captain' is not a persona of this file \(known: pirate\)"),
    ("context_rules.0.persona", "captain", r"context_rules\[0\]\.persona: 'captain' is not a persona"),
    ("context_rules.0.cues", [], r"context_rules\[0\]\.cues: needs at least 1"),
    ("context_window", -1, r"context_window: must be a whole number of turns"),
    ("voices", {}, r"voices: unknown top-level key"),
    ("personas", {}, r"personas: must be a non-empty mapping"),
])
def test_mistakes_in_a_personas_file_name_the_field(tmp_path, dotted, value, message):
    with pytest.raises(PersonaFileError, match=r"mine\.yaml: " + message):
        PersonaRegistry(write(tmp_path, _set(minimal(), dotted, value)))


def test_a_bad_persona_name_is_refused():
    data = minimal()
    data["personas"]["Bad Name"] = data["personas"].pop("pirate")
    with pytest.raises(PersonaFileError, match=r"personas\.Bad Name: a persona name is lower-case"):
        PersonaRegistry.from_dict(data)


def test_duplicate_keys_and_broken_yaml_are_errors_not_silently_merged(tmp_path):
    text = yaml.safe_dump(minimal(), sort_keys=False)
    with pytest.raises(PersonaFileError, match=r"duplicate key 'default'"):
        PersonaRegistry(write(tmp_path, text + "default: pirate\n"))
    with pytest.raises(PersonaFileError, match=r"is not valid YAML"):
        PersonaRegistry(write(tmp_path, "personas: [unclosed"))
    with pytest.raises(PersonaFileError, match=r"cannot read the personas file"):
        PersonaRegistry(tmp_path / "missing.yaml")


# -- schedules -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("slot, when, inside", [
    ("06-12", at(6), True), ("06-12", at(11, 59), True), ("06-12", at(12), False), ("06-12", at(5, 59), False),
    ("22-06", at(22), True), ("22-06", at(23, 30), True), ("22-06", at(0), True), ("22-06", at(5, 59), True),
    ("22-06", at(6), False), ("22-06", at(21, 59), False), ("22-06", at(12), False),
    ("00-24", at(0), True), ("00-24", at(23, 59), True),
    ("06:30-07", at(6, 29), False), ("06:30-07", at(6, 30), True), ("18-24", at(23, 59), True), ("18-24", at(0), False),
])
def test_schedule_slots_include_the_start_exclude_the_end_and_wrap_midnight(slot, when, inside):
    assert in_slot(slot, when) is inside


@pytest.mark.parametrize("slot", ["6", "ab-cd", "25-03", "06-25", "06:75-08", "06-06", "12:00-12"])
def test_bad_schedule_slots_are_refused(slot):
    with pytest.raises(ValueError, match="schedule slot"):
        schedule_slot(slot)


# -- choosing who speaks --------------------------------------------------------------------------------------------
SCHEDULE = {"06-12": "butler", "12-18": "surfer", "22-06": "forecaster"}


def choose(**kwargs) -> Choice:
    return choose_persona(SHIPPED, **{"local_time": NINE, **kwargs})


def test_a_requested_name_beats_the_pin():
    choice = choose(wanted="Chef", profile=Profile("ann", persona="butler", persona_schedule=SCHEDULE))
    assert (choice.persona.name, choice.how, choice.pinned, choice.notes) == ("chef", How.REQUESTED, True, ())


def test_the_pin_beats_the_schedule_and_the_context():
    choice = choose(profile=Profile("ann", persona="chef", persona_schedule=SCHEDULE), message="going to the beach")
    assert (choice.persona.name, choice.how, choice.pinned) == ("chef", How.PINNED, True)


@pytest.mark.parametrize("when, name", [(at(9), "butler"), (at(15), "surfer"), (at(23), "forecaster"), (at(3), "forecaster")])
def test_the_schedule_beats_the_context(when, name):
    choice = choose(profile=Profile("ann", persona_schedule=SCHEDULE), local_time=when, message="I'm so hungry")
    assert (choice.persona.name, choice.how, choice.pinned) == (name, How.SCHEDULED, True)


def test_outside_the_schedule_the_context_decides_and_does_not_pin():
    choice = choose(profile={"persona_schedule": SCHEDULE}, local_time=at(20), message="I'm so hungry")
    assert (choice.persona.name, choice.how, choice.pinned) == ("chef", How.CONTEXT, False)
    assert choice.detail == "cue 'hungry' in message"


@pytest.mark.parametrize("message, name", [
    ("Yes, I'm thinking about going to the beach.", "surfer"),  # spec §14 turn 2
    ("Hey Assistant, I'm thinking about going surfing today.", "surfer"),
    ("I'm hungry", "chef"),
    ("Any good recipe for dinner?", "chef"),
    ("Will it rain tomorrow?", "forecaster"),
    ("what's the weather like at the beach?", "forecaster"),  # a tie goes to the earlier rule
    ("I'm starving, what's for dinner at the beach?", "chef"),  # two chef cues beat one surfer cue
])
def test_context_rules_pick_a_persona_from_the_message(message, name):
    choice = choose(message=message)
    assert (choice.persona.name, choice.how) == (name, How.CONTEXT)


def test_without_a_cue_in_the_message_the_latest_turn_with_one_decides():
    session = [("I'm hungry", "How does Indian food sound?"), ("Yes, going to the beach", "Sounds fun!")]
    choice = choose(message="ok, great", session=session)
    assert (choice.persona.name, choice.detail) == ("surfer", "cue 'beach' in an earlier message")
    assert choose(message="will it rain?", session=session).persona.name == "forecaster"  # the message itself wins
    choice = choose(message="thanks", session=[("hmm", "Expect rain and chilly temps.")])
    assert (choice.persona.name, choice.detail) == ("forecaster", "cue 'rain' in an earlier reply")


def test_the_context_looks_back_only_a_few_turns():
    session = [("I'm hungry", "Okay.")] + [("hmm", "okay")] * SHIPPED.context_window
    assert choose(message="sure", session=session).how is How.DEFAULT
    assert choose(message="sure", session=session[:SHIPPED.context_window]).persona.name == "chef"


def test_nothing_decides_gives_the_default_which_the_caller_may_change():
    assert (choose(message="what time is it?").persona.name, choose(message="what time is it?").how) == ("neutral", How.DEFAULT)
    choice = choose(message="what time is it?", default="butler")  # the worked dialog's butler
    assert (choice.persona.name, choice.how, choice.pinned) == ("butler", How.DEFAULT, False)


def test_an_unknown_requested_name_falls_back_with_a_note():
    choice = choose(wanted="pirate", profile=Profile("ann", persona_schedule=SCHEDULE))
    assert (choice.persona.name, choice.how) == ("butler", How.SCHEDULED)
    assert choice.notes == ("Ignored the requested persona: unknown persona 'pirate'; known personas: "
                            "butler, chef, surfer, forecaster, neutral.",)
    assert choice.note == choice.notes[0] and choose(wanted="butler").note == ""


def test_unknown_pins_schedule_names_and_bad_slots_are_skipped_with_notes():
    profile = {"persona": "captain", "persona_schedule": {"nonsense": "butler", "08-10": "pirate", "00-24": "surfer"}}
    choice = choose(profile=profile, message="hello")
    assert (choice.persona.name, choice.how) == ("surfer", How.SCHEDULED)
    assert [n.split(":")[0] for n in choice.notes] == ["Ignored the pinned persona", "Ignored a schedule entry", "Ignored schedule 08-10"]
    choice = choose(wanted="", profile=Profile("ann", persona="auto"), message="hm", default="pirate")
    assert (choice.persona.name, choice.how) == ("neutral", How.DEFAULT) and "Ignored the default persona" in choice.notes[0]


@pytest.mark.parametrize("wanted", ["auto", "AUTO", "", None])
def test_auto_lets_the_profile_and_context_decide(wanted):
    assert choose(wanted=wanted, profile=Profile("ann", persona="butler")).how is How.PINNED


def test_the_choice_uses_the_profile_dict_of_a_context_too():
    context = Context(profile=Profile("ann", persona="surfer").to_dict())
    assert choose(profile=context.profile).persona.name == "surfer"
