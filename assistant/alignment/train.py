"""Train a LoRA adapter that teaches a causal LM to write tool calls, with the loss on the target tokens only.

Each sample is a prompt (what the model reads at inference) and a target (what it should write next: a tool call,
a plain answer, ...). Prompt and target are tokenized apart and concatenated, exactly as inference continues the
tokenized prompt, and the cross-entropy is taken over the target tokens alone.

Speed: Gemma 3 has a 262,144-word output layer, so full-sequence logits ([batch, seq, 262144] floats, ~1 GB for
8 x 128 tokens) would cost more than the decoder itself. The decoder body runs over the whole batch, but the
output layer is applied only to the hidden states that predict a target token. `bf16=True` autocasts the forward
to bfloat16: on CPUs with AVX512-BF16 or AMX the matrix products run ~4x faster (a step ~2.4x), on CPUs without
them it is slower; weights, adapter and optimizer stay float32.

The run is resumable: checkpoints hold the adapter, optimizer, scheduler, RNG states and the position in a data
order that is a pure function of the seed, so a killed run continues where its last checkpoint left off.
`training.json` records the settings, the data hash and the caller's command (`metadata`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
import shutil
import time
from collections import Counter
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger(__name__)

IGNORE_INDEX = -100  # label of every position that is not a target token (prompt, BOS, padding)
KEEP_CHECKPOINTS = 2  # older checkpoints are deleted once a newer one is complete
MAX_GRAD_NORM = 1.0  # gradient clipping; keeps early LoRA steps at lr 2e-4 from overshooting
SMOOTH_WINDOW = 20  # steps in the running mean shown in the progress bar and drawn in loss.png
FINAL_LOSS_WINDOW = 10  # final_loss is the mean loss of the last this-many optimizer steps
SAMPLE_FIELDS = ("prompt", "target", "kind", "use_case")
# Settings that do not change what is trained, only how the run is driven: a rerun may change them and resume.
RUN_CONTROL_SETTINGS = frozenset({"save_every", "resume", "threads", "max_steps"})
ADAPTER_FILES = ("adapter_model.safetensors", "adapter_config.json")
OUTPUT_FILES = (*ADAPTER_FILES, "loss.jsonl", "loss.png", "training.json")


@dataclass(frozen=True)
class TrainSettings:
    """How an adapter is trained; every field is recorded in training.json."""

    epochs: float = 2.0  # passes over the data; fractions allowed (the last pass is cut short)
    batch_size: int = 8  # samples per micro-batch (per process)
    grad_accum: int = 1  # micro-batches per optimizer step
    lr: float = 2e-4  # peak learning rate (AdamW)
    weight_decay: float = 0.0
    warmup_steps: int = 10  # linear warm-up then linear decay to 0; capped at half the run's steps
    rank: int = 8  # LoRA rank r
    alpha: int = 16  # LoRA alpha; the update is scaled by alpha / rank
    dropout: float = 0.05  # LoRA dropout on the adapter's input
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    max_len: int = 192  # tokens per sample; longer prompts lose their left part (BOS and target are kept)
    seed: int = 0  # LoRA init, dropout and data order
    save_every: int = 25  # optimizer steps between checkpoints
    resume: bool = True  # continue from the latest checkpoint in out_dir instead of starting over
    threads: int = 0  # torch threads, 0 = torch default
    max_steps: int | None = None  # stop after this many optimizer steps; the LR schedule still spans all epochs
    bf16: bool = False  # autocast the forward to bfloat16 (weights, LoRA and optimizer stay float32); see above

    def __post_init__(self) -> None:
        object.__setattr__(self, "target_modules", tuple(self.target_modules))  # lists from JSON or the CLI
        checks = [
            (self.epochs > 0, "epochs must be > 0"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.grad_accum >= 1, "grad_accum must be >= 1"),
            (self.lr > 0, "lr must be > 0"),
            (self.weight_decay >= 0, "weight_decay must be >= 0"),
            (self.warmup_steps >= 0, "warmup_steps must be >= 0"),
            (self.rank >= 1, "rank must be >= 1"),
            (self.alpha > 0, "alpha must be > 0"),
            (0 <= self.dropout < 1, "dropout must be in [0, 1)"),
            (bool(self.target_modules) and all(isinstance(m, str) and m for m in self.target_modules),
             "target_modules must be a non-empty list of module names"),
            (self.max_len >= 2, "max_len must be >= 2 (one context token and one target token)"),
            (self.save_every >= 1, "save_every must be >= 1"),
            (self.threads >= 0, "threads must be >= 0"),
            (self.max_steps is None or self.max_steps >= 1, "max_steps must be >= 1 or None"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"invalid training settings: {message}")


@dataclass
class TrainResult:
    """What a finished (or capped) run produced."""

    out_dir: Path
    steps: int  # optimizer steps done
    samples: int  # samples trained on (after dropping those whose target does not fit)
    dropped: int
    final_loss: float  # mean target-token loss of the last FINAL_LOSS_WINDOW steps
    seconds: float  # training time summed over every session of the run
    loss_plot: Path


# -- samples -----------------------------------------------------------------------------------------------------


def read_samples(path: Path) -> list[dict]:
    """Read a JSONL file of {"prompt", "target", "kind", "use_case"} samples; a bad line raises naming its number."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"samples file not found: {path}")
    samples = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                sample = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}, line {number}: not valid JSON ({exc.msg} at column {exc.colno})") from None
            problem = _sample_problem(sample)
            if problem:
                raise ValueError(f"{path}, line {number}: {problem}")
            samples.append(sample)
    if not samples:
        raise ValueError(f"samples file {path} holds no samples")
    return samples


