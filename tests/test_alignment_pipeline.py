"""The pipeline (spec §6.9-6.10, scenarios 9-12): rounds, termination, resumability, roles, export and summary."""

import json
import re
from collections import Counter

import pytest

from assistant.alignment.pipeline import AlignmentPipeline, AlignSettings, OnExhausted, RefineMode, run
from assistant.alignment.records import (
    AlignmentError, FilterRecord, JudgeError, Metadata, RubricSet, SyntheticInstruction, TrainingRecord, append_jsonl, read_jsonl,
)
from assistant.alignment.roles import BackendLLM, Roles
from assistant.errors import ConfigError
from tests.fakes import RoleCrash, ScriptedBackend, ScriptedLLM, ScriptedRoles

SEEDS = ["Describe the winning goal as a radio host.", "Narrate the last lap of a race.", "Commentate a chess blitz final."]
PAIR = Metadata("creative writing", ["role-play", "sports"])


def read(path):
    return read_jsonl(path)


# -- settings ---------------------------------------------------------------------------------------------


def test_settings_defaults_are_the_published_ones():
    s = AlignSettings()
    assert (s.theta, s.n_instructions, s.n_rubrics, s.max_refine_rounds, s.refine, s.refine_mode, s.action_reuse) == \
        (3.0, 5, 4, 4, True, RefineMode.COMPOUND, True)
    assert (s.regularizer, s.regularizer_off_action, s.on_exhausted, s.augment_pairs, s.augment_k, s.judge_mode, s.seed, s.vocab) == \
        (True, "refine", OnExhausted.DROP, 0, 2, "pointwise", 0, None)
    assert s.refine_mode == "compound" and s.on_exhausted == "drop"  # str enums compare with their values


@pytest.mark.parametrize("change", [{"theta": float("nan")}, {"n_instructions": 0}, {"max_refine_rounds": -1}, {"refine_mode": "sideways"},
                                    {"on_exhausted": "keep"}, {"regularizer_off_action": "keep"}, {"judge_mode": "listwise"},
                                    {"augment_k": 0}, {"limit": 0}, {"judge_scale": (10, 1)}])
def test_bad_settings_are_config_errors(change):
    with pytest.raises(ConfigError, match="alignment settings"):
        AlignSettings(**change)


def test_settings_accept_the_spelling_keep_last_with_a_dash_and_are_frozen():
    s = AlignSettings(on_exhausted="keep-last", refine_mode="restart")
    assert s.on_exhausted is OnExhausted.KEEP_LAST and s.refine_mode is RefineMode.RESTART
    assert s.to_dict()["on_exhausted"] == "keep_last"
    with pytest.raises(Exception):
        s.theta = 1.0


# -- rounds -----------------------------------------------------------------------------------------------


def test_refined_instructions_get_fresh_responses_from_both_models_and_new_scores(tmp_path):
    stubs = ScriptedRoles(judge=lambda ins, response: 9.0 if response.startswith("strong") and " + " in response else 5.0)
    run(tmp_path, stubs.roles(), AlignSettings(n_instructions=1), metadata=[PAIR], progress=False)
    assert stubs.called("strong") == stubs.called("target") == ["m0-0", "m0-0.r1"]  # once per instruction per round
    responses = {(r["instruction_id"], r["role"]): r["response"] for r in read(tmp_path / "responses.jsonl")}
    refined = SyntheticInstruction.from_dict(read(tmp_path / "instructions.jsonl")[-1])
    assert responses["m0-0.r1", "strong"] == f"strong answer to: {refined.text}"
    assert responses["m0-0.r1", "target"] == f"target answer to: {refined.text}"  # the same text for both
    first, second = (FilterRecord.from_dict(r) for r in read(tmp_path / "filter.jsonl"))
    assert (first.decision, first.S_s, second.decision, second.S_s, second.S_t) == ("refine", 5.0, "keep_strong", 9.0, 5.0)
    assert second.R_s == responses["m0-0.r1", "strong"] != first.R_s
    (kept,) = [TrainingRecord.from_dict(r) for r in read(tmp_path / "pool.jsonl")]
    assert (kept.instruction, kept.response, kept.rounds, kept.instruction_id) == (refined.text, second.R_s, 1, "m0-0.r1")
    assert refined.parent_id == "m0-0" and refined.round == 1 and refined.metadata == PAIR


