"""Self-rubrics (spec §6.5-6.6, scenarios 6-7): the rubric prompt and parser, the per-pair cache, one action per improver call."""

import random

import pytest

from assistant.alignment.pipeline import AlignmentPipeline, AlignSettings
from assistant.alignment.records import MalformedReply, Metadata, RubricSet, SyntheticInstruction, read_jsonl
from assistant.alignment.roles import LLMImprover, LLMRubricWriter
from assistant.alignment.rubrics import RubricCache, choose_action, improver_prompt, parse_improved, parse_rubrics, rubric_prompt
from tests.fakes import ScriptedLLM, ScriptedRoles

BUSINESS = Metadata("business plan development", ["market research and planning"])
SWOT = "Add a SWOT (strengths, weaknesses, opportunities, threats) analysis"
COMPETITORS = "Include a comparison with market competitors"
RUBRIC_REPLY = f"""
1. Does the instruction ask for quantified market data?
2. Does it require a financial projection?
3. Does it name a target customer segment?
Actions:
1. {SWOT}
2. {COMPETITORS}
3. Ask for a three-year revenue forecast
"""


def test_rubric_prompt_has_k_the_use_case_the_skills_and_the_headers():
    prompt = rubric_prompt(BUSINESS, 3)
    for phrase in ("instruction judge with domain expertise", "generate 3 domain-specific rubrics", "Use case: business plan development",
                   "Skills: market research and planning", "clear, concise and unambiguous", '"Rubrics:"', '"Actions:"'):
        assert phrase in prompt, phrase
    assert prompt.endswith("Rubrics:")


def test_rubric_reply_parses_into_two_lists():
    rubrics, actions = parse_rubrics(RUBRIC_REPLY)
    assert len(rubrics) == 3 and rubrics[0] == "Does the instruction ask for quantified market data?"
    assert actions == [SWOT, COMPETITORS, "Ask for a three-year revenue forecast"]


@pytest.mark.parametrize("reply, rubrics, actions", [
    ("Rubrics:\n1. R1\n2. R2\n\n**Action items:**\n- A1\n- A2", ["R1", "R2"], ["A1", "A2"]),
    ("### Rubrics\n1. R1\n### Actions\n1. A1", ["R1"], ["A1"]),
    ("1. R1\nACTIONS: 1. A1\n2. A2", ["R1"], ["A1", "A2"]),
    ("1. R1\n2. R2", ["R1", "R2"], []),  # no actions header: no actions
])
def test_rubric_reply_variants(reply, rubrics, actions):
    assert parse_rubrics(reply) == (rubrics, actions)


def test_section_headers_are_configurable():
    assert parse_rubrics("Criteria:\n1. R\nSteps:\n1. A", rubrics_header="Criteria:", actions_header="Steps:") == (["R"], ["A"])


def test_rubrics_are_written_once_per_pair_and_reused(tmp_path):
    llm = ScriptedLLM(lambda prompt: RUBRIC_REPLY)
    cache = RubricCache(tmp_path / "rubrics.jsonl", LLMRubricWriter(llm), 3)
    sets = [cache.get(BUSINESS) for _ in range(10)]  # ten instructions from the same pair
    assert len(llm.prompts) == 1 and all(s == sets[0] for s in sets)
    assert SWOT in sets[0].actions and COMPETITORS in sets[0].actions and sets[0].metadata_key == BUSINESS.key
    resumed = RubricCache(tmp_path / "rubrics.jsonl", LLMRubricWriter(llm), 3)
    assert resumed.get(Metadata(BUSINESS.use_case, list(BUSINESS.skills))) == sets[0]  # same key, from the file
    assert len(llm.prompts) == 1


def test_rubrics_step_calls_once_per_distinct_pair(tmp_path):
    stubs = ScriptedRoles()
    pipeline = AlignmentPipeline(tmp_path, stubs.roles(), AlignSettings(n_instructions=5), progress=False)
    pipeline.metadata(metadata=[BUSINESS, BUSINESS, Metadata("poetry", ["rhyme"])])
    pipeline.instructions()
    assert pipeline.rubrics() == 2 and pipeline.rubrics() == 0
    assert stubs.called("rubric_writer") == [BUSINESS.key, "poetry | rhyme"]
    assert [r["metadata_key"] for r in read_jsonl(tmp_path / "rubrics.jsonl")] == [BUSINESS.key, "poetry | rhyme"]


