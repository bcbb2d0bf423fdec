"""The offline tool-use instantiation: grammar split, gold trajectories from the real tools, judge, rewrites, samples."""

import json
from pathlib import Path

import pytest

from tests.fakes import HashEmbedder
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from assistant.agent import Agent
from assistant.alignment.pipeline import AlignSettings, run
from assistant.alignment.records import SyntheticInstruction
from assistant.alignment.roles import Roles
from assistant.alignment.samples import build_samples, tuned_prompt
from assistant.alignment.tooluse import (
    ExpertRubrics, GoldResponder, GoldTools, ModelTarget, RewriteImprover, TemplateDecoder, ToolJudge, eval_cases,
    expert_metadata, export_samples, minimal_share, grammar, offline_settings, pairs, render_gold, rewrite, stable_rng,
)
from assistant.markup import ParsedAnswer, ParsedCall
from tests.fakes import ScriptedBackend
from tools.registry import ToolRegistry

EVAL_FILE = Path(__file__).resolve().parent.parent / "bench" / "data" / "tool_eval.jsonl"
USE_CASES = {"weather", "arithmetic", "time", "reminders", "memory recall", "search", "shopping", "chit-chat", "multi-step",
             "follow-ups", "recalled plans"}


class WordRetriever(BaseRetriever):
    """Ranks a few articles by shared words; the title is the first word of the query when nothing matches."""

    def _get_relevant_documents(self, query, *, run_manager):
        return [Document(f"{query.title()} is a thing people ask about. It has a long history.", metadata={"title": query.title()}),
                Document("Bananas are fruit.", metadata={"title": "Banana"})]


@pytest.fixture(scope="module")
def tools(tmp_path_factory):
    return GoldTools(tmp_path_factory.mktemp("data"), retriever=WordRetriever(), scratch=tmp_path_factory.mktemp("scratch"),
                     embedder=HashEmbedder())


def instruction(text, extra, metadata=None):
    return SyntheticInstruction(id="i0", text=text, metadata=metadata or expert_metadata()[0], extra=extra)


def test_every_use_case_has_training_and_held_out_pairs():
    train = {m.use_case for m, _ in pairs("train")}
    held_out = {m.use_case for m, _ in pairs("eval")}
    assert train == held_out == USE_CASES
    assert all(len(m.skills) <= 3 and all(2 <= len(s.split()) + 1 <= 4 for s in m.skills) for m, _ in pairs("train") + pairs("eval"))


def test_no_template_or_metadata_pair_is_on_both_sides_of_the_split():
    train, held_out = pairs("train"), pairs("eval")
    assert not {m.key for m, _ in train} & {m.key for m, _ in held_out}
    train_texts = {t["text"] for _, ts in train for t in ts}
    assert not train_texts & {t["text"] for _, ts in held_out for t in ts}
    assert [m.key for m in expert_metadata()] == [m.key for m, _ in train]


def slot_pattern(name: str) -> str:
    """What a slot can put into a text: one of its choices, a number, or one of its Wikipedia titles."""
    import re

    from assistant.alignment.tooluse import _wiki_titles

    for slot, spec in grammar()["slots"].items():
        options = spec.get("choice") if slot == name else (spec.get("also") or {}).get(name)
        if slot == name and "wiki" in spec:
            options = _wiki_titles(tuple(spec["wiki"] if isinstance(spec["wiki"], list) else [spec["wiki"]]))
        if options:
            return "(?:" + "|".join(re.escape(str(o).lower()) for o in options) + ")"
        if slot == name and "int" in spec:
            return r"\d+"
    raise AssertionError(f"no slot {name!r} in the grammar")


def test_no_training_template_can_write_an_eval_case():
    import re

    cases = [json.loads(line) for line in EVAL_FILE.read_text().splitlines() if line.strip()]
    texts = {" ".join(c["text"].lower().split()) for c in cases}
    for _, templates in pairs("train"):
        for template in templates:
            parts = re.split(r"\{([a-z_0-9]+)\}", " ".join(template["text"].lower().split()))
            pattern = "".join(slot_pattern(p) if i % 2 else re.escape(p) for i, p in enumerate(parts))
            assert not [t for t in texts if re.fullmatch(pattern, t)], template["text"]


