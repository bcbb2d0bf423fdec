"""Tool-use training samples from the filtered pool (spec: call, no-call and answer-from-result samples).

Each sample is a prompt in the adapter's own format (`assistant/prompts/agent_tuned.yaml`, no demonstrations)
and the target the model must continue it with:

- `call`: the transcript so far -> ` <tool>query</tool>` (one per step of the gold trajectory; a later step
  sees the earlier calls and results, as the agent loop shows them);
- `no_call`: a message that needs no tool -> ` answer` and the end of the line;
- `answer`: the transcript with every call and result -> ` answer` built from the results;
- `answer_unknown`: the same with an empty memory or a failed tool -> an answer that says so, not a guess
  (without these the adapter invents a dog's name when the memory bank has none).

Some prompts carry an earlier exchange of the same session, so the adapter also sees session context, and some
carry memories the runtime fetched before the model ran (an unrelated earlier statement of the user, as the agent
loop shows it: a step-0 `<memory>` call), so the adapter learns to do what the message asks whatever it recalled.
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
CONTEXT_SHARE = 0.3
PREFETCH_SHARE = 0.3  # records whose prompt carries an unrelated pre-fetched memory (not for memory recall itself)
UNKNOWN_SHARE = 0.25  # records of which a copy shows an empty memory or a failed tool
NO_MEMORY_ANSWERS = ["You haven't told me that yet.", "I don't know yet, you haven't told me.",
                     "I don't remember you telling me that. What is it?"]
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
FAILED = "Error: {tool} did not answer within 20 seconds."  # tools.registry.ToolRegistry.run, timeout
FAILED_ANSWERS = ["Sorry, I couldn't get that right now. Please try again.", "Sorry, that didn't work this time."]


def tuned_prompt(tools: Iterable[str] = TOOL_ORDER) -> AgentPrompt:
    """The adapter's prompt over the given tool names."""
    return AgentPrompt([SimpleNamespace(name=name, description="", example="") for name in tools], name=PROMPT)


def prefetched(message: str, other: dict, rng: random.Random) -> str:
    """A memory the runtime fetched before the model ran, as `Agent.run` writes it: another record, said days ago."""
    said = f'On {rng.randint(1, 28)} {rng.choice(MONTHS)} you said: "{other["instruction"]}"'
    answer = (other.get("extra") or {}).get("answer") or ""
    memory = f'{said} I answered: "{answer}"' if answer else said
    return f" {render_call('memory', neutralise(' '.join(message.split())[:200]))}{render_result('memory', memory[:600])}"


def build_samples(records: list[dict], *, seed: int = 0) -> list[dict]:
    """Samples ({prompt, target, kind, use_case, instruction_id}) from dataset records with gold `extra`."""
    prompt = tuned_prompt()
    rng = random.Random(seed)
    samples = []
    for record in records:
        extra = record.get("extra") or {}
        context = []
        if len(records) > 1 and rng.random() < CONTEXT_SHARE:
            other = rng.choice([r for r in records if r is not record])
            context = [PastTurn(other["instruction"], (other.get("extra") or {}).get("answer") or other["response"].strip())]
        transcript = prompt.transcript(record["instruction"], context=context)
        steps_of = (record.get("extra") or {}).get("steps") or []
        if len(records) > 1 and not any(s["tool"] == "memory" for s in steps_of) and rng.random() < PREFETCH_SHARE:
            transcript += prefetched(record["instruction"], rng.choice([r for r in records if r is not record]), rng)
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