def test_a_judge_that_always_ties_ends_after_max_rounds_and_drops(tmp_path):
    stubs = ScriptedRoles()  # every score is 5
    summary = run(tmp_path, stubs.roles(), AlignSettings(n_instructions=2, max_refine_rounds=4), metadata=[PAIR], progress=False)
    records = [FilterRecord.from_dict(r) for r in read(tmp_path / "filter.jsonl") if r["instruction_id"].startswith("m0-0")]
    assert [(r.round, r.decision.value, r.reason) for r in records] == [(0, "refine", ""), (1, "refine", ""), (2, "refine", ""),
                                                                          (3, "refine", ""), (4, "drop", "exhausted")]
    assert Counter(stubs.called("improver")) == {"m0-0": 1, "m0-0.r1": 1, "m0-0.r2": 1, "m0-0.r3": 1,
                                                 "m0-1": 1, "m0-1.r1": 1, "m0-1.r2": 1, "m0-1.r3": 1}
    assert read(tmp_path / "pool.jsonl") == [] and summary["dataset"] == 0
    assert summary["outcomes"]["dropped_exhausted"] == 2 and summary["outcomes"]["refine"] == 8 and summary["pending"] == 0


def test_keep_last_keeps_the_last_compared_pair(tmp_path):
    stubs = ScriptedRoles()
    summary = run(tmp_path, stubs.roles(), AlignSettings(n_instructions=1, max_refine_rounds=2, on_exhausted="keep_last"),
                  metadata=[PAIR], progress=False)
    last = FilterRecord.from_dict(read(tmp_path / "filter.jsonl")[-1])
    (kept,) = read(tmp_path / "pool.jsonl")
    assert (last.round, last.outcome) == (2, "kept_last")
    assert (kept["instruction_id"], kept["response"], kept["response_source"]) == ("m0-0.r2", last.R_s, "strong")
    assert summary["outcomes"]["kept_last"] == 1 and summary["dataset"] == 1


def test_compound_refinement_builds_on_the_latest_text(tmp_path):
    stubs = ScriptedRoles(actions=["a"])
    run(tmp_path, stubs.roles(), AlignSettings(n_instructions=1, max_refine_rounds=2), metadata=[PAIR], progress=False)
    last = SyntheticInstruction.from_dict(read(tmp_path / "instructions.jsonl")[-1])
    assert (last.text, last.actions_applied, last.parent_id) == ("creative writing task 0 + a + a", ["a", "a"], "m0-0.r1")
    assert stubs.called("improver") == ["m0-0", "m0-0.r1"]


def test_restart_refinement_improves_the_base_instruction_each_round(tmp_path):
    stubs = ScriptedRoles(actions=["a", "b", "c"])
    run(tmp_path, stubs.roles(), AlignSettings(n_instructions=1, max_refine_rounds=3, refine_mode="restart"), metadata=[PAIR],
        progress=False)
    refined = [SyntheticInstruction.from_dict(r) for r in read(tmp_path / "instructions.jsonl")][1:]
    assert stubs.called("improver") == ["m0-0"] * 3  # the improver always gets the base instruction
    assert all(re.fullmatch(r"creative writing task 0 \+ [abc]", r.text) and len(r.actions_applied) == 1 for r in refined)
    assert [r.parent_id for r in refined] == ["m0-0", "m0-0.r1", "m0-0.r2"]


def test_without_action_reuse_a_lineage_never_repeats_an_action(tmp_path):
    stubs = ScriptedRoles(actions=["a", "b", "c"])
    for seed in range(5):
        run(tmp_path / str(seed), stubs.roles(), AlignSettings(n_instructions=1, max_refine_rounds=3, action_reuse=False, seed=seed),
            metadata=[PAIR], progress=False)
        last = SyntheticInstruction.from_dict(read(tmp_path / str(seed) / "instructions.jsonl")[-1])
        assert sorted(last.actions_applied) == ["a", "b", "c"]


