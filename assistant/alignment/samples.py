"""Tool-use training samples from the filtered pool (spec: call, no-call and answer-from-result samples).

Each sample is a prompt in the adapter's own format (`assistant/prompts/agent_tuned.yaml`, no demonstrations)
and the target the model must continue it with:

- `call`: the transcript so far -> ` <tool>query</tool>` (one per step of the gold trajectory; a later step
  sees the earlier calls and results, as the agent loop shows them);
- `no_call`: a message that needs no tool -> ` answer` and the end of the line;
- `answer`: the transcript with every call and result -> ` answer` built from the results;
- `answer_unknown`: the same with an empty memory or a failed tool -> an answer that says so, not a guess
  (without these the adapter invents a dog's name when the memory bank has none).

Some prompts carry one or two earlier exchanges of the same session, so the adapter also sees session context;
some carry memories the runtime fetched before the model ran (an unrelated earlier statement of the user, as the
agent loop shows it: a step-0 `<memory>` call), so the adapter learns to do what the message asks whatever it
recalled, and a record whose gold builds on a recalled memory (`extra.recalled`) always shows that one. Half of the
records whose gold starts with a memory call show that memory as the pre-fetch instead (the query is the whole
message, as at run time), so the adapter answers from a pre-fetched memory that fits rather than looking it up
again or searching the web; the other half keep the model's own call (pre-fetch off, or nothing recalled). Some
list only a few of the tools (always the ones the gold calls), as an app with fewer tools would.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Iterable

from assistant.alignment.records import read_jsonl, write_jsonl
from assistant.markup import neutralise, render_call, render_result
from assistant.prompts import AgentPrompt, PastTurn
from memory.bank import NOTHING_REMEMBERED

PROMPT = "agent_tuned"
TOOL_ORDER = ("calc", "time", "weather", "search", "memory", "remind", "shop")  # the app's registry order
CONTEXT_SHARE = 0.3  # records whose prompt carries earlier exchanges of the session (one or two, evenly)
TOOLSET_SHARE = 0.2  # records whose prompt lists only some tools: the gold's, and each other tool with even odds
PREFETCH_SHARE = 0.3  # records whose prompt carries an unrelated pre-fetched memory (not for memory recall itself)
RECALL_SHARE = 0.5  # records whose gold starts with a memory call that show it as the runtime's pre-fetch instead
UNKNOWN_SHARE = 0.25  # records of which a copy shows an empty memory or a failed tool
NO_MEMORY_ANSWERS = ["You haven't told me that yet.", "I don't know yet, you haven't told me.",
                     "I don't remember you telling me that. What is it?"]
ACKNOWLEDGEMENTS = ["Got it.", "Noted!", "Thanks for telling me.", "Good to know.", "I'll remember that."]
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
FAILED = "Error: {tool} did not answer within 20 seconds."  # tools.registry.ToolRegistry.run, timeout
FAILED_ANSWERS = ["Sorry, I couldn't get that right now. Please try again.", "Sorry, that didn't work this time."]


def tuned_prompt(tools: Iterable[str] = TOOL_ORDER) -> AgentPrompt:
    """The adapter's prompt over the given tool names."""
    return AgentPrompt([SimpleNamespace(name=name, description="", example="") for name in tools], name=PROMPT)


def toolset(needed: set[str], rng: random.Random) -> tuple[str, ...]:
    """Some of the tools, in the registry's order: every one the gold needs, each other one with even odds."""
    return tuple(name for name in TOOL_ORDER if name in needed or rng.random() < 0.5)


def recall_step(message: str, memory: str) -> str:
    """A memory the runtime fetched before the model ran, as `Agent.run` writes it (a step-0 memory call)."""
    return f" {render_call('memory', neutralise(' '.join(message.split())[:200]))}{render_result('memory', memory[:600])}"


def prefetched(message: str, other: dict, rng: random.Random) -> str:
    """An unrelated pre-fetched memory: another record, said days ago."""
    said = f'On {rng.randint(1, 28)} {rng.choice(MONTHS)} you said: "{other["instruction"]}"'
    answer = (other.get("extra") or {}).get("answer") or ""
    return recall_step(message, f'{said} I answered: "{answer}"' if answer else said)


