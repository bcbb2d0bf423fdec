"""The persona stage with fakes: intents, plain outputs, gate, rewriting, proactive query, ranking and joining."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from assistant.personas.gate import GateSettings, decide, within_budget
from assistant.personas.intents import Intent, classify, plain_outputs
from assistant.personas.ranking import Ranker, RankerWeights, facts, keeps_facts
from assistant.personas.reply import PersonaSettings, PersonaStage, make_context, time_of_day
from assistant.personas.rewriter import PersonaRewriter, frames, phrases, tidy
from assistant.personas.types import Candidate, Group, ParameterSet, Persona, Prosody
from assistant.types import Call
from tests.fakes import ScriptedBackend
from tools.registry import ToolContext, ToolRegistry, tool

MORNING = datetime(2024, 5, 14, 8, 30, tzinfo=timezone.utc)


def persona(name: str, examples=(), rate: int = 165) -> Persona:
    return Persona(name, f"the {name}", ParameterSet(prompt=f"The {name} speaks."), vocabulary=(name,), style="friendly",
                   examples=tuple(examples), prosody=Prosody(rate=rate))


BUTLER = persona("butler", [("It's 3:15 PM.", "Good afternoon. It's 3:15 PM. Anything else I may do for you?"),
                            ("You're welcome!", "You're welcome! It is my pleasure.")], rate=140)
SURFER = persona("surfer", [("Sounds fun!", "Whoa, dude! Sounds fun!")], rate=190)
FORECASTER = persona("forecaster", [("Oslo, Sat: rain.", "Heads up: Oslo, Sat: rain.")], rate=170)
NEUTRAL = persona("neutral")


class Book:
    """Personas by name (the registry's interface)."""

    def __init__(self, *personas: Persona) -> None:
        self.by_name = {p.name: p for p in personas}

    def get(self, name: str) -> Persona:
        return self.by_name[name]


class LengthClassifier:
    """Naturalness grows with sentence-like text; in-character when the persona's own word is used."""

    def naturalness(self, text: str) -> float:
        return min(1.0, len(text.split()) / 10) if text[:1].isupper() else 0.1

    def in_character(self, text: str, persona: str) -> float:
        return 1.0 if persona in text.lower() or "dude" in text.lower() and persona == "surfer" else 0.3


@tool
def weather(place: str) -> str:
    """Weather for a place.

    Args:
        place: where and when
    """
    return f"{place.replace(' today', '')}, Tue 14 May: rain, 8 to 11°C, 90% chance of rain, wind 25 km/h (demo data)"


def ctx() -> ToolContext:
    return ToolContext(user_id="ann", clock=lambda: MORNING)


def stage(backend: ScriptedBackend, **settings) -> PersonaStage:
    return PersonaStage(backend, Book(BUTLER, SURFER, FORECASTER, NEUTRAL), LengthClassifier(), settings=PersonaSettings(**settings))


def context(**profile):
    return make_context(MORNING, profile={"name": "Ann", **profile})


# -- intents and plain outputs ---------------------------------------------------------------------------
@pytest.mark.parametrize("message, calls, name, kind", [
    ("what time is it?", [Call("time", "now", "Tuesday 14 May 2024, 08:30 (UTC)", 0.0, True, 1)], "time", "open"),
    ("weather in Oslo", [Call("weather", "Oslo", "Oslo, …", 0.0, True, 1)], "weather", "factual"),
    ("I'm thinking about going to the beach.", [], "outing.beach", "open"),
    ("why is the sky blue?", [], "factual_question", "factual"),
    ("I'm so hungry", [], "food.hungry", "open"),
    ("blorp", [], "chat", "open"),
    ("my dog?", [Call("memory", "dog", "x", 0.0, True, 0)], "chat", "open"),  # the runtime's pre-fetch is not the intent
])
def test_intents_come_from_the_first_tool_then_cue_words(message, calls, name, kind):
    intent = classify(message, calls)
    assert (intent.name, intent.kind) == (name, kind)


def test_the_time_question_class_is_configurable():
    call = Call("time", "now", "Tuesday 14 May 2024, 08:30 (UTC)", 0.0, True, 1)
    assert classify("what time is it?", [call], time_class="factual").factual


def test_plain_outputs_are_templates_over_tool_results_then_the_agent_answer():
    time_call = Call("time", "now", "Tuesday 14 May 2024, 08:30 (UTC)", 0.0, True, 1)
    intent = classify("what time is it?", [time_call])
    assert plain_outputs(intent, [time_call], "It's 08:30.", time_of_day="morning") == [
        "8:30 AM", "It's 8:30 AM.", "Good morning, it's 8:30 AM.", "It's 08:30."]
    remind = Call("remind", "in 2 hours: check the weather", "Reminder set for Tue 14 May 10:30: check the weather", 0.0, True, 1)
    outputs = plain_outputs(classify("remind me", [remind]), [remind], "Done.", today="Tue 14 May")
    assert outputs[0] == "Okay, I set a reminder for 10:30 AM: check the weather."
    failed = Call("time", "now", "Error: the clock broke", 0.0, False, 1)
    assert plain_outputs(classify("time?", [failed]), [failed], "Sorry.") == ["Sorry."]


# -- the fact check ----------------------------------------------------------------------------------------
def test_facts_are_numbers_times_and_names():
    assert facts("Good morning, it's 8:30 AM. Half Moon Bay has 11°C.") == {"8:30", "11", "Half Moon Bay"}
    assert keeps_facts("It's 8:30 AM.", "Good morning! It's 8:30 AM. Any plans?")
    assert not keeps_facts("It's 8:30 AM.", "Good morning! Any plans?")
    assert not keeps_facts("Rain at Half Moon Bay.", "Rain at the beach.")


def test_a_rewrite_that_drops_a_fact_is_never_chosen():
    ranker = Ranker(LengthClassifier())
    plain = [Candidate("It's 8:30 AM.", Group.PLAIN)]
    dropped = Candidate("Good morning to you, dear friend, I hope you slept well, butler here", Group.MODIFIED, persona="butler",
                        parent_plain_id=0)
    ranked = ranker.rank(plain + [dropped], plain, factual=False)
    assert ranker.choose(ranked).group is Group.PLAIN
    assert [r.facts_kept for r in ranked] == [True, False]


def test_factual_intents_promote_plain_and_open_ones_promote_modified():
    ranker = Ranker(LengthClassifier(), weights=RankerWeights(confidence=0, naturalness=0, intent=1))
    plain = [Candidate("It's 8:30 AM.", Group.PLAIN)]
    rewrite = Candidate("Good morning. It's 8:30 AM.", Group.MODIFIED, persona="butler", parent_plain_id=0)
    assert ranker.choose(ranker.rank(plain + [rewrite], plain, factual=True)).group is Group.PLAIN
    assert ranker.choose(ranker.rank(plain + [rewrite], plain, factual=False)).group is Group.MODIFIED


def test_modified_required_mode_picks_a_modified_candidate():
    ranker = Ranker(LengthClassifier(), weights=RankerWeights(confidence=1, naturalness=0, intent=0), require_modified=True)
    plain = [Candidate("It's 8:30 AM.", Group.PLAIN, fulfillment_score=1.0)]
    rewrite = Candidate("Morning! It's 8:30 AM.", Group.MODIFIED, persona="butler", parent_plain_id=0, fulfillment_score=0.2)
    assert ranker.choose(ranker.rank(plain + [rewrite], plain, factual=True)).group is Group.MODIFIED


# -- the gate ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("intent, plain, settings, seconds, modify", [
    (Intent("lookup", "factual", 1.0), ["x"], GateSettings(), 0, False),
    (Intent("chat", "open", 0.5), ["x"], GateSettings(), 0, True),
    (Intent("chat", "open", 0.5), ["x"], GateSettings(low_power=True), 0, False),
    (Intent("chat", "open", 0.5), [], GateSettings(), 0, False),
    (Intent("chat", "open", 0.5), ["x"], GateSettings(session_seconds=30), 45, False),  # spec §14 scenario 7
    (Intent("chat", "open", 0.5), ["x"], GateSettings(session_seconds=60), 45, True),
    (Intent("chat", "open", 0.5), ["x"], GateSettings(session_seconds=30), 30, True),  # "longer than" the threshold
])
def test_the_gate(intent, plain, settings, seconds, modify):
    assert decide(intent, plain, settings=settings, session_seconds=seconds).modify is modify