def test_the_held_out_eval_cases_come_from_eval_pairs_only():
    cases = [json.loads(line) for line in EVAL_FILE.read_text().splitlines() if line.strip()]
    held_out = [c for c in cases if c.get("split") == "heldout"]
    eval_keys = {m.key for m, _ in pairs("eval")}
    assert len(cases) >= 200 and len(held_out) >= 80
    assert all(c["template"].rsplit(" #", 1)[0] in eval_keys for c in held_out)
    assert {c["use_case"] for c in held_out} == USE_CASES


def test_gold_trajectories_run_the_real_tools_and_answer_from_their_results(tools):
    decoder = TemplateDecoder(tools, seed=0)
    judge = ToolJudge(tools)
    seen = set()
    for metadata in expert_metadata():
        if metadata.use_case in ("search", "shopping") and "search" in seen:
            continue
        for text, extra in decoder.write(metadata, 4):
            seen.update(step["tool"] for step in extra["steps"])
            assert text and extra["answer"] and "{" not in text + extra["answer"]
            assert judge.score(instruction(text, extra, metadata), GoldResponder().respond(instruction(text, extra, metadata))) == 10
            if extra["steps"] and extra["steps"][0]["tool"] == "calc":
                assert extra["steps"][0]["result"].rsplit("= ", 1)[1] in extra["answer"]
    assert seen == {"calc", "time", "weather", "search", "memory", "remind"}


def test_shopping_answers_quote_the_best_match_and_its_price(tools):
    """The answer's fields come from the tool result (a grammar slot of the same name once shadowed the price)."""
    from tools.results import result_fields

    decoder, checked = TemplateDecoder(tools, seed=0), 0
    for metadata in (m for m in expert_metadata() if m.use_case == "shopping"):
        for _, extra in decoder.write(metadata, 3):
            fields = result_fields("shop", extra["steps"][0]["result"])
            assert fields["best"] in extra["answer"] and fields["best_price"] in extra["answer"], extra
            checked += 1
    assert checked


def test_result_fields_are_not_shadowed_by_grammar_slots():
    from tools.results import result_fields

    results = {"calc": "2 + 2 = 4", "time": "Tuesday 14 May 2024, 08:30 (UTC)", "weather": "Oslo, Tue 11 Jun: rain, 9 to 13°C",
               "search": "Oslo: Oslo is the capital of Norway.", "remind": "Reminder set for Tue 14 May 10:30: call mom",
               "shop": "3 laptops in 2 shops. Best match: Norvik Core 14 at NorthPeak Computers, $1,949.99. More."}
    names = {name for tool, result in results.items() for name in result_fields(tool, result)} - {"result"}
    assert {"value", "clock12", "high", "title", "task", "best_price"} <= names
    # where the user's words and the result's agree (the task, the place, the day asked about), the slot may stand in
    assert names & set(grammar()["slots"]) <= {"place", "day", "task"}


def test_the_decoder_is_seeded(tools):
    metadata = expert_metadata()[1]
    first = [t for t, _ in TemplateDecoder(tools, seed=3).write(metadata, 5)]
    assert first == [t for t, _ in TemplateDecoder(tools, seed=3).write(metadata, 5)]
    assert first != [t for t, _ in TemplateDecoder(tools, seed=4).write(metadata, 5)]


def test_the_judge_scale(tools):
    text, extra = "What is 12 times 7?", {"steps": [{"tool": "calc", "query": "12 * 7", "result": "12 * 7 = 84"}], "answer": "84.",
                                          "clock": "2025-05-14T09:15:00+00:00"}
    judge, item = ToolJudge(tools), instruction(text, extra)
    assert judge.score(item, " <calc>7 * 12</calc>") == 10  # same result, other wording
    assert judge.score(item, " <calc>12 + 7</calc>") == 5  # valid, does something else
    assert judge.score(item, " <calc>twelve</calc>") == 3  # the tool rejects it
    assert judge.score(item, " <time>now</time>") == 1
    assert judge.score(item, " 84, I think.") == 1
    chat = instruction("Hello!", {"steps": [], "answer": "Hi!"})
    assert judge.score(chat, " Hi there!") == 10
    assert judge.score(chat, " <search>hello</search>") == 1


def test_rewrites_change_the_wording_and_keep_the_request():
    for action in grammar()["actions"]:
        first = rewrite("Remind me to call mom in 20 minutes.", action["text"], stable_rng(1, action["name"]))
        assert first != "Remind me to call mom in 20 minutes."
        assert "20" in first and "mom" in first
        assert first == rewrite("Remind me to call mom in 20 minutes.", action["text"], stable_rng(1, action["name"]))
    with pytest.raises(ValueError):
        rewrite("hi", "Translate it into French.", stable_rng(0))