def recalled(result: str, others: list[dict], rng: random.Random) -> str:
    """The gold memory as the runtime's pre-fetch shows it: with what was answered, sometimes beside another row."""
    rows = [f'{result} I answered: "{rng.choice(ACKNOWLEDGEMENTS)}"' if result.endswith('"') else result]
    if others and rng.random() < 0.3:
        other = rng.choice(others)
        rows.insert(rng.randint(0, 1), f'On {rng.randint(1, 28)} {rng.choice(MONTHS)} you said: "{other["instruction"]}"')
    return " | ".join(rows)


def past_turn(record: dict) -> PastTurn:
    """A record as an earlier exchange of the session."""
    return PastTurn(record["instruction"], (record.get("extra") or {}).get("answer") or record["response"].strip())


def build_samples(records: list[dict], *, seed: int = 0) -> list[dict]:
    """Samples ({prompt, target, kind, use_case, instruction_id}) from dataset records with gold `extra`."""
    prompt = tuned_prompt()
    rng = random.Random(seed)
    samples = []
    for record in records:
        extra = record.get("extra") or {}
        others = [r for r in records if r is not record]
        context = []
        if others and rng.random() < CONTEXT_SHARE:
            context = [past_turn(rng.choice(others)) for _ in range(rng.choice((1, 2)))]
        steps_of = extra.get("steps") or []
        shown = prompt
        if rng.random() < TOOLSET_SHARE:
            shown = tuned_prompt(toolset({s["tool"] for s in steps_of}, rng))
        transcript = shown.transcript(record["instruction"], context=context)
        if extra.get("recalled"):
            transcript += recall_step(record["instruction"], extra["recalled"])
        elif others and not any(s["tool"] == "memory" for s in steps_of) and rng.random() < PREFETCH_SHARE:
            transcript += prefetched(record["instruction"], rng.choice(others), rng)
        common = {"use_case": record.get("use_case", ""), "instruction_id": record.get("instruction_id", ""),
                  "source": record.get("source", "filtered")}
        if record.get("response_source") == "target" or "steps" not in extra:
            samples.append({"prompt": transcript, "target": record["response"].rstrip("\n") + "\n", "kind": "kept_target", **common})
            continue
        steps = extra["steps"]
        if not steps:
            samples.append({"prompt": transcript, "target": f" {extra['answer']}\n", "kind": "no_call", **common})
            continue
        first = steps[0]
        if rng.random() < UNKNOWN_SHARE:
            result, answers = (NOTHING_REMEMBERED, NO_MEMORY_ANSWERS) if first["tool"] == "memory" else (FAILED.format(tool=first["tool"]), FAILED_ANSWERS)
            failed = f"{transcript} {render_call(first['tool'], first['query'])}{render_result(first['tool'], result)}"
            samples.append({"prompt": failed, "target": f" {rng.choice(answers)}\n", "kind": "answer_unknown", **common})
        if first["tool"] == "memory" and rng.random() < RECALL_SHARE:
            transcript += recall_step(record["instruction"], recalled(first["result"], others, rng))
            steps = steps[1:]
        for step in steps:
            samples.append({"prompt": transcript, "target": f" {render_call(step['tool'], step['query'])}", "kind": "call", **common})
            transcript += f" {render_call(step['tool'], step['query'])}{render_result(step['tool'], step['result'])}"
        samples.append({"prompt": transcript, "target": f" {extra['answer']}\n", "kind": "answer", **common})
    return samples


def write_samples(datasets: list[Path], out: Path, *, seed: int = 0) -> dict:
    """Read dataset JSONL files, write the samples as JSONL; counts per sample kind."""
    samples = build_samples([record for path in datasets for record in read_jsonl(path)], seed=seed)
    write_jsonl(out, samples)
    counts = Counter(s["kind"] for s in samples)
    return {"samples": len(samples), "samples_per_kind": dict(sorted(counts.items()))}