def test_the_budget_check():
    assert within_budget(1000, settings=GateSettings(budget_ms=1500)).modify
    assert not within_budget(2000, settings=GateSettings(budget_ms=1500)).modify


# -- the rewriter -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("plain, opens, closes", [
    ("Reminder set for 10:30 AM.", ["Noted on the weather desk."], ["Conditions can change fast, so that's a smart call."]),
    ("But if you're going to Half Moon Bay again, expect rain.", ["Heads up."], ["Layers are your friend today."]),
])
def test_choose_mode_offers_the_phrases_of_the_examples_most_like_the_plain_output(plain, opens, closes):
    from assistant.personas.registry import PersonaRegistry
    from assistant.personas.types import Context

    forecaster, morning = PersonaRegistry().get("forecaster"), Context(time_of_day="morning")
    assert phrases(forecaster, "opens", morning, plain) == opens and phrases(forecaster, "closes", morning, plain) == closes
    everything = phrases(forecaster, "opens", morning, "Paris is the capital of France.")  # no example alike: all of them
    assert len(everything) == len(phrases(forecaster, "opens", morning)) > 3


def test_frames_split_examples_around_their_plain_output():
    first = frames(BUTLER)[0]
    assert (first.opens, first.closes) == ("Good afternoon.", "Anything else I may do for you?")


