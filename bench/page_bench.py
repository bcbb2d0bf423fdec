"""AI-page generation: latency of the first view against the cached one, validation failures, template fallbacks.

    python bench/page_bench.py [--users 4] [--per-query 2] [--queries "laptops" "espresso machine" ...] [--no-adapter ...]

Several users, each with a seeded history (or none), search each query; for every merchant the gate links (at most
`--per-query` per query) the page is opened twice: the first view generates it (the model writes the text slots, each
validated, templates fill the rest), the second is served from the cache. The same pages are then generated with the
template text generator only (the peer, no model) in the same run. The model backend and every setting come from
ASSISTANT_* variables and the model flags below (default: the embedded Gemma model with the tool-use adapter, as the app uses).
Profiles and activity go to a temporary directory; only the converted model is read from --data-dir.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.config import add_arguments, from_arguments  # noqa: E402
from assistant.pages.cli import BACKEND_FLAGS  # noqa: E402

QUERIES = ("laptops", "laptop for 3D modeling under $2500", "espresso machine", "trail running shoes", "mirrorless camera")
HISTORIES = (  # one per bench user, cycled; the last user has none (the query_only fallback)
    ("best laptop for architecture", "best laptop for 3D modeling", "Vireo"),
    ("burr grinder for pour-over", "espresso machine under $800"),
    ("trail shoes for muddy hills", "running shoes with 8 mm drop", "full frame camera for landscapes"),
    (),
)
NOW = datetime(2024, 5, 14, 8, 15, tzinfo=timezone.utc)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def run(pages, users: list[str], queries: list[str], per_query: int, *, label: str) -> dict:
    """Open every linked page twice; return timings and text-slot outcomes."""
    from tqdm.auto import tqdm

    first, cached, rows = [], [], []
    jobs = []
    for user in users:
        for query in queries:
            srp = pages.handle_query(user, query, session_id=f"bench-{user}")
            jobs += [(user, query, r.org_id) for r in srp.linked()[:per_query]]
    for user, query, org in tqdm(jobs, desc=label, unit="page"):
        started = time.perf_counter()
        page = pages.view(user, org, query)
        first.append(time.perf_counter() - started)
        started = time.perf_counter()
        again = pages.view(user, org, query)
        cached.append(time.perf_counter() - started)
        assert again is page, "the second view must come from the cache"
        rows.append({"user": user, "query": query, "org": org, "seconds": first[-1], "slots": len(page.text_sources),
                     "template": sum(v == "template" for v in page.text_sources.values()), "fallbacks": dict(page.fallbacks),
                     "headline": page.personalized_headline, "headline_source": page.text_sources.get("headline")})
    return {"first": first, "cached": cached, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=4, help="bench users (histories are cycled; default %(default)s)")
    parser.add_argument("--queries", nargs="+", default=list(QUERIES), help="queries every user searches")
    parser.add_argument("--per-query", type=int, default=2, help="linked merchants opened per query (default %(default)s)")
    parser.add_argument("--out", type=Path, help="also write every page's figures as JSON here")
    add_arguments(parser, only=BACKEND_FLAGS)
    args = parser.parse_args(argv)
    config = from_arguments(args)

    from assistant.backends import make_backend
    from assistant.pages.product_pages import ProductPages
    from assistant.pages.settings import PageSettings
    from memory.activity import ActivityLog
    from memory.embeddings import SentenceEmbedder
    from memory.profile import Profiles

    backend = make_backend(config)
    backend.load()
    embedder = SentenceEmbedder()
    settings = PageSettings.load()
    users = [f"bench-user-{k}" for k in range(args.users)]
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for label, text_generator in (("model", "model"), ("template peer", "template")):
            data = Path(scratch) / label.replace(" ", "-")
            pages = ProductPages(data_dir=data, embedder=embedder, profiles=Profiles(data / "profiles.sqlite3"),
                                 activity=ActivityLog(data / "activity.sqlite3"), backend=backend,
                                 settings=replace(settings, text_generator=text_generator), clock=lambda: NOW)
            for k, user in enumerate(users):
                for d, query in enumerate(HISTORIES[k % len(HISTORIES)]):
                    pages.activity.record(user, query, when=NOW - timedelta(days=5 - d), kind="shop")
            pages.warm_up()
            results[label] = run(pages, users, args.queries, args.per_query, label=label)
            results[label]["checked"] = dict(pages.generator.checked)

    model, peer = results["model"], results["template peer"]
    rows = model["rows"]
    checked = Counter(model["checked"])
    candidates = checked["valid"] + checked["invalid"]
    slots = sum(r["slots"] for r in rows)
    template_slots = sum(r["template"] for r in rows)
    budget = sum(1 for r in rows for v in r["fallbacks"].values() if v == "time budget spent")
    print(f"{backend.describe()}: {len(rows)} pages ({args.users} users x {len(args.queries)} queries, up to {args.per_query} merchants each)")
    print(f"{'':34} {'p50':>8} {'p95':>8} {'mean':>8}")
    for name, values in (("first view, model (s)", model["first"]), ("first view, templates only (s)", peer["first"]),
                         ("cached view (ms)", [v * 1000 for v in model["cached"]])):
        print(f"{name:34} {percentile(values, 50):8.2f} {percentile(values, 95):8.2f} {statistics.mean(values):8.2f}")
    print(f"first / cached (mean): {statistics.mean(model['first']) / statistics.mean(model['cached']):,.0f}x; "
          f"model / templates-only first view (mean): {statistics.mean(model['first']) / statistics.mean(peer['first']):.1f}x")
    print(f"model texts checked: {candidates}; failed validation: {checked['invalid']} ({checked['invalid'] / max(1, candidates):.1%})")
    print(f"text slots filled by the template: {template_slots} of {slots} ({template_slots / max(1, slots):.1%}); "
          f"of them skipped for the time budget: {budget}")
    print(f"pages with at least one template slot: {sum(r['template'] > 0 for r in rows) / len(rows):.1%}; "
          f"pages entirely from templates: {sum(r['template'] == r['slots'] for r in rows) / len(rows):.1%}")
    reasons = Counter({k[8:]: v for k, v in checked.items() if k.startswith("reason: ")})
    print("validation failures by reason: " + ", ".join(f"{k} {v}" for k, v in reasons.most_common()))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