def test_a_judge_error_is_a_recorded_drop(tmp_path):
    def judge(instruction, response):
        if instruction.id == "m0-1":
            raise JudgeError("no score in the judge's reply: 'great answer'")
        return 9.0 if response.startswith("strong") else 2.0

    stubs = ScriptedRoles(judge=judge)
    summary = run(tmp_path, stubs.roles(), AlignSettings(n_instructions=3), metadata=[PAIR], progress=False)
    records = {r["instruction_id"]: FilterRecord.from_dict(r) for r in read(tmp_path / "filter.jsonl")}
    failed = records["m0-1"]
    assert (failed.decision.value, failed.reason, failed.G, failed.outcome) == ("drop", "judge_error", None, "judge_errors")
    assert "great answer" in failed.detail
    assert summary["outcomes"]["judge_errors"] == 1 and summary["outcomes"]["keep_strong"] == 2 and summary["dataset"] == 2
    assert "m0-1" not in stubs.called("improver")


def test_regulariser_keeps_the_target_answer_and_summary_counts_per_use_case(tmp_path):
    def judge(instruction, response):
        target_wins = instruction.metadata.use_case == "chit-chat"
        return 9.0 if response.startswith("target") == target_wins else 2.0

    pairs = [PAIR, Metadata("chit-chat", ["small talk"])]
    summary = run(tmp_path, ScriptedRoles(judge=judge).roles(), AlignSettings(n_instructions=2), metadata=pairs, progress=False)
    assert summary["use_cases"]["chit-chat"]["keep_target"] == 2 and summary["use_cases"]["creative writing"]["keep_strong"] == 2
    sources = {r["instruction_id"]: (r["response_source"], r["response"]) for r in read(tmp_path / "pool.jsonl")}
    assert sources["m1-0"] == ("target", "target answer to: chit-chat task 0")
    assert sources["m0-0"] == ("strong", "strong answer to: creative writing task 0")
    off = run(tmp_path / "off", ScriptedRoles(judge=judge).roles(),
              AlignSettings(n_instructions=2, regularizer=False, regularizer_off_action="drop"), metadata=pairs, progress=False)
    assert off["outcomes"]["dropped_regularizer_off"] == 2 and off["outcomes"]["keep_target"] == 0 and off["dataset"] == 2


def test_pairwise_mode_needs_a_pairwise_judge(tmp_path):
    with pytest.raises(AlignmentError, match="score_pair"):
        run(tmp_path, ScriptedRoles().roles(), AlignSettings(n_instructions=1, judge_mode="pairwise"), metadata=[PAIR], progress=False)


# -- resumability -----------------------------------------------------------------------------------------


def ranked_judge(instruction, response):
    """Deterministic scores: m*-k passes on round k, m1-2 keeps the target, m2-2 never passes."""
    root, k = instruction.id.split(".r")[0], int(instruction.id.split("-")[1][0])
    if root == "m1-2":
        return 9.0 if response.startswith("target") else 2.0
    if root == "m2-2":
        return 5.0
    return 9.0 if response.startswith("strong") and instruction.round >= k else 5.0


SETTINGS = AlignSettings(n_instructions=3, max_refine_rounds=3)


@pytest.mark.parametrize("role, after", [("encoder", 1), ("decoder", 2), ("rubric_writer", 0), ("strong", 10), ("target", 4),
                                         ("judge", 6), ("improver", 3)])