def test_the_frame_rewrite_keeps_the_plain_output_word_for_word():
    backend = ScriptedBackend([" Good morning.", " Any fun plans today?"])
    rewriter = PersonaRewriter(backend)
    rewrites = rewriter.rewrite("what time is it?", context(), ["It's 8:30 AM."], BUTLER)
    assert rewrites == ["Good morning. It's 8:30 AM. Any fun plans today?"]
    assert rewriter.calls == 2
    prompt = backend.prompts[0]
    assert "The butler speaks." in prompt and "It is morning on Tuesday, talking with Ann." in prompt
    assert prompt.endswith("Plain reply: It's 8:30 AM.\nButler opens:")


def test_rewrites_that_echo_the_user_or_carry_markup_are_cleaned():
    backend = ScriptedBackend([" Yes, I'm thinking about going to the beach.", " <calc>1+1</calc> Have fun <b>out there</b>!"])
    rewrites = PersonaRewriter(backend).rewrite("Yes, I'm thinking about going to the beach.", context(), ["Sounds fun!"], SURFER)
    assert rewrites == ["Sounds fun! 1+1 Have fun out there!"]
    assert tidy("x" * 500) == "" and tidy("Hi there. " + "y" * 300) == "Hi there."


def test_the_free_mode_rewrites_the_whole_output():
    backend = ScriptedBackend([" Whoa, dude, sounds rad!"])
    rewrites = PersonaRewriter(backend, mode="free").rewrite("beach?", context(), ["Sounds fun!"], SURFER)
    assert rewrites == ["Whoa, dude, sounds rad!"]
    with pytest.raises(ValueError, match="rewrite mode"):
        PersonaRewriter(backend, mode="poetry")


# -- the whole stage ----------------------------------------------------------------------------------------
def test_an_open_ended_turn_is_rewritten_and_joined_with_the_proactive_weather_warning():
    backend = ScriptedBackend([" Whoa, dude!", " Grab your board!", " Heads up:"])
    tools = ToolRegistry.of([weather])
    reply = stage(backend).respond("Yes, I'm thinking about going to the beach.", answer="That sounds like fun!", calls=[],
                                   context=context(places={"beach": "Half Moon Bay"}), persona=SURFER, pinned=False,
                                   user_id="ann", tools=tools, ctx=ctx())
    assert reply.intent.name == "outing.beach" and reply.gate == "open-ended"
    assert [s.persona for s in reply.segments] == ["surfer", "forecaster"]
    assert reply.segments[0].prosody.rate == 190 and reply.segments[1].prosody.rate == 170
    assert "ounds like fun!" in reply.segments[0].text or "Sounds fun!" in reply.segments[0].text
    assert "Half Moon Bay" in reply.segments[1].text and "rain" in reply.segments[1].text and "chilly" in reply.segments[1].text
    assert reply.hidden_queries == ("Half Moon Bay today",)
    assert "Half Moon Bay today" not in reply.text and "weather" not in reply.text.lower().replace("weather-", "")
    groups = {c.group for c in reply.candidates}
    assert groups == {Group.PLAIN, Group.MODIFIED, Group.ADDITIONAL, Group.MODIFIED_ADDITIONAL}


def test_a_pinned_persona_speaks_every_part():
    backend = ScriptedBackend([" Indeed.", " Shall I fetch an umbrella?", " I must mention:"])
    reply = stage(backend).respond("going to the beach today", answer="Sounds fun!", calls=[],
                                   context=context(places={"beach": "Half Moon Bay"}), persona=BUTLER, pinned=True,
                                   user_id="ann", tools=ToolRegistry.of([weather]), ctx=ctx())
    assert {s.persona for s in reply.segments} == {"butler"}


def test_no_usual_beach_means_no_additional_query():
    backend = ScriptedBackend([" Whoa!", " Have fun!"])
    reply = stage(backend).respond("going to the beach", answer="Sounds fun!", calls=[], context=context(), persona=SURFER,
                                   pinned=False, user_id="ann", tools=ToolRegistry.of([weather]), ctx=ctx())
    assert len(reply.segments) == 1 and reply.hidden_queries == ()


