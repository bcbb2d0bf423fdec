"""Write the held-out tool-eval cases: generated from the `split: eval` pairs of the tool-use grammar only.

    python bench/make_heldout_cases.py --data-dir data      # seed 1, 4 cases per template; appends to
                                                            # bench/data/tool_eval.jsonl (replacing earlier ones)

No template or metadata pair that generates training data (`split: train` in
assistant/alignment/tooluse.yaml) produces these cases; tests/test_alignment_tooluse.py checks it. Needs the
Wikipedia index (built on first use) for the search cases.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.eval_tools import DEFAULT_CASES  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path("data"), help="where the Wikipedia index lives")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--per-template", type=int, default=4)
    parser.add_argument("--out", type=Path, default=DEFAULT_CASES)
    args = parser.parse_args(argv)

    from assistant.alignment.tooluse import GoldTools, eval_cases

    cases = eval_cases(GoldTools(args.data_dir), per_template=args.per_template, seed=args.seed)
    kept = [line for line in args.out.read_text(encoding="utf-8").splitlines() if line.strip() and json.loads(line).get("split") != "heldout"] \
        if args.out.exists() else []
    fresh = [json.dumps({"text": c["text"], "tool": c["tool"], "query": c["query"], "kind": c["kind"], "split": "heldout",
                         "use_case": c["use_case"], "template": c["template"]}, ensure_ascii=False) for c in cases]
    args.out.write_text("\n".join(kept + fresh) + "\n", encoding="utf-8")
    print(f"{len(fresh)} held-out cases written to {args.out} ({len(kept)} other cases kept)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