def test_an_interrupted_run_resumes_to_the_same_pool_without_asking_again(tmp_path, role, after):
    whole = ScriptedRoles(judge=ranked_judge)
    summary = run(tmp_path / "whole", whole.roles(), SETTINGS, seeds=SEEDS, progress=False)
    assert summary["outcomes"] == {"keep_strong": 7, "keep_target": 1, "kept_last": 0, "refine": 8, "dropped_exhausted": 1,
                                   "dropped_regularizer_off": 0, "judge_errors": 0}
    crashed = ScriptedRoles(judge=ranked_judge, crash=(role, after))
    with pytest.raises(RoleCrash):
        run(tmp_path / "resumed", crashed.roles(), SETTINGS, seeds=SEEDS, progress=False)
    resumed = ScriptedRoles(judge=ranked_judge)
    again = run(tmp_path / "resumed", resumed.roles(), SETTINGS, seeds=SEEDS, progress=False)
    for name in ("pool.jsonl", "dataset.jsonl", "filter.jsonl", "instructions.jsonl"):
        assert read(tmp_path / "whole" / name) == read(tmp_path / "resumed" / name), name
    assert {k: v for k, v in again.items() if k != "workdir"} == {k: v for k, v in summary.items() if k != "workdir"}
    # every call of the uninterrupted run happened exactly once over the two sessions: nothing finished was asked again
    assert Counter(crashed.calls) + Counter(resumed.calls) == Counter(whole.calls)
    assert crashed.calls and resumed.calls


def test_a_line_cut_short_by_a_crash_is_dropped_and_the_run_continues(tmp_path):
    whole = run(tmp_path / "whole", ScriptedRoles(judge=ranked_judge).roles(), SETTINGS, seeds=SEEDS, progress=False)
    with pytest.raises(RoleCrash):
        run(tmp_path / "cut", ScriptedRoles(judge=ranked_judge, crash=("judge", 8)).roles(), SETTINGS, seeds=SEEDS, progress=False)
    with open(tmp_path / "cut" / "scores.jsonl", "ab") as f:
        f.write(b'{"instruction_id": "m1-1", "S_s": 9.')  # the process died in the middle of this write
    resumed = run(tmp_path / "cut", ScriptedRoles(judge=ranked_judge).roles(), SETTINGS, seeds=SEEDS, progress=False)
    assert read(tmp_path / "cut" / "pool.jsonl") == read(tmp_path / "whole" / "pool.jsonl")
    assert resumed["outcomes"] == whole["outcomes"]
    assert (tmp_path / "cut" / "scores.jsonl").read_text().count("\n") == len(read(tmp_path / "cut" / "scores.jsonl"))


def test_rerunning_a_finished_run_asks_nothing(tmp_path):
    first = run(tmp_path, ScriptedRoles(judge=ranked_judge).roles(), SETTINGS, seeds=SEEDS, progress=False)
    files = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    again = ScriptedRoles(judge=ranked_judge)
    assert run(tmp_path, again.roles(), SETTINGS, seeds=SEEDS, progress=False) == first
    assert again.calls == []
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == files
    pipeline = AlignmentPipeline(tmp_path, again.roles(), SETTINGS, progress=False)
    steps = (pipeline.instructions, pipeline.rubrics, pipeline.respond, pipeline.score, pipeline.filter, pipeline.improve)
    assert [step() for step in steps] == [0] * 6


def test_a_workdir_keeps_one_metadata_source(tmp_path):
    run(tmp_path, ScriptedRoles().roles(), AlignSettings(n_instructions=1, refine=False), seeds=SEEDS, progress=False)
    with pytest.raises(AlignmentError, match="started from seeds"):
        AlignmentPipeline(tmp_path, ScriptedRoles().roles(), progress=False).metadata(metadata=[PAIR])
    with pytest.raises(AlignmentError, match="not both"):
        AlignmentPipeline(tmp_path, ScriptedRoles().roles(), progress=False).metadata(metadata=[PAIR], seeds=SEEDS)


# -- export -----------------------------------------------------------------------------------------------