def _sample_problem(sample: Any) -> str | None:
    if not isinstance(sample, dict):
        return f"expected a JSON object with fields {', '.join(SAMPLE_FIELDS)}, got {type(sample).__name__}"
    for name in SAMPLE_FIELDS:
        if name not in sample:
            return f"missing field {name!r}"
        if not isinstance(sample[name], str):
            return f"field {name!r} must be a string, got {type(sample[name]).__name__}"
    if not sample["target"]:
        return "field 'target' must not be empty"
    return None


def samples_sha256(samples: Sequence[dict]) -> str:
    """Hash of the samples' content (canonical JSON lines), independent of key order and file formatting."""
    digest = hashlib.sha256()
    for sample in samples:
        digest.update(json.dumps(sample, sort_keys=True, ensure_ascii=False).encode("utf-8") + b"\n")
    return digest.hexdigest()


def encode_sample(tokenizer, prompt: str, target: str, max_len: int) -> tuple[list[int], int] | None:
    """Token ids of prompt + target and the prompt's length, cut from the prompt's left to fit max_len.

    The prompt gets the tokenizer's special tokens (BOS), the target none: inference continues the tokenized
    prompt, so training must see the same ids. A leading BOS survives truncation. None if the target alone
    (plus one context token) does not fit.
    """
    encoded = _encode(tokenizer, prompt, target, max_len)
    return None if encoded is None else encoded[:2]


def _encode(tokenizer, prompt: str, target: str, max_len: int) -> tuple[list[int], int, bool] | None:
    prompt_ids = list(tokenizer(prompt)["input_ids"])
    target_ids = list(tokenizer(target, add_special_tokens=False)["input_ids"])
    if not target_ids or not prompt_ids:
        return None  # nothing to learn, or nothing to predict the first target token from
    truncated = len(prompt_ids) + len(target_ids) > max_len
    if truncated:
        bos = tokenizer.bos_token_id
        head = prompt_ids[:1] if bos is not None and prompt_ids[0] == bos else []
        room = max_len - len(target_ids) - len(head)  # prompt tokens that still fit after the head
        if room < 0 or (room == 0 and not head):
            return None
        prompt_ids = head + (prompt_ids[-room:] if room else [])  # [-0:] would keep everything
    return prompt_ids + target_ids, len(prompt_ids), truncated


