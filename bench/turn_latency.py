"""Per-turn latency split into model, tools and loop overhead, next to a bare completion of the same message.

    python bench/turn_latency.py [--limit 30] [--cases bench/data/tool_eval.jsonl] [app.py settings...]

For every case a whole turn runs through the agent (decision, query, tool, answer), then the same backend
completes the bare message once without tools ("User: ...\\nAssistant:", same answer length limit). The
ratio turn / bare is the price of the tool loop. Settings come from ASSISTANT_* variables and app.py flags.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.eval_tools import DEFAULT_CASES, read_cases  # noqa: E402
from assistant.config import add_arguments, from_arguments  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def main(argv: list[str] | None = None) -> int:
    """Run the turns and print the split."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=Path, default=DEFAULT_CASES)
    parser.add_argument("--limit", type=int, default=30, help="first N cases (0: all)")
    add_arguments(parser)
    args = parser.parse_args(argv)
    cases = read_cases(args.cases)[: args.limit or None]

    from tqdm.auto import tqdm

    from assistant.chat import Assistant

    assistant = Assistant(from_arguments(args))
    assistant.warm_up()
    parts: dict[str, list[float]] = {"model": [], "tools": [], "overhead": [], "total": [], "bare": []}
    calls = 0
    for case in tqdm(cases, desc="turns", unit="turn"):
        turn = assistant.chat(case["text"], user_id="bench-latency")
        calls += len(turn.calls)
        for key in ("model", "tools", "overhead", "total"):
            parts[key].append(getattr(turn.timings, key))
        started = time.perf_counter()
        assistant.backend.complete(f"User: {case['text']}\nAssistant:", stop=["\n"], max_tokens=assistant.agent.settings.max_answer_tokens)
        parts["bare"].append(time.perf_counter() - started)

    print(f"{assistant.backend.describe()}: {len(cases)} turns, {calls} tool calls")
    print(f"{'seconds':10} {'p50':>8} {'p95':>8} {'mean':>8}")
    for key, values in parts.items():
        label = "bare model" if key == "bare" else key
        print(f"{label:10} {percentile(values, 50):8.2f} {percentile(values, 95):8.2f} {statistics.mean(values):8.2f}")
    total, bare = statistics.mean(parts["total"]), statistics.mean(parts["bare"])
    print(f"\nturn / bare completion: {total / bare:.2f}x   loop overhead / turn: {statistics.mean(parts['overhead']) / total:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