def test_samples_have_the_three_kinds_in_the_adapter_prompt_format():
    records = [
        {"instruction": "What's 2 plus 3?", "response": "", "response_source": "strong", "use_case": "arithmetic",
         "extra": {"steps": [{"tool": "calc", "query": "2 + 3", "result": "2 + 3 = 5"}], "answer": "2 plus 3 is 5."}},
        {"instruction": "Hello!", "response": "", "response_source": "strong", "use_case": "chit-chat",
         "extra": {"steps": [], "answer": "Hi! How can I help?"}},
        {"instruction": "Time in Oslo and weather there?", "response": "", "response_source": "strong", "use_case": "multi-step",
         "extra": {"steps": [{"tool": "time", "query": "Oslo", "result": "Tuesday 14 May 2024, 10:00 (Europe/Oslo)"},
                             {"tool": "weather", "query": "Oslo today", "result": "Oslo, Tue 14 May: sunny (demo data)"}],
                   "answer": "It's 10:00 and sunny."}},
    ]
    samples = [s for s in build_samples(records, seed=0) if s["kind"] != "answer_unknown"]
    assert [s["kind"] for s in samples] == ["call", "answer", "no_call", "call", "call", "answer"]
    assert samples[0]["target"] == " <calc>2 + 3</calc>" and samples[0]["prompt"].endswith("User: What's 2 plus 3?\nAssistant:")
    assert samples[1]["prompt"].endswith("<calc>2 + 3</calc><calc-r>2 + 3 = 5</calc-r>") and samples[1]["target"] == " 2 plus 3 is 5.\n"
    assert samples[4]["prompt"].endswith("<time-r>Tuesday 14 May 2024, 10:00 (Europe/Oslo)</time-r>")
    assert samples[4]["target"] == " <weather>Oslo today</weather>"


def test_sample_prompts_are_what_the_agent_shows_the_adapted_model():
    from tools.calc import calc
    from tools.clock import current_time

    registry = ToolRegistry.of([calc, current_time])
    agent = Agent(ScriptedBackend(), registry, prompt="agent_tuned")
    expected = agent.prompt.transcript("What's 2 plus 3?")
    assert tuned_prompt(["calc", "time"]).transcript("What's 2 plus 3?") == expected
    assert "User: What's 2 plus 3?\nAssistant:" in expected and "<calc>" in expected.split("\n")[0]


class PlanningAssistant:
    """Stands in for the base model's assistant: the first step is a call for arithmetic, else an answer."""

    class agent:  # noqa: N801
        @staticmethod
        def plan(text):
            return ParsedCall("", "calc", "1 + 1") if "times" in text else ParsedAnswer("No idea.")


def test_the_offline_pipeline_keeps_what_the_target_gets_wrong_and_writes_samples(tools, tmp_path):
    settings = offline_settings(n_instructions=2, limit=4, max_refine_rounds=1)
    roles = Roles(encoder=None, decoder=TemplateDecoder(tools, seed=0), rubric_writer=ExpertRubrics(),
                  improver=RewriteImprover(seed=0), strong=GoldResponder(), target=ModelTarget(PlanningAssistant()),
                  judge=ToolJudge(tools), post_export=lambda workdir: export_samples(Path(workdir), tools, seed=0))
    summary = run(tmp_path, roles, settings, metadata=expert_metadata(), progress=False)
    dataset = [json.loads(line) for line in (tmp_path / "dataset.jsonl").read_text().splitlines()]
    assert len(dataset) == 8 and all(r["response"] == render_gold(r["extra"]) for r in dataset)
    assert summary["samples"] > len(dataset) and {"call", "answer", "no_call"} <= set(summary["samples_per_kind"])
    samples = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert {s["source"] for s in samples} == {"filtered", "minimal"}
    assert summary["minimal_flow_records"] == sum(minimal_share(m.use_case) for m in expert_metadata())
    assert minimal_share("chit-chat") == 2 * minimal_share("weather") == 32


def test_offline_settings_are_the_published_defaults_but_restart_and_keep_last():
    settings, published = offline_settings(), AlignSettings()
    assert (settings.theta, settings.n_rubrics, settings.max_refine_rounds) == (published.theta, published.n_rubrics, published.max_refine_rounds) == (3.0, 4, 4)
    assert settings.refine_mode.value == "restart" and settings.on_exhausted.value == "keep_last"