def collate(batch: Sequence[tuple[list[int], int]], *, pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a batch to its longest sequence; labels hold the target tokens and IGNORE_INDEX elsewhere."""
    width = max(len(ids) for ids, _ in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)  # [B, T]
    attention_mask = torch.zeros((len(batch), width), dtype=torch.long)  # [B, T], 1 on real tokens
    labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)  # [B, T], unshifted like HF labels
    for row, (ids, prompt_len) in enumerate(batch):
        assert 0 < prompt_len < len(ids), f"sample needs prompt and target tokens, got {prompt_len} of {len(ids)}"
        input_ids[row, : len(ids)] = torch.tensor(ids)
        attention_mask[row, : len(ids)] = 1
        labels[row, prompt_len : len(ids)] = torch.tensor(ids[prompt_len:])
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def batch_order(lengths: Sequence[int], *, batch_size: int, epochs: float, seed: int) -> list[list[int]]:
    """Every micro-batch of the run, in order: per epoch, samples of similar length share a batch, batches shuffled.

    Sorting by length keeps padding small; the seeded shuffle before the (stable) sort varies which equal-length
    samples meet, and the shuffle of whole batches varies the order. A pure function of its arguments, so a resumed
    run finds its place by counting batches.
    """
    per_epoch = math.ceil(len(lengths) / batch_size)
    total = max(1, round(epochs * per_epoch))
    batches: list[list[int]] = []
    for epoch in range(math.ceil(total / per_epoch)):
        rng = random.Random(seed * 1_000_003 + epoch)
        order = list(range(len(lengths)))
        rng.shuffle(order)
        order.sort(key=lambda i: lengths[i])
        chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        rng.shuffle(chunks)
        batches.extend(chunks)
    return batches[:total]


class _BatchList(torch.utils.data.Sampler):
    """A fixed list of index batches, usable as a DataLoader batch_sampler (accelerate shards it across processes)."""

    def __init__(self, batches: list[list[int]], batch_size: int) -> None:
        self.batches = batches
        self.batch_size = batch_size  # read by accelerate's BatchSamplerShard
        self.drop_last = False

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


# -- the loss ----------------------------------------------------------------------------------------------------


def target_token_loss(causal_lm: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                      labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the target tokens, with the output layer applied to the predicting positions only.

    Equals the loss of the model's own forward (full logits, shifted labels, IGNORE_INDEX masked) at a fraction of
    the cost: with a 262k vocabulary the output layer dominates, and the targets are a few tokens per sample.
    """
    lm = causal_lm.get_base_model() if hasattr(causal_lm, "get_base_model") else causal_lm  # peft keeps LoRA inside
    body, head = lm.get_decoder(), lm.get_output_embeddings()
    assert body is not lm and head is not None, f"{type(lm).__name__} has no separate decoder body and output layer"
    hidden = body(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state  # [B, T, H]
    next_labels = labels[:, 1:]  # [B, T-1]: the state at position t predicts token t+1
    predicts_target = next_labels != IGNORE_INDEX  # [B, T-1]
    assert predicts_target.any(), "batch has no target tokens"
    logits = head(hidden[:, :-1][predicts_target])  # [N, V], N = target tokens in the batch
    softcap = getattr(lm.config, "final_logit_softcapping", None)
    if softcap is not None:  # as in Gemma3ForCausalLM.forward: cap * tanh(logits / cap)
        logits = torch.tanh(logits / softcap) * softcap
    return F.cross_entropy(logits.float(), next_labels[predicts_target])


class TargetTokenLoss(nn.Module):
    """Wraps the peft model so accelerate (DDP) sees one module whose forward returns the target-token loss."""

    def __init__(self, causal_lm: nn.Module) -> None:
        super().__init__()
        self.causal_lm = causal_lm

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return target_token_loss(self.causal_lm, input_ids, attention_mask, labels)


def _lr_factor(tick: int, *, warmup: int, total: int) -> float:
    # tick counts scheduler steps already taken: step 1 trains at tick 0. The peak is reached at the last warm-up
    # tick (or at tick 0), then the rate falls linearly to reach 0 just after the last step: no step runs at lr 0.
    if tick < warmup:
        return (tick + 1) / warmup
    peak = max(warmup - 1, 0)
    return max(0.0, (total - tick) / max(1, total - peak))


# -- the run's identity, checkpoints and outputs -------------------------------------------------------------------


def _identity(settings: TrainSettings, data_sha256: str, base_model: str) -> dict[str, Any]:
    """What must match for a rerun to resume or reuse an out_dir."""
    trained = {f.name: getattr(settings, f.name) for f in fields(settings) if f.name not in RUN_CONTROL_SETTINGS}
    trained["target_modules"] = list(settings.target_modules)
    return {"settings": trained, "samples_sha256": data_sha256, "base_model": base_model}


def _identity_differences(old: dict, new: dict) -> list[str]:
    names = [f"settings.{k}" for k in sorted(set(old.get("settings", {})) | set(new["settings"]))
             if old.get("settings", {}).get(k) != new["settings"].get(k)]
    return names + [k for k in ("samples_sha256", "base_model") if old.get(k) != new[k]]


def _checkpoints(out_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    root = out_dir / "checkpoints"
    found = [p for p in root.glob("step-*") if p.name[5:].isdigit() and (p / "state.json").is_file()] if root.is_dir() else []
    return sorted(found, key=lambda p: int(p.name[5:]))


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _previous_run(out_dir: Path, identity: dict, settings: TrainSettings) -> tuple[dict | None, TrainResult | None]:
    """The latest checkpoint state to resume from, or the existing result if nothing is left to do.

    Raises if out_dir holds a different run (with resume on); with resume off, clears this trainer's files.
    """
    if not settings.resume:
        shutil.rmtree(out_dir / "checkpoints", ignore_errors=True)
        for name in OUTPUT_FILES:
            (out_dir / name).unlink(missing_ok=True)
        return None, None
    checkpoints = _checkpoints(out_dir)
    state = _read_json(checkpoints[-1] / "state.json") if checkpoints else None
    record = _read_json(out_dir / "training.json")
    for found, where in ((state, checkpoints[-1] if checkpoints else None), (record, out_dir / "training.json")):
        if found is not None and found.get("identity") != identity:
            differences = ", ".join(_identity_differences(found.get("identity") or {}, identity))
            raise ValueError(
                f"{where} belongs to a different training run (differs in: {differences}); refusing to resume it. "
                f"Use another output directory, or --no-resume (resume=False) to start over and replace it."
            )
    if record is not None and all((out_dir / name).is_file() for name in ADAPTER_FILES):
        cap = record["total_steps"] if settings.max_steps is None else min(record["total_steps"], settings.max_steps)
        if record["steps"] >= cap:
            return state, TrainResult(out_dir=out_dir, steps=record["steps"], samples=record["samples"],
                                      dropped=record["dropped"], final_loss=record["final_loss"],
                                      seconds=record["seconds"], loss_plot=out_dir / "loss.png")
    return state, None


def _rng_state() -> dict[str, Any]:
    import numpy as np

    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"python": list(random.getstate()), "torch": torch.get_rng_state(),
             "numpy": [kind, torch.from_numpy(keys.astype("int64")), pos, has_gauss, gauss]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    import numpy as np

    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype("uint32"), pos, has_gauss, gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _save_checkpoint(out_dir: Path, step: int, peft_model, optimizer, scheduler, state: dict) -> None:
    """Write checkpoints/step-N atomically (a kill mid-write leaves the previous one intact); keep the last few."""
    root = out_dir / "checkpoints"
    partial_dir, final_dir = root / f".step-{step}.partial", root / f"step-{step}"
    shutil.rmtree(partial_dir, ignore_errors=True)
    partial_dir.mkdir(parents=True)
    peft_model.save_pretrained(str(partial_dir), save_embedding_layers=False)  # loadable with load_adapter
    torch.save(optimizer.state_dict(), partial_dir / "optimizer.pt")
    torch.save(scheduler.state_dict(), partial_dir / "scheduler.pt")
    torch.save(_rng_state(), partial_dir / "rng.pt")
    (partial_dir / "state.json").write_text(json.dumps(state, indent=1), encoding="utf-8")
    shutil.rmtree(final_dir, ignore_errors=True)
    os.replace(partial_dir, final_dir)
    for old in _checkpoints(out_dir)[:-KEEP_CHECKPOINTS]:
        shutil.rmtree(old, ignore_errors=True)


def _smoothed(values: Sequence[float], window: int) -> list[float]:
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value - (values[i - window] if i >= window else 0.0)
        out.append(total / min(i + 1, window))
    return out


def plot_loss(history: Sequence[dict], path: Path, *, samples: int) -> Path:
    """Draw loss per step and its running mean to a PNG (matplotlib's Agg canvas; pyplot is never imported)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    steps = [row["step"] for row in history]
    losses = [row["loss"] for row in history]
    figure = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    axes.plot(steps, losses, color="tab:blue", alpha=0.35, linewidth=1, label="loss per step")
    axes.plot(steps, _smoothed(losses, SMOOTH_WINDOW), color="tab:blue", linewidth=2,
              label=f"running mean ({SMOOTH_WINDOW} steps)")
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("cross-entropy on target tokens (nats/token)")
    axes.set_title(f"LoRA tool-use training: {samples} samples, {len(steps)} steps")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    return path


def _write_history(path: Path, history: Sequence[dict]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in history), encoding="utf-8")


# -- training ----------------------------------------------------------------------------------------------------


def train_adapter(model, tokenizer, samples: list[dict], out_dir: Path, settings: TrainSettings, *,
                  progress: bool = True, metadata: dict | None = None) -> TrainResult:
    """Train a LoRA adapter on `samples` into out_dir (resuming or reusing a previous run there).

    The model gets LoRA layers injected in place. A finished run with the same identity returns its result
    without touching the model.
    """
    base_model = str(getattr(model, "name_or_path", "") or "")
    return _train(model, tokenizer, samples, Path(out_dir), settings, base_model=base_model, samples_file=None,
                  progress=progress, metadata=metadata)


def train_from_files(samples: Path, out_dir: Path, settings: TrainSettings, model_path: str, *,
                     progress: bool = True, metadata: dict | None = None) -> TrainResult:
    """Read samples from JSONL, load the base model (float32) from a local directory, and train_adapter."""
    samples_path = Path(samples)
    rows = read_samples(samples_path)
    model_dir = Path(model_path).expanduser()
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"base model not found: {model_path} is not a local model directory with config.json")
    model_dir = model_dir.resolve()
    out_dir = Path(out_dir)
    identity = _identity(settings, samples_sha256(rows), str(model_dir))
    if settings.resume:  # a finished run is answered without loading the model
        _, done = _previous_run(out_dir, identity, settings)
        if done is not None:
            return done
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if settings.threads:
        torch.set_num_threads(settings.threads)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32, local_files_only=True)
    file_info = {"path": str(samples_path.resolve()), "sha256": hashlib.sha256(samples_path.read_bytes()).hexdigest()}
    return _train(model, tokenizer, rows, out_dir, settings, base_model=str(model_dir), samples_file=file_info,
                  progress=progress, metadata=metadata)


def load_adapter(model, adapter_dir: Path):
    """Apply a trained adapter to a base model (LoRA layers are injected into it) and return it in eval mode."""
    adapter_dir = Path(adapter_dir)
    if not adapter_dir.is_dir():
        raise FileNotFoundError(f"adapter directory not found: {adapter_dir}")
    missing = [name for name in ADAPTER_FILES if not (adapter_dir / name).is_file()]
    if missing:
        raise ValueError(f"{adapter_dir} is not a LoRA adapter directory (missing {', '.join(missing)}); "
                         f"train one with train_from_files or point at its output directory")
    from peft import PeftModel

    return PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=False).eval()


def _encode_all(tokenizer, samples: list[dict], max_len: int) -> tuple[list[tuple[list[int], int]], list[dict], int]:
    """(ids, prompt_len) of every sample that fits, the samples kept, and how many had their prompt cut."""
    encoded, kept, truncated = [], [], 0
    for sample in samples:
        item = _encode(tokenizer, sample["prompt"], sample["target"], max_len)
        if item is None:
            continue
        truncated += item[2]
        encoded.append(item[:2])
        kept.append(sample)
    if len(kept) < len(samples):
        log.warning("dropped %d of %d samples: the target does not fit in max_len=%d tokens (or tokenizes to nothing)",
                    len(samples) - len(kept), len(samples), max_len)
    if truncated:
        log.info("%d samples had their prompt cut from the left to fit max_len=%d", truncated, max_len)
    if not encoded:
        raise ValueError(f"every sample was dropped: no target fits in max_len={max_len} tokens")
    return encoded, kept, truncated


def _train(model, tokenizer, samples: list[dict], out_dir: Path, settings: TrainSettings, *, base_model: str,
           samples_file: dict | None, progress: bool, metadata: dict | None) -> TrainResult:
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict
    from safetensors.torch import load_file
    from tqdm.auto import tqdm

    if not samples:
        raise ValueError("no samples to train on")
    for number, sample in enumerate(samples, start=1):
        problem = _sample_problem(sample)
        if problem:
            raise ValueError(f"sample {number}: {problem}")
    if hasattr(model, "peft_config"):
        raise ValueError("the model already carries a peft adapter; pass the plain base model")
    data_sha256 = samples_sha256(samples)
    identity = _identity(settings, data_sha256, base_model)
    state, done = _previous_run(out_dir, identity, settings)
    if done is not None:
        log.info("%s already holds this finished run (%d steps); nothing to do", out_dir, done.steps)
        return done
    if settings.threads:
        torch.set_num_threads(settings.threads)

    # -- data: encode, drop what cannot fit, fix the whole run's batch order up front
    encoded, kept, truncated = _encode_all(tokenizer, samples, settings.max_len)
    dropped = len(samples) - len(kept)
    batches = batch_order([len(ids) for ids, _ in encoded], batch_size=settings.batch_size, epochs=settings.epochs,
                          seed=settings.seed)

    accelerator = Accelerator(gradient_accumulation_steps=settings.grad_accum)
    processes = accelerator.num_processes
    per_step = settings.grad_accum * processes  # global micro-batches per optimizer step
    total_steps = math.ceil(len(batches) / per_step)
    cap = total_steps if settings.max_steps is None else min(total_steps, settings.max_steps)
    warmup = min(settings.warmup_steps, total_steps // 2)
    set_seed(settings.seed)  # before LoRA init: its A matrices are random

    # -- model, optimizer, schedule
    lora = LoraConfig(task_type="CAUSAL_LM", r=settings.rank, lora_alpha=settings.alpha,
                      lora_dropout=settings.dropout, target_modules=list(settings.target_modules))
    peft_model = get_peft_model(model, lora)
    start_step, history, seconds_before = 0, [], 0.0
    checkpoint = _checkpoints(out_dir)[-1] if state is not None else None
    if checkpoint is not None:
        set_peft_model_state_dict(peft_model, load_file(checkpoint / "adapter_model.safetensors"))
        start_step, history, seconds_before = state["step"], state["history"], state["seconds"]
        assert state["position"] == start_step * per_step, (
            f"{checkpoint} was written with a different number of processes; resume with the same launch setup")
        cap = max(cap, start_step)  # a smaller max_steps than already done: finish at the checkpoint
    trainable = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=settings.lr, weight_decay=settings.weight_decay)
    # accelerate steps the scheduler once per process per optimizer step, so the schedule counts in those ticks
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, partial(_lr_factor, warmup=warmup * processes, total=total_steps * processes))
    pad_id = next(i for i in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0) if i is not None)
    stop = min(len(batches), cap * per_step)
    loader = torch.utils.data.DataLoader(
        encoded, batch_sampler=_BatchList(batches[start_step * per_step : stop], settings.batch_size),
        collate_fn=partial(collate, pad_id=pad_id))
    loss_module, optimizer, loader, scheduler = accelerator.prepare(TargetTokenLoss(peft_model), optimizer, loader,
                                                                    scheduler)
    if checkpoint is not None:
        optimizer.load_state_dict(torch.load(checkpoint / "optimizer.pt", weights_only=True))
        scheduler.load_state_dict(torch.load(checkpoint / "scheduler.pt", weights_only=True))
        rng = torch.load(checkpoint / "rng.pt", weights_only=True)
        log.info("resuming %s from %s (step %d of %d)", out_dir, checkpoint.name, start_step, cap)

    main = accelerator.is_main_process
    if main:
        out_dir.mkdir(parents=True, exist_ok=True)
        _write_history(out_dir / "loss.jsonl", history)
    log.info("training on %d samples (%d dropped): %d micro-batches of <= %d, %d optimizer steps%s",
             len(encoded), dropped, len(batches), settings.batch_size, total_steps,
             f" (stopping at {cap})" if cap < total_steps else "")

    # -- the loop: one optimizer step per grad_accum micro-batches (accelerate decides when to sync and step)
    step, micro_losses = start_step, []
    session_start = tick = time.perf_counter()
    bar = tqdm(total=cap, initial=start_step, desc="LoRA", unit="step", disable=not (progress and main))
    loss_module.train()
    for batch in loader:
        if checkpoint is not None:
            _set_rng_state(rng)  # after the loader started (it draws a seed): dropout continues as if never stopped
            checkpoint = None
        with accelerator.accumulate(loss_module):
            # autocast here rather than Accelerator(mixed_precision=...): accelerate's process-wide state cannot
            # change precision between two runs in one process
            with torch.autocast(device_type=accelerator.device.type, dtype=torch.bfloat16, enabled=settings.bf16):
                loss = loss_module(**batch)
            accelerator.backward(loss)
            micro_losses.append(accelerator.reduce(loss.detach(), reduction="mean").item())
            lr = optimizer.param_groups[0]["lr"]  # the rate this step trains with
            if accelerator.sync_gradients:
                accelerator.clip_grad_norm_(trainable, MAX_GRAD_NORM)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
        if not accelerator.sync_gradients:
            continue
        step += 1
        now = time.perf_counter()
        row = {"step": step, "loss": sum(micro_losses) / len(micro_losses), "lr": lr, "seconds": round(now - tick, 4)}
        micro_losses = []
        history.append(row)
        if main:
            with (out_dir / "loss.jsonl").open("a", encoding="utf-8") as log_file:
                log_file.write(json.dumps(row) + "\n")
        recent = history[-SMOOTH_WINDOW:]
        bar.set_postfix(loss=f"{sum(r['loss'] for r in recent) / len(recent):.4f}", s_per_step=f"{row['seconds']:.2f}")
        bar.update(1)
        if step % settings.save_every == 0 or step == cap:
            accelerator.wait_for_everyone()
            if main:
                seconds = seconds_before + time.perf_counter() - session_start
                run_state = {"step": step, "position": step * per_step, "total_steps": total_steps,
                             "identity": identity, "seconds": seconds, "history": history}
                _save_checkpoint(out_dir, step, peft_model, optimizer, scheduler, run_state)
            accelerator.wait_for_everyone()
        tick = time.perf_counter()  # a step's seconds leave out checkpoint writing (the run's total includes it)
    bar.close()
    assert step == cap, f"ran {step} optimizer steps, expected {cap}"
    seconds = seconds_before + time.perf_counter() - session_start
    peft_model.eval()

    # -- outputs: adapter, loss log and plot, then training.json last (its presence marks a finished run)
    result = TrainResult(out_dir=out_dir, steps=step, samples=len(encoded), dropped=dropped,
                         final_loss=sum(r["loss"] for r in history[-FINAL_LOSS_WINDOW:]) / len(history[-FINAL_LOSS_WINDOW:]),
                         seconds=seconds, loss_plot=out_dir / "loss.png")
    if main:
        peft_model.save_pretrained(str(out_dir), save_embedding_layers=False)
        _write_history(out_dir / "loss.jsonl", history)
        plot_loss(history, result.loss_plot, samples=len(encoded))
        record = {
            "identity": identity,
            "settings": {**asdict(settings), "target_modules": list(settings.target_modules)},
            "base_model": base_model,
            "samples_file": samples_file,
            "samples_sha256": data_sha256,
            "samples": len(encoded),
            "dropped": dropped,
            "truncated": truncated,
            "kinds": dict(Counter(s["kind"] for s in kept).most_common()),
            "use_cases": dict(Counter(s["use_case"] for s in kept).most_common()),
            "steps": step,
            "total_steps": total_steps,
            "final_loss": result.final_loss,
            "seconds": seconds,
            "seconds_per_step": sum(r["seconds"] for r in history) / len(history),
            "processes": processes,
            "versions": _versions(),
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "metadata": metadata or {},
        }
        write_card(out_dir / "README.md", record)  # replaces the generic card peft writes
        (out_dir / "training.json").write_text(json.dumps(record, indent=2, ensure_ascii=False, default=str) + "\n",
                                               encoding="utf-8")
    accelerator.wait_for_everyone()
    return result


def write_card(path: Path, record: dict) -> None:
    """A short model card: what the adapter is, the commands that reproduce it, the data and the loss."""
    meta = record.get("metadata") or {}
    commands = [c for c in (meta.get("data_command"), meta.get("command")) if c]
    kinds = ", ".join(f"{n} {k}" for k, n in record["kinds"].items())
    lines = [
        "# Tool-use LoRA adapter", "",
        f"A LoRA adapter (rank {record['settings']['rank']}) on `{Path(str(record['base_model'])).name}`, trained on "
        f"{record['samples']} samples ({kinds}); the loss is taken on the target tokens only.",
        f"Prompt format: `assistant/prompts/{meta.get('prompt', 'agent_tuned')}.yaml`.", "",
        "Reproduce (seeded):", "", "```bash", *commands, "```", "",
        f"Samples sha256 `{record['samples_sha256']}`; {record['steps']} steps in {record['seconds'] / 60:.1f} minutes "
        f"({record['seconds_per_step']:.1f} s/step); final loss {record['final_loss']:.3f}.", "",
        "![training loss](loss.png)", "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")


def _versions() -> dict[str, str]:
    import accelerate
    import peft
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__,
            "accelerate": accelerate.__version__}
