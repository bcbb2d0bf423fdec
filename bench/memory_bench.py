"""Memory bank benchmarks: read latency next to a raw Chroma query, write throughput, and recall quality.

    python bench/memory_bench.py latency [--sizes 1000,10000,100000] [--reads 200]
    python bench/memory_bench.py recall  [--scenarios bench/data/memory_sessions.json]

latency: one user's collection is filled with N rows (random unit vectors, stored the way the bank stores
them), then the same queries go through `MemoryBank.read` and straight to `collection.query`; the ratio is the
bank's overhead. Reads are timed twice: with the query vector already computed (the bank's own work) and with
the MiniLM embedding of the query included (what a user waits for). Writes: `MemoryBank.add` (two embeddings,
two collections) next to a raw `collection.add` of one precomputed vector.

recall: scripted multi-session conversations (facts stated, some changed, then asked about in a new session)
run through the whole assistant with the embedded model, in three set-ups with the same model: the memory
bank, no memory at all, and the whole history in the prompt. Accuracy: the answer names the expected value and
not a superseded one.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.turn_latency import percentile  # noqa: E402

DIMENSIONS = 384


class MemoEmbedder:
    """Wraps an embedder and remembers vectors, so a repeated query costs nothing (the 'vector ready' timing)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.cache: dict[str, list[float]] = {}

    def embed_batch(self, texts):
        missing = [t for t in texts if t not in self.cache]
        if missing:
            self.cache.update(zip(missing, self.inner.embed_batch(missing)))
        return [self.cache[t] for t in texts]


def unit(rng: random.Random) -> list[float]:
    vector = [rng.gauss(0, 1) for _ in range(DIMENSIONS)]
    norm = sum(v * v for v in vector) ** 0.5
    return [v / norm for v in vector]


def fill(bank, user: str, size: int, rng: random.Random) -> None:
    """Put `size` rows into the user's collections the way `MemoryBank` stores them, in big batches."""
    from memory.bank import user_key

    active, both, _ = bank._collections(user_key(user))
    start = active.count()
    for first in range(start, size, 5000):
        ids = [f"{first + i:013d}-bench" for i in range(min(5000, size - first))]
        vectors = [unit(rng) for _ in ids]
        metas = [{"input": f"bench fact {i}", "answer": "ok", "ts": 1.7e9 + i, "topic": ""} for i in range(first, first + len(ids))]
        for collection in (active, both):
            collection.add(ids=ids, embeddings=vectors, documents=[m["input"] for m in metas], metadatas=metas)


