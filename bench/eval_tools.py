"""Tool-choice evaluation: does the model pick the right first tool, is its query usable, is its answer grounded?

    python bench/eval_tools.py                            # bench/data/tool_eval.jsonl, all four variants
    python bench/eval_tools.py --split heldout            # only the cases from held-out templates
    python bench/eval_tools.py --cases FILE.jsonl         # any {"text": ..., "tool": ... | "none"} lines
    python bench/eval_tools.py --variants adapter-constrained --grounding 0
    python bench/eval_tools.py --report bench/results/eval.json   # the report of a saved run again, no model

Variants, measured in one run so the figures compare: the base model with demonstrations (`base-free`:
plain few-shot generation; `base-constrained`: the decision point scored by log-probabilities) and the
tool-use adapter (`adapter-free`, `adapter-constrained`). Settings come from ASSISTANT_* variables and the
same flags as app.py (`--adapter DIR` evaluates another adapter).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.config import add_arguments, from_arguments  # noqa: E402
from assistant.markup import ParsedCall  # noqa: E402

DEFAULT_CASES = Path(__file__).parent / "data" / "tool_eval.jsonl"


def read_cases(path: Path) -> list[dict]:
    """JSONL cases; each needs `text` and `tool` (a tool name or `none`)."""
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            case = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SystemExit(f"{path}:{number}: not JSON ({exc.msg})") from None
        if not isinstance(case, dict) or not isinstance(case.get("text"), str) or not isinstance(case.get("tool"), str):
            raise SystemExit(f'{path}:{number}: each line needs "text" and "tool" strings')
        cases.append(case)
    if not cases:
        raise SystemExit(f"{path}: no cases")
    return cases


def score(rows: list[dict], tools: list[str]) -> dict:
    """Accuracy, per-tool precision/recall and query validity from per-case rows."""
    labels = [*tools, "none"]
    per_tool = {}
    for label in labels:
        predicted = sum(r["got"] == label for r in rows)
        expected = sum(r["want"] == label for r in rows)
        hit = sum(r["got"] == label == r["want"] for r in rows)
        per_tool[label] = {"precision": hit / predicted if predicted else None, "recall": hit / expected if expected else None,
                           "expected": expected, "predicted": predicted}
    called = [r for r in rows if r["got"] != "none"]
    return {
        "cases": len(rows),
        "accuracy": sum(r["got"] == r["want"] for r in rows) / len(rows),
        "call_vs_answer_accuracy": sum((r["got"] == "none") == (r["want"] == "none") for r in rows) / len(rows),
        "query_validity": sum(r["valid"] for r in called) / len(called) if called else None,
        "answer_grounding": (sum(r["grounded"] for r in turns) / len(turns)) if (turns := [r for r in rows if "grounded" in r]) else None,
        "grounding_turns": len(turns),
        "per_tool": per_tool,
        "seconds_per_case": sum(r["seconds"] for r in rows) / len(rows),
    }


def grounded(answer: str, result: str) -> bool:
    """Is the answer built from the tool result: a number of the result in it, or else two of its words."""
    numbers = set(re.findall(r"\d+(?:[.:]\d+)?", result))
    if numbers:
        return bool(numbers & set(re.findall(r"\d+(?:[.:]\d+)?", answer)))
    words = lambda text: set(re.findall(r"[a-z]{4,}", text.lower()))  # noqa: E731
    return len(words(result) & words(answer)) >= 2


def evaluate(assistant, cases: list[dict], *, label: str, grounding: int = 0) -> list[dict]:
    """Plan the first step of every case and check the query by running the tool on it.

    For the first `grounding` cases where the model called the expected tool with a valid query, the whole
    turn is run too, and its answer checked against that tool's result.
    """
    from tqdm.auto import tqdm

    from assistant.types import FinalAnswer
    from tools.registry import ToolContext

    ctx = ToolContext(user_id="eval-user", timezone=assistant.config.timezone, clock=assistant.clock)
    rows, turns = [], 0
    for case in tqdm(cases, desc=label, unit="case"):
        started = time.perf_counter()
        plan = assistant.agent.plan(case["text"])
        seconds = time.perf_counter() - started
        row = {"text": case["text"], "want": case["tool"], "got": "none", "query": "", "valid": False, "seconds": seconds,
               "split": case.get("split", "")}
        if isinstance(plan, ParsedCall):
            outcome = assistant.tools.run(plan.tool, plan.query, ctx)
            row.update(got=plan.tool, query=plan.query, valid=outcome.ok)
        if row["got"] == row["want"] != "none" and row["valid"] and turns < grounding:
            turns += 1
            final = [e for e in assistant.agent.run(case["text"], ctx=ctx) if isinstance(e, FinalAnswer)][0]
            first = final.calls[0].result if final.calls else ""
            row.update(answer=final.text, result=first, grounded=bool(first) and grounded(final.text, first))
        rows.append(row)
    return rows


def pct(value: float | None) -> str:
    """A share as a percentage, or a dash when there was nothing to count."""
    return "  -  " if value is None else f"{100 * value:5.1f}"


def by_split(rows: list[dict], tools: list[str]) -> dict[str, dict]:
    """The same figures for each named split of the cases (e.g. `heldout`: generated from held-out metadata only)."""
    names = sorted({r.get("split", "") for r in rows} - {""})
    return {name: score([r for r in rows if r.get("split") == name], tools) for name in names}


def split_lines(splits: dict[str, dict]) -> list[str]:
    return [f"  {name} only: {m['cases']} cases, tool choice {pct(m['accuracy'])}%, call vs answer "
            f"{pct(m['call_vs_answer_accuracy'])}%, query validity {pct(m['query_validity'])}%" for name, m in splits.items()]


def compare(summary: dict) -> list[str]:
    """Each variant's tool choice (and on each split) as a ratio to the best base-model variant of the same run."""
    base = max((v for v in summary if v.startswith("base")), key=lambda v: summary[v]["summary"]["accuracy"], default=None)
    lines = []
    for variant in summary:
        if base and variant != base:
            a, b = summary[variant]["summary"]["accuracy"], summary[base]["summary"]["accuracy"]
            lines.append(f"{variant} / {base} tool-choice accuracy: {a:.3f} / {b:.3f} = {a / b if b else float('inf'):.2f}x")
            for name, m in summary[variant].get("splits", {}).items():
                peer = summary[base].get("splits", {}).get(name)
                if peer:
                    lines.append(f"  {name}: tool choice {m['accuracy']:.3f} / {peer['accuracy']:.3f}, query validity "
                                 f"{m['query_validity'] or 0:.3f} / {peer['query_validity'] or 0:.3f}")
    return lines