def test_export_writes_the_dataset_and_the_summary_and_calls_post_export(tmp_path):
    seen = []

    def train_hook(workdir):
        records = [(r["instruction"], r["response"]) for r in read(workdir / "dataset.jsonl")]
        seen.append(records)
        return {"samples": len(records)}

    stubs = ScriptedRoles(judge=ranked_judge)
    summary = run(tmp_path, stubs.roles(post_export=train_hook), SETTINGS, seeds=SEEDS, progress=False)
    rows = read(tmp_path / "dataset.jsonl")
    assert len(rows) == 8 and summary["dataset"] == 8 and summary["samples"] == 8
    assert all(set(r) == {"instruction", "response", "response_source", "use_case", "skills", "rounds", "instruction_id", "extra"}
               for r in rows)
    assert seen == [[(r["instruction"], r["response"]) for r in rows]]
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    assert summary["use_cases"] == {"creative writing": {"metadata": 3, "instructions": 9, "dataset": 8, "keep_strong": 7, "keep_target": 1,
                                                         "kept_last": 0, "refine": 8, "dropped_exhausted": 1,
                                                         "dropped_regularizer_off": 0, "judge_errors": 0}}
    assert summary["settings"]["theta"] == 3.0 and summary["instructions"] == 9 and summary["refined_instructions"] == 8


# -- roles ------------------------------------------------------------------------------------------------

TEMPLATE_OPENINGS = {"encoder": "You are an instruction analyzer", "decoder": "You are an instruction writer",
                     "rubric_writer": "You are an instruction judge with domain expertise", "improver": "You are an instruction improver",
                     "strong": "Below is an instruction", "target": "Below is an instruction",
                     "judge": "You are a strict and impartial judge"}


def _field(prompt, name, end):
    return re.search(rf"{name}: (.*?)\n{end}", prompt, re.S).group(1)


REPLIES = {
    "encoder": lambda p: " creative writing\nSkills: role-play, sports\n\n#Example 5#\nInstruction: something else",
    "decoder": lambda p: "Here they are:\n1. Commentate a penalty shoot-out.\n2. Narrate a marathon finish.\n",
    "rubric_writer": lambda p: "1. Vividness\n2. Accuracy\nActions:\n1. Add a time limit\n2. Add a rival team",
    "improver": lambda p: f" {_field(p, 'Input instruction', 'Improved')} ({_field(p, 'Improving action item', 'Input').lower()})",
    "strong": lambda p: f" A vivid, detailed answer to: {_field(p, 'Instruction', '')}",
    "target": lambda p: " ok",
    # the strong answer only stands out once the instruction was refined (it then has "(add ...)")
    "judge": lambda p: "9" if "detailed" in _field(p, "Response", "Score") and "(add" in _field(p, "Instruction", "Response") else "5",
}


def test_end_to_end_with_llm_roles_gives_a_dataset_and_trains_on_it(tmp_path):
    clients = {name: ScriptedLLM(reply, name=name) for name, reply in REPLIES.items()}
    trained = []
    roles = Roles.from_llms(ScriptedLLM(name="default"), **clients)
    roles.post_export = lambda workdir: trained.append([(r["instruction"], r["response"]) for r in read(workdir / "dataset.jsonl")]) or {}
    summary = run(tmp_path, roles, AlignSettings(n_instructions=2), seeds=SEEDS, progress=False)
    assert summary["dataset"] == 6 and summary["outcomes"]["keep_strong"] == 6 and summary["outcomes"]["refine"] == 6
    (records,) = trained
    assert len(records) == 6
    instruction, response = records[0]
    assert re.fullmatch(r"Commentate a penalty shoot-out\. \(add (a time limit|a rival team)\)", instruction)
    assert response == f"A vivid, detailed answer to: {instruction}"


def test_each_role_calls_only_its_own_client(tmp_path):
    clients = {name: ScriptedLLM(reply, name=name) for name, reply in REPLIES.items()}
    default = ScriptedLLM(name="default")
    run(tmp_path, Roles.from_llms(default, **clients), AlignSettings(n_instructions=2), seeds=SEEDS, progress=False)
    assert default.prompts == []
    for name, client in clients.items():
        assert client.prompts, name
        assert all(p.startswith(TEMPLATE_OPENINGS[name]) for p in client.prompts), name
    assert len(clients["encoder"].prompts) == 3 and len(clients["decoder"].prompts) == 3 and len(clients["rubric_writer"].prompts) == 1
    assert len(clients["strong"].prompts) == len(clients["target"].prompts) == 12  # 6 base + 6 refined
    assert len(clients["judge"].prompts) == 24 and len(clients["improver"].prompts) == 6