def test_held_out_cases_are_generated_deterministically(tools):
    first = eval_cases(tools, per_template=1, seed=1)
    assert first == eval_cases(tools, per_template=1, seed=1)
    assert {c["tool"] for c in first} >= {"calc", "time", "weather", "search", "memory", "remind", "none"}


def test_some_samples_show_an_empty_memory_or_a_failed_tool_and_answer_that_honestly():
    from memory.bank import NOTHING_REMEMBERED

    records = [{"instruction": f"What's my dog's name? ({i})", "response": "", "response_source": "strong", "use_case": "memory recall",
                "extra": {"steps": [{"tool": "memory", "query": "my dog's name", "result": 'On 2 May you said: "My dog is Rex."'}],
                          "answer": "Your dog is Rex."}} for i in range(40)]
    unknown = [s for s in build_samples(records, seed=0) if s["kind"] == "answer_unknown"]
    assert 4 <= len(unknown) <= 20
    assert all(s["prompt"].endswith(f"<memory-r>{NOTHING_REMEMBERED}</memory-r>") and "Rex" not in s["target"] for s in unknown)


def memory_records(n: int) -> list[dict]:
    return [{"instruction": f"What's my dog's name? ({i})", "response": "", "response_source": "strong", "use_case": "memory recall",
             "extra": {"steps": [{"tool": "memory", "query": "my dog's name", "result": 'On 2 May you said: "My dog is Rex."'}],
                       "answer": "Your dog is Rex."}} for i in range(n)]


def test_some_memory_recalls_show_the_memory_as_the_runtime_prefetch_and_answer_from_it():
    samples = build_samples(memory_records(40), seed=0)
    prefetched = [s for s in samples if s["kind"] == "answer" and "<memory>What's my dog's name?" in s["prompt"]]
    own = [s for s in samples if s["kind"] == "call" and s["target"] == " <memory>my dog's name</memory>"]
    assert 10 <= len(prefetched) <= 30 and 10 <= len(own) <= 30 and len(prefetched) + len(own) == 40
    for sample in prefetched:  # as Agent.run writes it: the whole message as the query, the answer given back then
        message = sample["prompt"].split("User: ")[-1].split("\nAssistant:")[0]
        assert f"Assistant: <memory>{message}</memory><memory-r>" in sample["prompt"]
        assert 'On 2 May you said: "My dog is Rex." I answered: "' in sample["prompt"] and sample["target"] == " Your dog is Rex.\n"
    assert not any(s["kind"] == "call" and s["target"].startswith(" <memory>What's") for s in samples)


def test_a_gold_built_on_a_recalled_memory_always_shows_it():
    record = {"instruction": "Taking Rex out again", "response": "", "response_source": "strong", "use_case": "recalled plans",
              "extra": {"steps": [], "answer": "The park again?", "recalled": 'On 3 May you said: "Park with Rex." I answered: "Fun!"'}}
    samples = build_samples([record, *memory_records(5)] * 4, seed=1)
    plans = [s for s in samples if s["use_case"] == "recalled plans"]
    assert len(plans) == 4 and all(s["prompt"].endswith(
        '<memory>Taking Rex out again</memory><memory-r>On 3 May you said: "Park with Rex." I answered: "Fun!"</memory-r>') for s in plans)


def test_a_shortened_tool_list_always_has_the_tools_the_gold_calls():
    import random

    from assistant.alignment.samples import TOOL_ORDER, toolset

    rng = random.Random(0)
    shown = [toolset({"weather", "remind"}, rng) for _ in range(200)]
    assert all({"weather", "remind"} <= set(s) and list(s) == [t for t in TOOL_ORDER if t in s] for s in shown)
    assert len(set(shown)) > 10


def test_session_context_in_samples_is_one_or_two_earlier_turns():
    samples = build_samples(memory_records(60), seed=0)
    turns = {s["prompt"].count("User: ") - 1 for s in samples}
    assert turns == {0, 1, 2}


def test_own_stream_slots_leave_the_other_draws_as_they_were(monkeypatch):
    import random

    from assistant.alignment import tooluse

    before = tooluse.draw_slots(random.Random(7))
    slots = tooluse.grammar()["slots"]
    own = {name for name, spec in slots.items() if spec.get("own_stream")}
    assert own and own <= set(before)
    monkeypatch.setattr(tooluse, "grammar", lambda: {"slots": {k: v for k, v in slots.items() if k not in own}})
    after = tooluse.draw_slots(random.Random(7))
    assert after == {k: v for k, v in before.items() if k in after}