def test_one_action_is_drawn_uniformly_with_the_seeded_generator():
    rubric_set = RubricSet(BUSINESS.key, [], [SWOT, COMPETITORS, "Ask for a forecast", "Add a budget"])
    draws = [choose_action(rubric_set, [], random.Random(seed)) for seed in range(8)]
    assert draws == [random.Random(seed).choice(rubric_set.actions) for seed in range(8)]
    counts = {a: 0 for a in rubric_set.actions}
    rng = random.Random(0)
    for _ in range(4000):
        counts[choose_action(rubric_set, [], rng)] += 1
    assert all(850 < c < 1150 for c in counts.values()), counts  # uniform: about 1000 each


def test_improver_prompt_carries_exactly_one_action_and_the_instruction():
    actions = [SWOT, COMPETITORS, "Ask for a three-year revenue forecast"]
    action = choose_action(RubricSet(BUSINESS.key, [], actions), [], random.Random(0))
    assert action == random.Random(0).choice(actions)
    prompt = improver_prompt("Write a business plan for a bakery.", action)
    assert sum(a in prompt for a in actions) == 1
    assert f"Improving action item: {action}\nInput instruction: Write a business plan for a bakery.\nImproved instruction:" in prompt
    assert "Do not copy words or phrases" in prompt and "more challenging" in prompt


def test_action_reuse_can_be_switched_off():
    rubric_set = RubricSet("k", [], ["a", "b", "c"])
    assert {choose_action(rubric_set, ["a", "b"], random.Random(s), reuse=False) for s in range(20)} == {"c"}
    assert {choose_action(rubric_set, ["a", "b"], random.Random(s), reuse=True) for s in range(20)} == {"a", "b", "c"}
    assert choose_action(rubric_set, ["a", "b", "c"], random.Random(0), reuse=False) in {"a", "b", "c"}  # all used: any
    with pytest.raises(MalformedReply, match="no action items"):
        choose_action(RubricSet("k", ["r"], []), [], random.Random(0))


@pytest.mark.parametrize("reply, expected", [
    (" Write a plan for a bakery, with a SWOT analysis.", "Write a plan for a bakery, with a SWOT analysis."),
    ("Improved instruction: Compare three rivals.", "Compare three rivals."),
    ('Sure!\nImproved instruction: "Compare three rivals."\n', "Compare three rivals."),
    ("Compare rivals.\n\nImproving action item: something else\nInput instruction: x", "Compare rivals."),
])
def test_improved_instruction_is_read_after_the_marker_or_whole(reply, expected):
    assert parse_improved(reply) == expected


def test_an_empty_improvement_is_an_error():
    with pytest.raises(MalformedReply):
        parse_improved("Improved instruction:   ")


def test_llm_improver_uses_the_instruction_text_and_the_action():
    llm = ScriptedLLM([" Harder text"])
    instruction = SyntheticInstruction("m0-0", "Easy text", BUSINESS)
    assert LLMImprover(llm).improve(instruction, SWOT) == "Harder text"
    assert "Input instruction: Easy text" in llm.prompts[0] and SWOT in llm.prompts[0]


def test_the_pipeline_draws_each_instructions_action_from_its_own_seeded_generator(tmp_path):
    stubs = ScriptedRoles(actions=["a1", "a2", "a3", "a4", "a5"])
    settings = AlignSettings(n_instructions=3, max_refine_rounds=1, seed=7)
    pipeline = AlignmentPipeline(tmp_path, stubs.roles(), settings, progress=False)
    pipeline.metadata(metadata=[BUSINESS])
    pipeline.instructions()
    pipeline.rubrics()
    pipeline.respond(), pipeline.score(), pipeline.filter()
    assert pipeline.improve() == 3
    refined = {r["parent_id"]: r for r in read_jsonl(tmp_path / "instructions.jsonl") if r["round"] == 1}
    for parent in ("m0-0", "m0-1", "m0-2"):
        expected = random.Random(f"7:{parent}").choice(stubs.actions)
        assert refined[parent]["actions_applied"] == [expected]
        assert refined[parent]["text"].endswith(f"+ {expected}")


def test_with_refinement_off_base_instructions_go_straight_to_the_responders(tmp_path):
    from assistant.alignment.pipeline import run

    stubs = ScriptedRoles()
    summary = run(tmp_path, stubs.roles(), AlignSettings(refine=False, n_instructions=2), metadata=[BUSINESS], progress=False)
    assert stubs.called("rubric_writer") == [] and stubs.called("improver") == []
    assert stubs.called("strong") == stubs.called("target") == ["m0-0", "m0-1"]
    assert summary["outcomes"]["dropped_exhausted"] == 2 and summary["refined_instructions"] == 0