def test_one_client_can_play_every_role(tmp_path):
    def reply(prompt):
        name = next(n for n, opening in TEMPLATE_OPENINGS.items() if prompt.startswith(opening))
        return REPLIES[name](prompt)

    llm = ScriptedLLM(reply)
    summary = run(tmp_path, Roles.single(llm), AlignSettings(n_instructions=1, max_refine_rounds=1), seeds=SEEDS[:1], progress=False)
    assert {next(n for n, o in TEMPLATE_OPENINGS.items() if p.startswith(o)) for p in llm.prompts} == set(TEMPLATE_OPENINGS) - {"target"}
    assert summary["outcomes"]["dropped_exhausted"] == 1  # same client for f_s and f_t: equal answers, equal scores


def test_pairwise_llm_judge_in_the_pipeline(tmp_path):
    judge = ScriptedLLM(lambda p: "A: 9 B: 2")
    roles = Roles.from_llms(ScriptedLLM(lambda p: "1. Task"), judge=judge, judge_mode="pairwise")
    summary = run(tmp_path, roles, AlignSettings(n_instructions=1, judge_mode="pairwise"), metadata=[PAIR], progress=False)
    assert summary["outcomes"]["keep_strong"] == 1 and len(judge.prompts) == 1 and "Response A:" in judge.prompts[0]


def test_unknown_role_names_are_refused():
    with pytest.raises(ValueError, match="responder"):
        Roles.from_llms(ScriptedLLM(), responder=ScriptedLLM())


def test_backend_llm_passes_its_decoding_settings():
    backend = ScriptedBackend(["creative writing\nSkills: role-play\n#Example 5#\nmore"])
    assert BackendLLM(backend, max_tokens=64, stop=("#Example",)).complete("prompt") == "creative writing\nSkills: role-play\n"
    assert backend.prompts == ["prompt"]
    roles = Roles.from_backend(backend)
    assert roles.judge.llm.max_tokens == 16 and roles.encoder.llm.stop == ("#Example",)
    assert {r.llm.backend for r in (roles.encoder, roles.decoder, roles.strong, roles.target, roles.judge)} == {backend}


# -- files ------------------------------------------------------------------------------------------------


def test_jsonl_reading_skips_only_an_unfinished_last_line(tmp_path):
    path = tmp_path / "x.jsonl"
    assert read_jsonl(path) == []
    path.write_text('{"a": 1}\n\n{"a": 2}\n{"a": 3, "b"')
    assert read_jsonl(path) == [{"a": 1}, {"a": 2}]
    append_jsonl(path, {"a": 4}, {"a": 5})  # the cut line is removed before appending
    assert read_jsonl(path) == [{"a": 1}, {"a": 2}, {"a": 4}, {"a": 5}]
    assert path.read_text().endswith('{"a": 5}\n')
    path.write_text('{"a": 1}\nnot json\n{"a": 3}\n')
    with pytest.raises(AlignmentError, match=r"x\.jsonl:2: not a JSON line"):
        read_jsonl(path)
    path.write_text('[1, 2]\n')
    with pytest.raises(AlignmentError, match="expected a JSON object"):
        read_jsonl(path)


def test_records_round_trip_through_json():
    instruction = SyntheticInstruction("m0-0.r1", "text", PAIR, parent_id="m0-0", round=1, actions_applied=["a"], extra={"gold": [1]})
    assert SyntheticInstruction.from_dict(json.loads(json.dumps(instruction.to_dict()))) == instruction
    record = FilterRecord("m0-0", 0, "rs", "rt", 8.0, 4.0, 4.0, "keep_strong")
    assert FilterRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record and record.to_dict()["decision"] == "keep_strong"
    kept = TrainingRecord("x", "y", "strong", PAIR, 1, "m0-0.r1", {"gold": 1})
    assert TrainingRecord.from_dict(json.loads(json.dumps(kept.to_dict()))) == kept
    rubric_set = RubricSet(PAIR.key, ["r"], ["a"])
    assert RubricSet.from_dict(json.loads(json.dumps(rubric_set.to_dict()))) == rubric_set
