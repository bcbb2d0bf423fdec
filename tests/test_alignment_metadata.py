"""Metadata (spec §6.1-6.3, scenarios 1-4): the encoder prompt and parser, duplicates, expert metadata, augmentation, vocabularies."""

import random

import pytest

from assistant.alignment.metadata import Vocabulary, augment, encoder_prompt, parse_metadata
from assistant.alignment.pipeline import AlignmentPipeline, AlignSettings
from assistant.alignment.prompts import templates
from assistant.alignment.records import AlignmentError, MalformedReply, Metadata, read_jsonl
from assistant.alignment.roles import LLMEncoder
from tests.fakes import ScriptedLLM, ScriptedRoles

SEED = "Pretend you are a radio host and describe the last-minute goal that won the cup."


def test_encoder_reply_parses_into_one_use_case_and_its_skills():
    parsed = parse_metadata("Use case: creative writing\nSkills: role-play, sports")
    assert (parsed.use_case, parsed.skills, parsed.flagged) == ("creative writing", ["role-play", "sports"], False)
    assert parsed.origin == "encoded"
    assert parsed.key == "creative writing | role-play, sports"


def test_more_than_three_skills_are_capped_and_flagged():
    parsed = parse_metadata("Use case: trip planning\nSkills: geography, budgeting, scheduling, local customs, weather reading")
    assert parsed.skills == ["geography", "budgeting", "scheduling"]
    assert parsed.flagged


@pytest.mark.parametrize("reply, use_case, skills", [
    ("**Use case:** code generation\n**Skills:** Python programming,  string manipulation .", "code generation",
     ["Python programming", "string manipulation"]),
    ("use case: summarisation\nskills: reading comprehension,,\n\n#Example 5#\nUse case: other\nSkills: x", "summarisation",
     ["reading comprehension"]),
    ("Use case: chit-chat", "chit-chat", []),
])
def test_parser_tolerates_real_model_formatting(reply, use_case, skills):
    parsed = parse_metadata(reply)
    assert (parsed.use_case, parsed.skills) == (use_case, skills)


def test_a_reply_without_a_use_case_is_a_clear_error():
    with pytest.raises(MalformedReply, match="Use case:"):
        parse_metadata("Skills: role-play, sports")
    assert issubclass(MalformedReply, ValueError)


def test_encoder_prompt_has_the_rules_the_example_and_the_seed():
    prompt = encoder_prompt(SEED)
    for phrase in ("instruction analyzer", "Output only", "at most 3 skills", "transferable", "2–3 words",
                   '"skill" and "knowledge" must not appear', "#Example 1#", "sports commentator",
                   "Use case: creative writing\nSkills: role-play, sports"):
        assert phrase in prompt, phrase
    assert prompt.rstrip().endswith(f"Instruction: {SEED}\nUse case:")
    assert prompt.count("#Example") == len(templates()["encoder"]["examples"]) + 1


def test_encoder_examples_are_configurable():
    prompt = encoder_prompt("hi", examples=[{"instruction": "Sum 2 and 2.", "use_case": "arithmetic", "skills": ["addition"]}])
    assert "#Example 1#\nInstruction: Sum 2 and 2.\nUse case: arithmetic\nSkills: addition" in prompt
    assert "sports commentator" not in prompt and "#Example 2#\nInstruction: hi" in prompt


def test_llm_encoder_reads_a_continuation_of_its_prompt():
    llm = ScriptedLLM([" creative writing\nSkills: role-play, sports\n\n#Example 5#\nInstruction: another"])
    encoded = LLMEncoder(llm).encode(SEED)
    assert (encoded.use_case, encoded.skills) == ("creative writing", ["role-play", "sports"])
    assert SEED in llm.prompts[0]


def test_three_seeds_with_the_same_pair_give_three_entries(tmp_path):
    stubs = ScriptedRoles()
    pipeline = AlignmentPipeline(tmp_path, stubs.roles(), progress=False)
    assert pipeline.metadata(seeds=["seed one", "seed two", "seed three"]) == 3
    rows = read_jsonl(tmp_path / "metadata.jsonl")
    assert [r["id"] for r in rows] == ["s0", "s1", "s2"]
    assert {(r["use_case"], tuple(r["skills"]), r["origin"]) for r in rows} == {("creative writing", ("role-play", "sports"), "encoded")}
    assert [r["seed_id"] for r in rows] == ["s0", "s1", "s2"]


def test_user_metadata_needs_no_encoder_and_no_seeds(tmp_path):
    stubs = ScriptedRoles()
    roles = stubs.roles()
    roles.encoder = None
    expert = [Metadata("weather question", ["forecast reading"]), Metadata("weather question", ["forecast reading"])]
    pipeline = AlignmentPipeline(tmp_path, roles, progress=False)
    assert pipeline.metadata(metadata=expert) == 2
    assert pipeline.metadata(metadata=expert) == 0  # already there
    assert [(i, m) for i, m in pipeline.metadata_pairs()] == [("u0", expert[0]), ("u1", expert[1])]
    assert stubs.calls == []


