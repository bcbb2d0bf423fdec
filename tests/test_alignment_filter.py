"""Contrastive filtering (spec §6.8, scenario 8): the gap, routing at the boundaries, score parsing, the LLM judge."""

import pytest

from assistant.alignment.filter import gap, judge_prompt, parse_pair, parse_score, route
from assistant.alignment.pipeline import AlignmentPipeline, AlignSettings
from assistant.alignment.records import Decision, JudgeError, Metadata, SyntheticInstruction
from assistant.alignment.roles import LLMJudge
from tests.fakes import ScriptedLLM, ScriptedRoles

INSTRUCTION = SyntheticInstruction("m0-0", "Describe the winning goal.", Metadata("creative writing", ["role-play", "sports"]))


def test_gap_is_the_exact_difference():
    assert gap(7.5, 4.25) == 3.25
    assert gap(4.0, 9.0) == -5.0
    assert gap(0.1 + 0.2, 0.3) == (0.1 + 0.2) - 0.3  # no rounding


@pytest.mark.parametrize("G, on, off_refine, off_drop", [
    (3.5, "keep_strong", "keep_strong", "keep_strong"),
    (3.0, "refine", "refine", "refine"),  # G = θ refines
    (0.0, "refine", "refine", "refine"),
    (-3.0, "refine", "refine", "refine"),  # G = −θ refines
    (-3.5, "keep_target", "refine", "drop"),
])
def test_routing_with_theta_3(G, on, off_refine, off_drop):
    assert route(G, 3.0) == on
    assert route(G, 3.0, regularizer=False) == off_refine  # default when the regulariser is off: refine
    assert route(G, 3.0, regularizer=False, regularizer_off_action="drop") == off_drop


@pytest.mark.parametrize("G, expected", [(2, "keep_strong"), (1, "refine"), (0, "refine"), (-1, "refine"), (-2, "keep_target")])
def test_routing_worked_example_with_theta_1(G, expected):
    assert route(G, 1.0) is Decision(expected)


def test_the_regulariser_branch_comes_before_the_similar_branch():
    assert route(-1e-9 - 3.0, 3.0) is Decision.KEEP_TARGET  # just below −θ is not "similar"
    with pytest.raises(ValueError):
        route(0.0, 3.0, regularizer=False, regularizer_off_action="keep")


@pytest.mark.parametrize("reply, score", [
    ("7", 7.0), (" 8.5/10", 8.5), ("Score (1-10): 7", 7.0), ("I'd give it a 6. It is fine.", 6.0), ("15", 10.0), ("0", 1.0), ("-4", 1.0),
])
def test_score_is_the_first_number_clamped_to_the_scale(reply, score):
    assert parse_score(reply) == score


def test_no_number_is_a_judge_error():
    with pytest.raises(JudgeError, match="no score"):
        parse_score("The response is great.")
    assert issubclass(JudgeError, ValueError)


@pytest.mark.parametrize("reply, scores", [
    ("A: 7 B: 4", (7.0, 4.0)), ("Response A: 3\nResponse B: 9.5", (3.0, 9.5)), ("B: 2, A: 8", (8.0, 2.0)), ("6, 2", (6.0, 2.0)),
    ("A: 12 B: 0", (10.0, 1.0)),
])
def test_pair_scores(reply, scores):
    assert parse_pair(reply) == scores


def test_a_pair_reply_with_one_number_is_a_judge_error():
    with pytest.raises(JudgeError):
        parse_pair("A is better: 8")


def test_pointwise_judge_prompt_holds_the_instruction_and_one_response():
    llm = ScriptedLLM(["7"])
    assert LLMJudge(llm).score(INSTRUCTION, "What a goal!") == 7.0
    assert "Instruction: Describe the winning goal.\nResponse: What a goal!\nScore (1-10):" in llm.prompts[0]
    assert judge_prompt("x", "y", scale=(0, 100)).endswith("Score (0-100):")


def test_repeated_samples_are_averaged():
    llm = ScriptedLLM(["6", "9"])
    assert LLMJudge(llm, samples=2).score(INSTRUCTION, "r") == 7.5 and len(llm.prompts) == 2


def test_pointwise_judge_scores_a_pair_with_two_prompts():
    llm = ScriptedLLM(["9", "3"])
    assert LLMJudge(llm).score_pair(INSTRUCTION, "strong", "target") == (9.0, 3.0)
    assert "Response: strong" in llm.prompts[0] and "Response: target" in llm.prompts[1]


def test_pairwise_judge_with_swap_asks_both_orders_and_averages():
    llm = ScriptedLLM(["A: 8 B: 4", "A: 6 B: 6"])  # second prompt: A is the target's response
    judge = LLMJudge(llm, mode="pairwise", swap=True)
    assert judge.score_pair(INSTRUCTION, "strong answer", "target answer") == (7.0, 5.0)
    assert "Response A: strong answer\nResponse B: target answer" in llm.prompts[0]
    assert "Response A: target answer\nResponse B: strong answer" in llm.prompts[1]


def test_judge_settings_are_checked():
    with pytest.raises(ValueError):
        LLMJudge(ScriptedLLM(), mode="listwise")
    with pytest.raises(ValueError):
        LLMJudge(ScriptedLLM(), samples=0)


def scored_pipeline(tmp_path, S_s, S_t, **settings):
    """A pipeline whose one instruction got the given scores, routed by the filter step."""
    stubs = ScriptedRoles(judge=lambda instruction, response: S_s if response.startswith("strong") else S_t)
    pipeline = AlignmentPipeline(tmp_path, stubs.roles(), AlignSettings(n_instructions=1, **settings), progress=False)
    pipeline.metadata(metadata=[INSTRUCTION.metadata])
    pipeline.instructions(), pipeline.respond(), pipeline.score(), pipeline.filter()
    return pipeline


@pytest.mark.parametrize("S_s, S_t, settings, decision, source", [
    (8.0, 5.0, {}, "refine", None),  # G = 3 = θ
    (5.0, 8.0, {}, "refine", None),  # G = −3
    (8.5, 5.0, {}, "keep_strong", "strong"),
    (5.0, 8.5, {}, "keep_target", "target"),
    (5.0, 8.5, {"regularizer": False}, "refine", None),
    (5.0, 8.5, {"regularizer": False, "regularizer_off_action": "drop"}, "drop", None),
    (6.0, 6.0, {}, "refine", None),
])
def test_filter_step_routes_and_pools_the_compared_response(tmp_path, S_s, S_t, settings, decision, source):
    from assistant.alignment.records import read_jsonl

    scored_pipeline(tmp_path, S_s, S_t, **settings)
    (record,) = read_jsonl(tmp_path / "filter.jsonl")
    assert (record["decision"], record["S_s"], record["S_t"], record["G"]) == (decision, S_s, S_t, S_s - S_t)
    pool = read_jsonl(tmp_path / "pool.jsonl")
    if source is None:
        assert pool == []
    else:
        (kept,) = pool
        assert (kept["response_source"], kept["response"]) == (source, record["R_s" if source == "strong" else "R_t"])
        assert kept["instruction"] == "creative writing task 0" and kept["metadata"]["use_case"] == "creative writing"
