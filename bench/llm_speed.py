"""Prefill and decode speed of the embedded backend next to llama.cpp, on the same GGUF with the same threads.

    python bench/llm_speed.py [--threads 2] [--prompt-tokens 512] [--decode-tokens 64] [--repeats 3]

Both engines run in this process, one after the other, on the same prompt; the ratio column is
embedded / llama.cpp (below 1.0 means the embedded backend is slower). Needs llama-cpp-python
(requirements-dev.txt). Median of --repeats runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TEXT = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def embedded_speed(models_dir: Path, prompt_tokens: int, decode_tokens: int, threads: int, repeats: int) -> tuple[float, float]:
    """(prefill tok/s, decode tok/s) of the in-process transformers backend with a cold cache each run."""
    import torch

    from assistant.backends.local import EmbeddedBackend

    backend = EmbeddedBackend(models_dir, threads=threads)
    backend.load()
    ids = backend._tokenizer(TEXT).input_ids[:prompt_tokens]
    prefill, decode = [], []
    for _ in range(repeats):
        backend._cache, backend._cache_ids = None, []
        started = time.perf_counter()
        logits = backend._read(ids)
        prefill.append(len(ids) / (time.perf_counter() - started))
        started = time.perf_counter()
        for _ in range(decode_tokens):  # greedy, no stop: a fixed number of tokens
            logits = backend._advance(int(torch.argmax(logits)))
        decode.append(decode_tokens / (time.perf_counter() - started))
    return statistics.median(prefill), statistics.median(decode)


def llama_cpp_speed(gguf: Path, prompt_tokens: int, decode_tokens: int, threads: int, repeats: int) -> tuple[float, float]:
    """(prefill tok/s, decode tok/s) of llama.cpp on the same GGUF."""
    from llama_cpp import Llama

    llm = Llama(model_path=str(gguf), n_threads=threads, n_threads_batch=threads, n_ctx=prompt_tokens + decode_tokens + 16, verbose=False)
    ids = llm.tokenize(TEXT.encode("utf-8"))[:prompt_tokens]
    prefill, decode = [], []
    for _ in range(repeats):
        llm.reset()
        started = time.perf_counter()
        llm.eval(ids)
        prefill.append(len(ids) / (time.perf_counter() - started))
        started = time.perf_counter()
        for _ in range(decode_tokens):
            token = llm.sample(temp=0.0)
            llm.eval([token])
        decode.append(decode_tokens / (time.perf_counter() - started))
    return statistics.median(prefill), statistics.median(decode)


def main(argv: list[str] | None = None) -> int:
    """Measure both engines and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompt-tokens", type=int, default=512)
    parser.add_argument("--decode-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=Path("data"), help="where the converted model lives (ASSISTANT_DATA_DIR)")
    args = parser.parse_args(argv)

    from assistant.backends.gguf import ensure_safetensors, gguf_path

    models = args.data_dir / "models"
    ensure_safetensors(models)
    ours = embedded_speed(models, args.prompt_tokens, args.decode_tokens, args.threads, args.repeats)
    try:
        peer = llama_cpp_speed(gguf_path(models), args.prompt_tokens, args.decode_tokens, args.threads, args.repeats)
    except ImportError:
        raise SystemExit("llama-cpp-python is not installed: pip install -r requirements-dev.txt") from None
    print(f"Gemma 3 270M q4_k_m, {args.threads} threads, {args.prompt_tokens}-token prompt, {args.decode_tokens} decoded tokens, "
          f"median of {args.repeats}")
    print(f"{'':10} {'embedded':>10} {'llama.cpp':>10} {'ratio':>7}")
    for name, a, b in (("prefill", ours[0], peer[0]), ("decode", ours[1], peer[1])):
        print(f"{name + ' t/s':10} {a:10.1f} {b:10.1f} {a / b:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
