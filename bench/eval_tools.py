"""Tool-choice evaluation: does the model pick the right first tool, and is its query usable?

    python bench/eval_tools.py                      # bench/data/tool_eval.jsonl, configured backend
    python bench/eval_tools.py --cases FILE.jsonl   # any {"text": ..., "tool": ... | "none"} lines
    python bench/eval_tools.py --modes constrained  # only one decoding mode

For a backend that can score continuations it runs two modes in the same run, so the figures compare:
`constrained` (the decision point scored by log-probabilities, the default) and `free` (plain few-shot
generation, parsed afterwards). Settings come from ASSISTANT_* variables and the same flags as app.py.
"""

from __future__ import annotations

import argparse
import json
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
        "per_tool": per_tool,
        "seconds_per_case": sum(r["seconds"] for r in rows) / len(rows),
    }


def evaluate(assistant, cases: list[dict], *, label: str) -> list[dict]:
    """Plan the first step of every case and check the query by running the tool on it."""
    from tqdm.auto import tqdm

    from tools.registry import ToolContext

    ctx = ToolContext(user_id="eval-user", timezone=assistant.config.timezone, clock=assistant.clock)
    rows = []
    for case in tqdm(cases, desc=label, unit="case"):
        started = time.perf_counter()
        plan = assistant.agent.plan(case["text"])
        seconds = time.perf_counter() - started
        if isinstance(plan, ParsedCall):
            outcome = assistant.tools.run(plan.tool, plan.query, ctx)
            rows.append({"text": case["text"], "want": case["tool"], "got": plan.tool, "query": plan.query,
                         "valid": outcome.ok, "seconds": seconds})
        else:
            rows.append({"text": case["text"], "want": case["tool"], "got": "none", "query": "", "valid": False, "seconds": seconds})
    return rows


def report(name: str, result: dict) -> str:
    """A plain-text table."""
    pct = lambda v: "  -  " if v is None else f"{100 * v:5.1f}"  # noqa: E731
    lines = [f"== {name}: {result['cases']} cases, {result['seconds_per_case']:.2f} s/case",
             f"tool-choice accuracy {pct(result['accuracy'])}%   call-vs-answer {pct(result['call_vs_answer_accuracy'])}%   "
             f"query validity {pct(result['query_validity'])}%",
             f"{'tool':10} {'precision':>9} {'recall':>7} {'expected':>9} {'predicted':>10}"]
    for tool, m in result["per_tool"].items():
        lines.append(f"{tool:10} {pct(m['precision']):>9} {pct(m['recall']):>7} {m['expected']:>9} {m['predicted']:>10}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the evaluation and print (or save) the report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=Path, default=DEFAULT_CASES, help="JSONL file of {text, tool} cases")
    parser.add_argument("--modes", default="constrained,free", help="comma-separated: constrained, free")
    parser.add_argument("--limit", type=int, default=0, help="only the first N cases")
    parser.add_argument("--out", type=Path, help="also write the per-case rows and summary as JSON here")
    add_arguments(parser)
    args = parser.parse_args(argv)
    cases = read_cases(args.cases)[: args.limit or None]

    from assistant.agent import Agent
    from assistant.chat import Assistant

    assistant = Assistant(from_arguments(args))
    summary = {}
    for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
        if mode not in ("constrained", "free"):
            raise SystemExit(f"unknown mode {mode!r}: use constrained or free")
        if mode == "constrained" and not assistant.backend.can_score:
            print(f"(skipping constrained: the {assistant.backend.name} backend cannot score)")
            continue
        settings = replace(assistant.agent.settings, constrained=mode == "constrained")
        assistant.agent = Agent(assistant.backend, assistant.tools, settings=settings, embedder=assistant.embedder)
        rows = evaluate(assistant, cases, label=mode)
        summary[mode] = {"summary": score(rows, assistant.tools.names()), "rows": rows}
        print(report(f"{assistant.backend.describe()} [{mode}]", summary[mode]["summary"]))
    if len(summary) == 2:
        a, b = summary["constrained"]["summary"]["accuracy"], summary["free"]["summary"]["accuracy"]
        print(f"\nconstrained / free tool-choice accuracy: {a:.3f} / {b:.3f} = {a / b if b else float('inf'):.2f}x")
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
