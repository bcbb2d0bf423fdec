"""Persona benchmark: online rewriting against the precomputed index, and what the persona stage chooses.

    python bench/persona_bench.py                       # the default model set-up, every persona
    python bench/persona_bench.py --persona butler --persona surfer --out bench/results/personas.json

One run, on a scratch activity log and index:
1. the `logged` turns of bench/data/persona_queries.json go into an activity log and are precomputed for every persona
   (the same code as `python -m assistant personas precompute`);
2. for each `held_out` turn and persona, the rewrite is timed online (the model, the peer) and from the index (a
   lookup), so the ratio compares the two in the same run; the hit rate is counted separately for turns a good
   index should serve (rewordings in the same context) and for new ones (which should miss);
3. the persona stage answers each held-out turn as each persona (index first, online on a miss), and the chosen reply
   is scored: the trained in-character score (against the plain answer's) and whether it kept every fact.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.config import add_arguments, from_arguments  # noqa: E402

QUERIES = Path(__file__).parent / "data" / "persona_queries.json"
USER = "bench-user"


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    at = (len(ordered) - 1) * q / 100
    low, high = int(at), min(int(at) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


def turn_context(item: dict):
    """The Context of a benchmark turn."""
    from assistant.personas.types import Context

    signals = item.get("context") or {}
    return Context(time_of_day=signals.get("time_of_day", ""), day_of_week=signals.get("day_of_week", ""),
                   location=signals.get("location", ""), user_name="Sam")


def calls_of(item: dict):
    """The agent's tool calls of a benchmark turn."""
    from assistant.types import Call

    return [Call(*item["call"], 0.0, True, 1)] if item.get("call") else []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=Path, default=QUERIES, help="logged and held-out turns (default %(default)s)")
    parser.add_argument("--persona", action="append", dest="personas", metavar="NAME", help="a persona to measure (repeatable; default all)")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    add_arguments(parser, only=("backend", "model", "base_url", "api_key", "openai_api", "data_dir", "threads", "adapter",
                                "persona_mode", "persona_rewrites"))
    args = parser.parse_args(argv)
    config = from_arguments(args)

    from assistant.backends import make_backend
    from assistant.personas.classifier import PersonaClassifier
    from assistant.personas.index import RewriteIndex
    from assistant.personas.precompute import precompute
    from assistant.personas.ranking import keeps_facts
    from assistant.personas.registry import PersonaRegistry
    from assistant.personas.reply import PersonaStage
    from memory.activity import ActivityLog
    from memory.embeddings import SentenceEmbedder
    from tools.registry import ToolContext, ToolRegistry

    data = json.loads(args.queries.read_text(encoding="utf-8"))
    registry = PersonaRegistry()
    personas = [registry.get(name) for name in (args.personas or registry.names())]
    backend = make_backend(config)
    backend.load()
    embedder = SentenceEmbedder()
    classifier = PersonaClassifier.load(embedder=embedder)
    settings = config.persona_settings()
    settings = replace(settings, gate=replace(settings.gate, budget_ms=1e9, session_seconds=0))  # measure, never skip

    with tempfile.TemporaryDirectory(prefix="persona-bench-") as scratch:
        log = ActivityLog(Path(scratch) / "activity.sqlite3")
        for i, item in enumerate(data["logged"]):
            log.record(USER, item["query"], when=datetime(2024, 5, 1 + i % 28, 9, tzinfo=timezone.utc), answer=item["answer"],
                       context={**item["context"], "session_id": f"s{i}"}, tools=[item["call"][0]] if item.get("call") else [])
        index = RewriteIndex.at(Path(scratch), embedder=embedder)
        stage = PersonaStage(backend, registry, classifier, settings=settings, index=index)

        def rewrite(query, context, plain, persona):
            return stage.rewriter.rewrite(query, context, plain, persona, n=max(1, config.persona_rewrites))

        started = time.perf_counter()
        report = precompute(log, index, rewrite, personas=personas, scope="user", user_id=USER, embedder=embedder)
        precompute_seconds = time.perf_counter() - started

        online_ms, index_ms = [], []
        hits = {"hit": [0, 0], "miss": [0, 0]}  # expected group -> [matched, asked]
        per_persona = {p.name: {"in_character": [], "plain_in_character": [], "facts_kept": 0, "turns": 0, "offline": 0}
                       for p in personas}
        ctx = ToolContext(user_id=USER)
        for item in data["held_out"]:
            context, calls = turn_context(item), calls_of(item)
            for persona in personas:
                tick = time.perf_counter()
                stage.rewriter.rewrite(item["query"], context, [item["answer"]], persona, n=1)
                online_ms.append(1000 * (time.perf_counter() - tick))
                tick = time.perf_counter()
                match = index.match(item["query"], context, [item["answer"]], user_id=USER, persona=persona.name)
                index_ms.append(1000 * (time.perf_counter() - tick))
                group = hits[item.get("expect", "hit")]
                group[0] += match is not None
                group[1] += 1
                reply = stage.respond(item["query"], answer=item["answer"], calls=calls, context=context, persona=persona, pinned=True,
                                      user_id=USER, tools=ToolRegistry.of([]), ctx=ctx)
                figures = per_persona[persona.name]
                figures["turns"] += 1
                figures["in_character"].append(classifier.in_character(reply.text, persona.name))
                figures["plain_in_character"].append(classifier.in_character(item["answer"], persona.name))
                figures["facts_kept"] += keeps_facts(item["answer"], reply.text)  # every number, time and name of the answer
                chosen = next((c for c in reply.candidates if c.text == reply.segments[0].text), None)
                figures["offline"] += bool(chosen is not None and chosen.provenance.value == "offline")

    latency = {"online_p50_ms": percentile(online_ms, 50), "online_p95_ms": percentile(online_ms, 95),
               "index_p50_ms": percentile(index_ms, 50), "index_p95_ms": percentile(index_ms, 95)}
    latency["ratio_p50"] = latency["online_p50_ms"] / max(latency["index_p50_ms"], 1e-9)
    latency["ratio_p95"] = latency["online_p95_ms"] / max(latency["index_p95_ms"], 1e-9)
    hit_rate = {group: (matched / asked if asked else None) for group, (matched, asked) in hits.items()}
    rows = {name: {"turns": f["turns"], "in_character": statistics.fmean(f["in_character"]),
                   "plain_in_character": statistics.fmean(f["plain_in_character"]), "facts_kept": f["facts_kept"] / f["turns"],
                   "served_from_index": f["offline"] / f["turns"]} for name, f in per_persona.items()}
    result = {"model": backend.describe(), "mode": stage.rewriter.mode, "precompute": {**report.to_dict(), "seconds": precompute_seconds},
              "latency": latency, "hit_rate": hit_rate, "personas": rows}

    print(f"\n{backend.describe()}, rewrite mode {stage.rewriter.mode}; precompute: {report.pairs} pairs × {len(personas)} personas, "
          f"{report.calls} rewrite calls in {precompute_seconds:.1f} s")
    print("\n| rewrite | p50 ms | p95 ms |\n|---|---|---|")
    print(f"| online (the model, peer) | {latency['online_p50_ms']:.1f} | {latency['online_p95_ms']:.1f} |")
    print(f"| precomputed index lookup | {latency['index_p50_ms']:.1f} | {latency['index_p95_ms']:.1f} |")
    print(f"| online / index | {latency['ratio_p50']:.1f}x | {latency['ratio_p95']:.1f}x |")
    print(f"\nIndex hit rate: {100 * (hit_rate['hit'] or 0):.1f}% of rewordings in the same context (should hit), "
          f"{100 * (hit_rate['miss'] or 0):.1f}% of new turns (should miss)")
    print("\n| persona | in-character (chosen) | in-character (plain) | facts kept | served from the index |\n|---|---|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['in_character']:.2f} | {row['plain_in_character']:.2f} | {100 * row['facts_kept']:.1f}% | "
              f"{100 * row['served_from_index']:.1f}% |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
