"""Instruction generation (spec §6.4, scenario 5): the decoder prompt, the numbered-list parser, the metadata link."""

import pytest

from assistant.alignment.generate import base_instructions, decoder_prompt, parse_numbered
from assistant.alignment.pipeline import AlignmentPipeline, AlignSettings
from assistant.alignment.records import Metadata, SyntheticInstruction, read_jsonl
from assistant.alignment.roles import LLMDecoder
from tests.fakes import ScriptedLLM, ScriptedRoles

PAIR = Metadata("creative writing", ["role-play", "sports"])


def test_numbered_list_with_a_blank_line():
    assert parse_numbered("1. A\n2. B\n\n3. C", 3) == ["A", "B", "C"]


@pytest.mark.parametrize("reply, n, expected", [
    ("1. A\n2. B\n3. C\n4. D", 2, ["A", "B"]),
    ("1) A\n2) B", 5, ["A", "B"]),
    ("(1) A\n(2) B", 5, ["A", "B"]),
    ("- A\n* B\n• C", 5, ["A", "B", "C"]),
    ("Instruction 1: A\nInstruction 2: B", 5, ["A", "B"]),
    ("A\n\nB\n", 5, ["A", "B"]),  # no numbering at all: one item per line
    ("Here are three instructions:\n1. A\n2. B\n\nLet me know if you want more.", 5, ["A", "B"]),
    ("1. Write a poem\nabout the sea.\n2. B", 5, ["Write a poem about the sea.", "B"]),
    ("1.   \n2. B", 5, ["B"]),
    ("", 3, []),
])
def test_numbered_list_variants(reply, n, expected):
    assert parse_numbered(reply, n) == expected


def test_decoder_prompt_has_n_the_use_case_the_skills_and_no_answers():
    prompt = decoder_prompt(PAIR, 7)
    for phrase in ("Write 7 instructions", "Use case of the instructions: creative writing", "Skills needed to respond: role-play, sports",
                   "numbered list", "without answers", "do not answer"):
        assert phrase in prompt, phrase


def test_llm_decoder_keeps_the_metadata_link():
    llm = ScriptedLLM(["1. A\n2. B\n\n3. C"])
    made = base_instructions(LLMDecoder(llm), PAIR, 3, index=4)
    assert [(i.id, i.text, i.round, i.parent_id) for i in made] == [("m4-0", "A", 0, None), ("m4-1", "B", 0, None), ("m4-2", "C", 0, None)]
    assert all(i.metadata == PAIR for i in made)
    assert "Write 3 instructions" in llm.prompts[0]


class ExtraDecoder:
    """A decoder returning more than asked, a blank, and (text, extra) pairs."""

    def write(self, metadata, n):
        return [("What is 2+2?", {"gold": "4"}), "  ", "Tell me a joke.", ("Third", {"gold": "3"}), "too many"]


def test_decoder_extras_travel_with_their_instruction_and_at_most_n_are_kept():
    made = base_instructions(ExtraDecoder(), PAIR, 4, index=0)
    assert [(i.id, i.text, i.extra) for i in made] == [("m0-0", "What is 2+2?", {"gold": "4"}), ("m0-1", "Tell me a joke.", {}),
                                                       ("m0-2", "Third", {"gold": "3"})]
    assert SyntheticInstruction.from_dict(made[0].to_dict()) == made[0]


def test_instructions_step_writes_n_per_pair_once(tmp_path):
    stubs = ScriptedRoles()
    pipeline = AlignmentPipeline(tmp_path, stubs.roles(), AlignSettings(n_instructions=2), progress=False)
    pipeline.metadata(metadata=[PAIR, Metadata("code generation", ["python"]), PAIR])
    assert pipeline.instructions() == 6
    rows = [SyntheticInstruction.from_dict(r) for r in read_jsonl(tmp_path / "instructions.jsonl")]
    assert [r.id for r in rows] == ["m0-0", "m0-1", "m1-0", "m1-1", "m2-0", "m2-1"]
    assert [r.metadata.use_case for r in rows] == ["creative writing"] * 2 + ["code generation"] * 2 + ["creative writing"] * 2
    assert pipeline.instructions() == 0 and len(stubs.called("decoder")) == 3


def test_limit_uses_only_the_first_pairs(tmp_path):
    stubs = ScriptedRoles()
    pipeline = AlignmentPipeline(tmp_path, stubs.roles(), AlignSettings(n_instructions=1, limit=2), progress=False)
    pipeline.metadata(metadata=[PAIR] * 5)
    assert pipeline.instructions() == 2 and len(stubs.called("decoder")) == 2


def test_a_pair_the_decoder_writes_nothing_for_is_skipped_once(tmp_path):
    llm = ScriptedLLM(lambda prompt: "" if "nothing" in prompt else "1. Only one")
    roles = ScriptedRoles().roles()
    roles.decoder = LLMDecoder(llm)
    pipeline = AlignmentPipeline(tmp_path, roles, progress=False)
    pipeline.metadata(metadata=[Metadata("nothing", ["x"]), PAIR])
    assert pipeline.instructions() == 1
    assert read_jsonl(tmp_path / "skipped.jsonl") == [{"step": "instructions", "id": "m0", "reason": "the decoder wrote no instruction"}]
    assert pipeline.instructions() == 0 and len(llm.prompts) == 2