def test_a_factual_turn_makes_no_model_call():
    backend = ScriptedBackend()
    call = Call("search", "sky", "Sky: The sky is blue because of Rayleigh scattering.", 0.0, True, 1)
    reply = stage(backend).respond("why is the sky blue?", answer="Because of Rayleigh scattering.", calls=[call], context=context(),
                                   persona=BUTLER, pinned=False, user_id="ann", tools=ToolRegistry.of([]), ctx=ctx())
    assert backend.prompts == [] and reply.text == "Because of Rayleigh scattering." and "factual" in reply.gate


@pytest.mark.parametrize("answer, shown", [
    ("The best match is the Norvik Core 14 at NorthPeak Computers for 30.",  # a price in no result: the template wins
     "The best match is the Norvik Core 14 at NorthPeak Computers, $1,949.99."),
    ("Under $2000, NorthPeak Computers has the Norvik Core 14 for $1,949.99.",  # every number from the result or the message
     "Under $2000, NorthPeak Computers has the Norvik Core 14 for $1,949.99."),
])
def test_an_agent_answer_with_an_invented_number_loses_to_the_template_over_the_result(answer, shown):
    result = "76 laptops in 5 shops. Best match: Norvik Core 14 at NorthPeak Computers, $1,949.99. Vireo Store: Atelier, $1,909.99."
    call = Call("shop", "laptop under $2000", result, 0.0, True, 1)
    reply = stage(ScriptedBackend()).respond("best laptop under 2000 dollars?", answer=answer, calls=[call], context=context(),
                                             persona=BUTLER, pinned=False, user_id="ann", tools=ToolRegistry.of([]), ctx=ctx())
    assert reply.text == shown


def test_an_empty_plain_set_gives_the_agent_answer_unchanged():
    backend = ScriptedBackend()
    reply = stage(backend).respond("hm", answer="", calls=[], context=context(), persona=BUTLER, pinned=False, user_id="ann",
                                   tools=ToolRegistry.of([]), ctx=ctx())
    assert backend.prompts == [] and reply.text == "" and reply.gate == "no plain output to rewrite"


def test_over_budget_answers_plainly_with_a_note():
    backend = ScriptedBackend()
    reply = stage(backend, gate=GateSettings(budget_ms=10)).respond(
        "tell me something", answer="Let's chat!", calls=[], context=context(), persona=BUTLER, pinned=False, user_id="ann",
        tools=ToolRegistry.of([]), ctx=ctx())
    assert backend.prompts == [] and reply.text == "Let's chat!" and "budget" in reply.notes[0]


def test_a_precomputed_match_is_used_without_a_model_call():
    class Index:
        def match(self, query, context, plain, *, user_id, persona):
            return type("Match", (), {"outputs": ["Good morning, Ann. It's 8:30 AM. Any fun plans today?"], "how": "exact"})()

    backend = ScriptedBackend()
    staged = PersonaStage(backend, Book(BUTLER, NEUTRAL), LengthClassifier(), index=Index())
    call = Call("time", "now", "Tuesday 14 May 2024, 08:30 (UTC)", 0.0, True, 1)
    reply = staged.respond("what time is it?", answer="It's 8:30.", calls=[call], context=context(), persona=BUTLER, pinned=False,
                           user_id="ann", tools=ToolRegistry.of([]), ctx=ctx())
    assert backend.prompts == [] and reply.text == "Good morning, Ann. It's 8:30 AM. Any fun plans today?"
    assert any(c.provenance.value == "offline" for c in reply.candidates)


def test_time_of_day_and_context():
    assert [time_of_day(h) for h in (4, 5, 12, 17, 21)] == ["night", "morning", "afternoon", "evening", "night"]
    made = context()
    assert (made.time_of_day, made.day_of_week, made.local_time, made.user_name) == ("morning", "Tuesday", "8:30 AM", "Ann")


def test_a_rewrite_that_drops_the_facts_leaves_the_plain_answer_with_a_note():
    backend = ScriptedBackend([" Good morning, sir, what a lovely day it is."])  # free mode: a whole rewrite without the time
    stage_ = PersonaStage(backend, Book(BUTLER, NEUTRAL), LengthClassifier(), settings=PersonaSettings(mode="free"))
    call = Call("time", "now", "Tuesday 14 May 2024, 08:30 (UTC)", 0.0, True, 1)
    reply = stage_.respond("what time is it?", answer="It's 8:30 AM.", calls=[call], context=context(), persona=BUTLER, pinned=False,
                           user_id="ann", tools=ToolRegistry.of([]), ctx=ctx())
    assert "8:30" in reply.text and "lovely day" not in reply.text
    assert any("lost a fact" in note for note in reply.notes)