def test_seeds_without_an_encoder_or_without_any_source_are_errors(tmp_path):
    roles = ScriptedRoles().roles()
    roles.encoder = None
    with pytest.raises(AlignmentError, match="no encoder"):
        AlignmentPipeline(tmp_path / "a", roles, progress=False).metadata(seeds=["x"])
    with pytest.raises(AlignmentError, match="give seeds"):
        AlignmentPipeline(tmp_path / "b", roles, progress=False).metadata()


def test_an_unreadable_encoder_reply_skips_that_seed_only(tmp_path):
    llm = ScriptedLLM(lambda prompt: "" if "bad seed" in prompt else " chit-chat\nSkills: small talk")
    roles = ScriptedRoles().roles()
    roles.encoder = LLMEncoder(llm)
    pipeline = AlignmentPipeline(tmp_path, roles, progress=False)
    assert pipeline.metadata(seeds=["good seed", "bad seed", "another good seed"]) == 2
    assert [i for i, _ in pipeline.metadata_pairs()] == ["s0", "s2"]
    skipped = read_jsonl(tmp_path / "skipped.jsonl")
    assert [(r["step"], r["id"]) for r in skipped] == [("metadata", "s1")] and "Use case:" in skipped[0]["reason"]
    assert pipeline.metadata(seeds=["good seed", "bad seed", "another good seed"]) == 0
    assert len(llm.prompts) == 3  # a rerun asks nothing again, not even for the skipped seed


@pytest.fixture
def pool() -> list[Metadata]:
    return [Metadata("creative writing", ["role-play", "sports"]), Metadata("code generation", ["python", "testing", "sports"]),
            Metadata("creative writing", ["poetry"])]


def test_augmentation_is_seeded_and_draws_from_the_observed_pool(pool):
    first = augment(pool, 20, 2, random.Random(0))
    again = augment(pool, 20, 2, random.Random(0))
    assert first == again and len(first) == 20
    union = {"role-play", "sports", "python", "testing", "poetry"}
    for pair in first:
        assert pair.use_case in {"creative writing", "code generation"}
        assert len(pair.skills) == 2 == len(set(pair.skills)) and set(pair.skills) <= union
        assert pair.origin == "augmented"
    assert augment(pool, 20, 2, random.Random(1)) != first
    assert {p.use_case for p in first} == {"creative writing", "code generation"}  # both are drawn over 20 pairs


def test_augmentation_edge_cases(pool):
    assert augment(pool, 0, 2, random.Random(0)) == []
    assert all(len(p.skills) == 5 for p in augment(pool, 3, 9, random.Random(0)))  # k is capped at the union's size
    with pytest.raises(ValueError):
        augment(pool, 1, 0, random.Random(0))
    with pytest.raises(ValueError):
        augment([], 1, 2, random.Random(0))


def test_augment_step_appends_reproducible_pairs(tmp_path, pool):
    made = []
    for name in ("one", "two"):
        pipeline = AlignmentPipeline(tmp_path / name, ScriptedRoles().roles(), AlignSettings(augment_pairs=4, augment_k=2), progress=False)
        pipeline.metadata(metadata=pool)
        assert pipeline.augment() == 4 and pipeline.augment() == 0
        made.append(read_jsonl(tmp_path / name / "metadata.jsonl"))
    assert made[0] == made[1]
    assert [r["id"] for r in made[0]] == ["u0", "u1", "u2", "a0", "a1", "a2", "a3"]


def test_vocabulary_is_off_by_default_and_constrains_when_on(tmp_path):
    assert AlignSettings().vocab is None
    assert "Choose the use case" not in encoder_prompt(SEED)
    vocab = Vocabulary(("Creative Writing", "code generation"), ("role-play", "Sports"))
    prompt = encoder_prompt(SEED, vocab=vocab)
    assert "Choose the use case from: Creative Writing; code generation." in prompt and "role-play; Sports" in prompt
    assert vocab.constrain(Metadata("creative writing", ["sports", "poetry"])) == Metadata("Creative Writing", ["Sports"])
    assert vocab.constrain(Metadata("cooking", ["sports"])) is None
    stubs = ScriptedRoles(metadata=lambda text: Metadata(text, ["role-play", "juggling"]))
    pipeline = AlignmentPipeline(tmp_path, stubs.roles(), AlignSettings(vocab=vocab), progress=False)
    assert pipeline.metadata(seeds=["code generation", "cooking"]) == 1
    assert [m.skills for _, m in pipeline.metadata_pairs()] == [["role-play"]]
    assert read_jsonl(tmp_path / "skipped.jsonl")[0]["id"] == "s1"


def test_metadata_round_trips_through_json():
    pair = Metadata("creative writing", ["role-play"], origin="augmented", seed_id=None, flagged=True)
    assert Metadata.from_dict(pair.to_dict()) == pair
    with pytest.raises(ValueError):
        Metadata("x", ["y"], origin="invented")
    with pytest.raises(ValueError):
        Metadata("", ["y"])