def rereport(path: Path, cases: list[dict]) -> int:
    """Print the report of a saved run (`--out`) again, with splits taken from the cases file where rows lack them."""
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SystemExit(f"cannot read a saved run from {path}: {error}")
    split = {c["text"]: c.get("split", "") for c in cases}
    for variant, saved in summary.items():
        rows = [r | {"split": r.get("split") or split.get(r["text"], "")} for r in saved["rows"]]
        tools = [t for t in saved["summary"]["per_tool"] if t != "none"]
        saved["splits"] = by_split(rows, tools)
        print(report(variant, saved["summary"]))
        print("\n".join(split_lines(saved["splits"])))
    print("\n".join(compare(summary)))
    return 0


def report(name: str, result: dict) -> str:
    """A plain-text table."""
    lines = [f"== {name}: {result['cases']} cases, {result['seconds_per_case']:.2f} s/case",
             f"tool-choice accuracy {pct(result['accuracy'])}%   call-vs-answer {pct(result['call_vs_answer_accuracy'])}%   "
             f"query validity {pct(result['query_validity'])}%   "
             f"answer grounding {pct(result['answer_grounding'])}% of {result['grounding_turns']} turns",
             f"{'tool':10} {'precision':>9} {'recall':>7} {'expected':>9} {'predicted':>10}"]
    for tool, m in result["per_tool"].items():
        lines.append(f"{tool:10} {pct(m['precision']):>9} {pct(m['recall']):>7} {m['expected']:>9} {m['predicted']:>10}")
    return "\n".join(lines)


VARIANTS = ("base-free", "base-constrained", "adapter-free", "adapter-constrained")


def main(argv: list[str] | None = None) -> int:
    """Run the evaluation and print (or save) the report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=Path, default=DEFAULT_CASES, help="JSONL file of {text, tool} cases")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="comma-separated: base-free (few-shot), base-constrained, adapter-free, adapter-constrained")
    parser.add_argument("--split", help="only cases whose `split` field is this (e.g. heldout)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N cases")
    parser.add_argument("--grounding", type=int, default=30, help="whole turns run per variant to check answer grounding")
    parser.add_argument("--out", type=Path, help="also write the per-case rows and summary as JSON here")
    parser.add_argument("--report", type=Path, metavar="SAVED", help="print the report of a saved --out file again (no model)")
    add_arguments(parser)
    args = parser.parse_args(argv)
    every = read_cases(args.cases)
    if args.report:
        return rereport(args.report, every)
    cases = [c for c in every if not args.split or c.get("split") == args.split][: args.limit or None]
    if not cases:
        raise SystemExit(f"no cases with split {args.split!r}")
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if unknown := set(variants) - set(VARIANTS):
        raise SystemExit(f"unknown variants {sorted(unknown)}: use {', '.join(VARIANTS)}")

    from assistant.agent import Agent
    from assistant.chat import Assistant

    config = from_arguments(args)
    assistants: dict[str, Assistant] = {}
    summary = {}
    for variant in variants:
        model, mode = variant.split("-")
        if model == "adapter" and config.adapter_dir() is None:
            print(f"(skipping {variant}: no adapter configured or shipped)")
            continue
        if model not in assistants:
            assistants[model] = Assistant(config if model == "adapter" else config.with_(adapter=""))
            if assistants[model].wiki is not None:  # a search during the first build would count as an invalid query
                assistants[model].wiki.ensure_built()
        assistant = assistants[model]
        if mode == "constrained" and not assistant.backend.can_score:
            print(f"(skipping {variant}: the {assistant.backend.name} backend cannot score)")
            continue
        settings = replace(assistant.agent.settings, constrained=mode == "constrained")
        assistant.agent = Agent(assistant.backend, assistant.tools, settings=settings, prompt=assistant.backend.prompt,
                                embedder=assistant.embedder)
        rows = evaluate(assistant, cases, label=variant, grounding=args.grounding)
        tools = assistant.tools.names()
        summary[variant] = {"summary": score(rows, tools), "splits": by_split(rows, tools), "rows": rows}
        print(report(f"{assistant.backend.describe()} [{variant}]", summary[variant]["summary"]))
        print("\n".join(split_lines(summary[variant]["splits"])))
    print("\n".join(compare(summary)))
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