def latency(args: argparse.Namespace) -> None:
    """Read latency per size and write throughput, each next to raw Chroma."""
    from memory.bank import MemoryBank, MemorySettings, user_key
    from memory.embeddings import SentenceEmbedder

    rng = random.Random(7)
    minilm = SentenceEmbedder()
    ready = MemoEmbedder(minilm)
    queries = [f"what did I say about topic {i}" for i in range(args.reads)]
    ready.embed_batch(queries)
    workdir = Path(tempfile.mkdtemp(prefix="memory-bench-"))
    settings = MemorySettings(threshold=-1.0)  # every row qualifies: the read does its full work
    print(f"{'rows':>8} {'raw p50':>8} {'raw p95':>8} {'bank p50':>9} {'bank p95':>9} {'ratio':>6} {'+embed p50':>11}  (ms)")
    try:
        bank = MemoryBank(workdir, ready, settings=settings)
        for size in [int(s) for s in args.sizes.split(",")]:
            fill(bank, "bench", size, rng)
            active = bank._collections(user_key("bench"))[0]
            raw, ours, embedded = [], [], []
            for query in queries:
                vector = ready.embed_batch([query])
                started = time.perf_counter()
                active.query(query_embeddings=vector, n_results=settings.max_rows_read)
                raw.append(time.perf_counter() - started)
                started = time.perf_counter()
                bank.read("bench", query)
                ours.append(time.perf_counter() - started)
            live = MemoryBank(workdir, minilm, settings=settings)
            for query in queries[: max(20, args.reads // 10)]:
                started = time.perf_counter()
                live.read("bench", query + " (fresh)")
                embedded.append(time.perf_counter() - started)
            ms = lambda xs, q: 1000 * percentile(xs, q)  # noqa: E731
            print(f"{size:>8} {ms(raw, 50):8.2f} {ms(raw, 95):8.2f} {ms(ours, 50):9.2f} {ms(ours, 95):9.2f} "
                  f"{statistics.median(ours) / statistics.median(raw):6.2f} {ms(embedded, 50):11.2f}")

        writes = 200
        texts = [f"My friend number {i} is called Friend{i}" for i in range(writes)]
        started = time.perf_counter()
        for text in texts:
            live.add("writer", text, "Nice!")
        bank_rate = writes / (time.perf_counter() - started)
        vectors = [unit(rng) for _ in range(writes)]
        raw_collection = bank._client().get_or_create_collection("bench_raw_writes", embedding_function=None)
        started = time.perf_counter()
        for i, vector in enumerate(vectors):
            raw_collection.add(ids=[str(i)], embeddings=[vector], documents=[texts[i]])
        raw_rate = writes / (time.perf_counter() - started)
        print(f"\nwrites/s: bank.add {bank_rate:.1f} (embeds input and input+answer with MiniLM, two collections), "
              f"raw collection.add {raw_rate:.1f}, ratio {bank_rate / raw_rate:.3f}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def recall(args: argparse.Namespace) -> None:
    """Accuracy of answers about earlier sessions: memory bank, no memory, whole history in the prompt."""
    from tqdm.auto import tqdm

    from assistant.backends.local import EmbeddedBackend
    from assistant.chat import Assistant
    from assistant.config import Config
    from assistant.backends.gguf import ensure_safetensors
    from memory.embeddings import SentenceEmbedder

    scenarios = json.loads(args.scenarios.read_text())
    ensure_safetensors(args.data_dir / "models")
    backend = EmbeddedBackend(args.data_dir / "models", adapter=Config(adapter=args.adapter).adapter_dir())
    embedder = SentenceEmbedder()
    workdir = Path(tempfile.mkdtemp(prefix="memory-recall-"))
    setups = {
        "memory bank": {"memory_prefetch": True, "memory_tool": True},
        "no memory": {"memory_prefetch": False, "memory_tool": False},
        "whole history": {"memory_prefetch": False, "memory_tool": False},
    }
    results = {}
    try:
        for name, settings in setups.items():
            assistant = Assistant(Config(data_dir=workdir, **settings), backend=backend, embedder=embedder)
            hits, rows = 0, []
            for number, scenario in enumerate(tqdm(scenarios, desc=name, unit="scenario")):
                user = f"{name}-{number}"
                for index, session in enumerate(scenario["sessions"]):
                    sid = f"{user}-history" if name == "whole history" else f"{user}-s{index}"
                    for message in session:
                        assistant.chat(message, user_id=user, session_id=sid)
                question_sid = f"{user}-history" if name == "whole history" else f"{user}-question"
                answer = assistant.chat(scenario["question"], user_id=user, session_id=question_sid).text
                ok = any(e.lower() in answer.lower() for e in scenario["expect"]) and not any(
                    n.lower() in answer.lower() for n in scenario.get("not", []))
                hits += ok
                rows.append({"question": scenario["question"], "answer": answer, "ok": ok})
            results[name] = {"accuracy": hits / len(scenarios), "rows": rows}
        print(f"{len(scenarios)} scenarios, {backend.describe()}, same model in every set-up")
        for name, result in results.items():
            print(f"{name:14} accuracy {100 * result['accuracy']:5.1f}%")
        base = results["no memory"]["accuracy"]
        print(f"memory bank / no memory: {results['memory bank']['accuracy']:.2f} / {base:.2f}; "
              f"memory bank / whole history: {results['memory bank']['accuracy']:.2f} / {results['whole history']['accuracy']:.2f}")
        if args.out:
            args.out.write_text(json.dumps(results, indent=2))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Run one of the benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="bench", required=True)
    lat = sub.add_parser("latency", help="read latency and write throughput against raw Chroma")
    lat.add_argument("--sizes", default="1000,10000,100000")
    lat.add_argument("--reads", type=int, default=200)
    rec = sub.add_parser("recall", help="recall accuracy: memory bank vs no memory vs whole history")
    rec.add_argument("--scenarios", type=Path, default=Path(__file__).parent / "data" / "memory_sessions.json")
    rec.add_argument("--data-dir", type=Path, default=Path("data"), help="where the converted model lives")
    rec.add_argument("--adapter", default="builtin", help="builtin (the shipped tool-use adapter), a directory, or '' for the base model")
    rec.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    latency(args) if args.bench == "latency" else recall(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
