"""The LoRA tool-use trainer, on a tiny random Gemma 3 and a byte-level tokenizer built here (nothing downloaded)."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from assistant.alignment import train as train_mod
from assistant.alignment.train import (
    IGNORE_INDEX,
    TrainSettings,
    batch_order,
    collate,
    encode_sample,
    load_adapter,
    read_samples,
    target_token_loss,
    train_adapter,
    train_from_files,
)

SAMPLES = [
    {"prompt": "User: What is 12 times 7?\nAssistant:", "target": " <calc>12 * 7</calc>", "kind": "call", "use_case": "math"},
    {"prompt": "User: hi there\nAssistant:", "target": " Hello! How can I help?\n", "kind": "no_call", "use_case": "chat"},
    {"prompt": "User: Weather in Oslo?\nAssistant:", "target": " <weather>Oslo</weather>", "kind": "call", "use_case": "weather"},
    {"prompt": "User: 3+4?\nAssistant: <calc>3+4</calc><result>7</result>", "target": " It is 7.\n", "kind": "answer",
     "use_case": "math"},
    {"prompt": "User: What time is it?\nAssistant:", "target": " <time>now</time>", "kind": "call", "use_case": ""},
    {"prompt": "User: thanks\nAssistant:", "target": " You're welcome.\n", "kind": "no_call", "use_case": "chat"},
]


def quick(**changes) -> TrainSettings:
    """Settings for a run of a few milliseconds per step on the tiny model."""
    base = dict(epochs=2.0, batch_size=2, lr=5e-3, warmup_steps=1, rank=4, alpha=8, dropout=0.1, max_len=128,
                save_every=2, seed=0)
    return TrainSettings(**{**base, **changes})


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models gain nothing from threads, and lose a lot to them when another job holds a core."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tiny Gemma 3 causal LM (2 layers, hidden 64, final-logit softcapping on) and a byte-level tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig, PreTrainedTokenizerFast

    specials = ["<pad>", "<eos>", "<bos>", "<unk>"]  # Gemma's ids: pad 0, eos 1, bos 2
    vocab = {token: i for i, token in enumerate(specials + sorted(pre_tokenizers.ByteLevel.alphabet()))}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 2)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<bos>", eos_token="<eos>",
                                   pad_token="<pad>", unk_token="<unk>")
    config = Gemma3TextConfig(
        vocab_size=len(vocab), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, head_dim=32, max_position_embeddings=256, sliding_window=16,
        layer_types=["sliding_attention", "full_attention"], final_logit_softcapping=30.0,
        pad_token_id=0, eos_token_id=1, bos_token_id=2,
    )
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-gemma3")
    model = Gemma3ForCausalLM(config)
    with torch.no_grad():  # wider (tied) embeddings than the default 0.02, so the frozen output layer can be confident
        model.model.embed_tokens.weight.normal_(0.0, 0.3)
    model.save_pretrained(path)
    fast.save_pretrained(path)
    return path


@pytest.fixture
def tiny(tiny_dir: Path):
    """A fresh (model, tokenizer) pair: training injects LoRA into the model in place."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return (AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32),
            AutoTokenizer.from_pretrained(tiny_dir))


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def history(out_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (out_dir / "loss.jsonl").read_text().splitlines()]


def adapter_weights(out_dir: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(out_dir / "adapter_model.safetensors")


class CountingLoss:
    """Stands in for target_token_loss: counts forward passes, optionally dies on the n-th like a killed process."""

    def __init__(self, die_on: int | None = None) -> None:
        self.calls, self.die_on = 0, die_on

    def __call__(self, *args):
        self.calls += 1
        if self.calls == self.die_on:
            raise KeyboardInterrupt("simulated kill")
        return target_token_loss(*args)


# -- encoding and the loss ---------------------------------------------------------------------------------------


def test_prompt_gets_bos_and_target_is_tokenized_alone(tiny):
    _, tok = tiny
    ids, prompt_len = encode_sample(tok, "User: hi\nAssistant:", " <calc>1+1</calc>", max_len=128)
    prompt_ids = tok("User: hi\nAssistant:")["input_ids"]
    assert prompt_ids[0] == tok.bos_token_id
    assert ids == prompt_ids + tok(" <calc>1+1</calc>", add_special_tokens=False)["input_ids"]
    assert prompt_len == len(prompt_ids)


def test_labels_cover_target_tokens_only(tiny):
    _, tok = tiny
    items = [encode_sample(tok, s["prompt"], s["target"], 128) for s in SAMPLES[:3]]
    batch = collate(items, pad_id=tok.pad_token_id)
    width = max(len(ids) for ids, _ in items)
    assert batch["input_ids"].shape == batch["labels"].shape == (3, width)
    for row, (ids, prompt_len) in enumerate(items):
        labels = batch["labels"][row].tolist()
        assert labels[:prompt_len] == [IGNORE_INDEX] * prompt_len  # BOS and prompt
        assert labels[prompt_len : len(ids)] == ids[prompt_len:]  # the target, unshifted
        assert labels[len(ids) :] == [IGNORE_INDEX] * (width - len(ids))  # right padding
        assert batch["attention_mask"][row].tolist() == [1] * len(ids) + [0] * (width - len(ids))


def full_logits_loss(model, batch) -> torch.Tensor:
    """The oracle: the model's own forward (every position's logits), labels shifted, IGNORE_INDEX masked."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits  # [B, T, V]
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), batch["labels"][:, 1:].reshape(-1),
                           ignore_index=IGNORE_INDEX)


def test_targeted_logits_loss_equals_full_logits_loss(tiny):
    model, tok = tiny
    assert model.config.final_logit_softcapping == 30.0  # the cap must be applied on the targeted path too
    items = [encode_sample(tok, s["prompt"], s["target"], 128) for s in SAMPLES]  # mixed lengths -> padding
    batch = collate(items, pad_id=tok.pad_token_id)
    rows_seen = []
    hook = model.lm_head.register_forward_hook(lambda module, args, out: rows_seen.append(args[0].shape))
    with torch.no_grad():
        fast = target_token_loss(model, **batch)
        hook.remove()
        oracle = full_logits_loss(model, batch)
    target_tokens = sum(len(ids) - prompt_len for ids, prompt_len in items)
    assert rows_seen == [torch.Size([target_tokens, model.config.hidden_size])]  # the output layer saw targets only
    torch.testing.assert_close(fast, oracle, rtol=1e-5, atol=1e-6)


def test_prompt_labels_do_not_count(tiny):
    model, tok = tiny
    items = [encode_sample(tok, s["prompt"], s["target"], 128) for s in SAMPLES[:4]]
    batch = collate(items, pad_id=tok.pad_token_id)
    with torch.no_grad():
        loss = target_token_loss(model, **batch)
        # Labelling the prompt (as plain LM training would) changes the loss, so it is the masking that keeps it out ...
        lm_labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, IGNORE_INDEX)
        assert not torch.isclose(target_token_loss(model, batch["input_ids"], batch["attention_mask"], lm_labels), loss)
        # ... and the loss is the mean over target tokens of -log p(token | everything before it), per sample.
        nll = []
        for ids, prompt_len in items:
            logits = model(input_ids=torch.tensor([ids])).logits[0]  # [L, V], no padding at all
            logp = torch.log_softmax(logits[:-1], dim=-1)
            nll += [-logp[t - 1, ids[t]] for t in range(prompt_len, len(ids))]
    torch.testing.assert_close(loss, torch.stack(nll).mean(), rtol=1e-5, atol=1e-6)


def test_long_prompt_is_cut_from_the_left_keeping_bos_and_target(tiny):
    _, tok = tiny
    prompt = "User: " + "tell me more " * 20 + "\nAssistant:"
    target = " <search>more</search>"
    prompt_ids = tok(prompt)["input_ids"]
    target_ids = tok(target, add_special_tokens=False)["input_ids"]
    ids, prompt_len = encode_sample(tok, prompt, target, max_len=60)
    assert len(ids) == 60
    assert ids[0] == tok.bos_token_id
    assert ids[prompt_len:] == target_ids
    assert ids[1:prompt_len] == prompt_ids[-(prompt_len - 1) :]  # the prompt's end (nearest the target) survives
    assert encode_sample(tok, prompt, target, max_len=len(target_ids) + 1) == ([tok.bos_token_id] + target_ids, 1)
    assert encode_sample(tok, prompt, target, max_len=len(target_ids)) is None  # the target alone does not fit


def test_batch_order_is_seeded_and_covers_each_epoch():
    lengths = [5, 9, 5, 30, 31, 9, 12, 5, 29, 12]
    order = batch_order(lengths, batch_size=3, epochs=2, seed=1)
    assert order == batch_order(lengths, batch_size=3, epochs=2, seed=1)
    assert order != batch_order(lengths, batch_size=3, epochs=2, seed=2)
    assert len(order) == 8
    for epoch in (order[:4], order[4:]):
        assert sorted(i for batch in epoch for i in batch) == list(range(10))
        # batches are runs of the sorted lengths (little padding), in a shuffled order
        assert sorted(sorted(lengths[i] for i in b) for b in epoch) == [[5, 5, 5], [9, 9, 12], [12, 29, 30], [31]]
    assert len(batch_order(lengths, batch_size=3, epochs=1.5, seed=1)) == 6


def test_settings_are_validated():
    assert TrainSettings(target_modules=["q_proj"]).target_modules == ("q_proj",)
    with pytest.raises(ValueError, match="batch_size"):
        TrainSettings(batch_size=0)
    with pytest.raises(ValueError, match="dropout"):
        TrainSettings(dropout=1.0)


# -- reading samples ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad, message", [
    ('{"prompt": "a", "target": ', "not valid JSON"),
    ('["a", "b"]', "expected a JSON object"),
    ('{"prompt": "a", "kind": "call", "use_case": "x"}', "missing field 'target'"),
    ('{"prompt": "a", "target": 3, "kind": "call", "use_case": "x"}', "field 'target' must be a string"),
    ('{"prompt": "a", "target": "", "kind": "call", "use_case": "x"}', "field 'target' must not be empty"),
])
def test_bad_sample_line_is_named(tmp_path: Path, bad: str, message: str):
    path = write_jsonl(tmp_path / "samples.jsonl", [SAMPLES[0], "", bad])
    with pytest.raises(ValueError, match=rf"samples\.jsonl, line 3: {message}"):
        read_samples(path)


def test_empty_or_missing_samples_file(tmp_path: Path):
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(ValueError, match="holds no samples"):
        read_samples(tmp_path / "empty.jsonl")
    with pytest.raises(FileNotFoundError, match="samples file not found"):
        read_samples(tmp_path / "absent.jsonl")
    assert read_samples(write_jsonl(tmp_path / "ok.jsonl", SAMPLES)) == SAMPLES


# -- training runs -----------------------------------------------------------------------------------------------


def test_loss_goes_down_when_overfitting(tiny, tmp_path: Path):
    model, tok = tiny
    result = train_adapter(model, tok, SAMPLES[:4], tmp_path / "out", quick(epochs=25, dropout=0.0, lr=1e-2),
                           progress=False)
    losses = [row["loss"] for row in history(tmp_path / "out")]
    assert result.steps == len(losses) == 50
    assert sum(losses[-5:]) / 5 < 0.2 * sum(losses[:5]) / 5, losses


def test_train_from_files_writes_every_output(tiny_dir: Path, tmp_path: Path, caplog):
    too_long = {"prompt": "User: poem\nAssistant:", "target": " " + "la " * 60, "kind": "no_call", "use_case": "chat"}
    samples_path = write_jsonl(tmp_path / "samples.jsonl", [*SAMPLES, too_long])
    out = tmp_path / "adapter"
    with caplog.at_level(logging.WARNING, logger=train_mod.__name__):
        result = train_from_files(samples_path, out, quick(warmup_steps=2), str(tiny_dir), progress=False,
                                  metadata={"command": "python -m assistant align train --epochs 2"})
    assert "dropped 1 of 7 samples" in caplog.text
    assert (result.samples, result.dropped, result.steps) == (6, 1, 6)
    assert result.loss_plot == out / "loss.png" and result.out_dir == out
    for name in ("adapter_model.safetensors", "adapter_config.json", "loss.jsonl", "training.json"):
        assert (out / name).is_file(), name
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (out / "loss.png").stat().st_size > 5000
    assert json.loads((out / "adapter_config.json").read_text())["r"] == 4
    rows = history(out)
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert all(set(r) == {"step", "loss", "lr", "seconds"} and r["loss"] > 0 and r["seconds"] > 0 for r in rows)
    lrs = [r["lr"] for r in rows]
    assert lrs[0] < lrs[1] == pytest.approx(5e-3) and lrs[1] > lrs[2] > lrs[-1] > 0  # warm-up, then decay
    record = json.loads((out / "training.json").read_text())
    assert record["kinds"] == {"call": 3, "no_call": 2, "answer": 1}
    assert record["use_cases"] == {"math": 2, "chat": 2, "weather": 1, "": 1}
    assert record["samples_file"]["sha256"] == hashlib.sha256(samples_path.read_bytes()).hexdigest()
    assert record["base_model"] == str(tiny_dir.resolve())
    assert record["metadata"] == {"command": "python -m assistant align train --epochs 2"}
    card = (out / "README.md").read_text()
    assert "python -m assistant align train --epochs 2" in card and "3 call" in card and "![training loss](loss.png)" in card
    assert record["settings"]["lr"] == 5e-3 and record["settings"]["target_modules"][0] == "q_proj"
    assert record["final_loss"] == pytest.approx(result.final_loss) and record["seconds"] == pytest.approx(result.seconds)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-4", "step-6"]  # only the last two
    assert {"adapter_model.safetensors", "optimizer.pt", "scheduler.pt", "rng.pt", "state.json"} <= {
        p.name for p in (out / "checkpoints" / "step-6").iterdir()}


@pytest.mark.parametrize("grad_accum, die_on, logged, rerun_passes", [
    (1, 6, [1, 2, 3, 4, 5], 2),  # dies inside step 6: steps 1-5 done, the last checkpoint is step 4
    (2, 10, [1, 2, 3, 4], 6),  # dies inside step 5 (micro-batches 9-10): resumes at step 3, reruns steps 4-6
])
def test_killed_run_resumes_from_its_checkpoint(tiny_dir: Path, tmp_path: Path, monkeypatch, grad_accum: int,
                                                die_on: int, logged: list[int], rerun_passes: int):
    samples_path = write_jsonl(tmp_path / "samples.jsonl", SAMPLES)
    # 6 steps of 2 samples (12 micro-batches with grad_accum 2); dropout on, so the RNG state must be restored too
    settings = quick(epochs=2.0 * grad_accum, grad_accum=grad_accum, save_every=2 if grad_accum == 1 else 3)
    whole = train_from_files(samples_path, tmp_path / "whole", settings, str(tiny_dir), progress=False)
    assert whole.steps == 6

    monkeypatch.setattr(train_mod, "target_token_loss", CountingLoss(die_on=die_on))
    with pytest.raises(KeyboardInterrupt):
        train_from_files(samples_path, tmp_path / "resumed", settings, str(tiny_dir), progress=False)
    assert [r["step"] for r in history(tmp_path / "resumed")] == logged
    assert not (tmp_path / "resumed" / "training.json").exists()

    counter = CountingLoss()
    monkeypatch.setattr(train_mod, "target_token_loss", counter)
    resumed = train_from_files(samples_path, tmp_path / "resumed", settings, str(tiny_dir), progress=False)
    assert counter.calls == rerun_passes  # only the steps after the last checkpoint are run again
    assert [r["step"] for r in history(tmp_path / "resumed")] == [1, 2, 3, 4, 5, 6]
    assert [r["loss"] for r in history(tmp_path / "resumed")] == pytest.approx([r["loss"] for r in history(tmp_path / "whole")])
    assert resumed.steps == 6 and resumed.final_loss == pytest.approx(whole.final_loss)
    for name, tensor in adapter_weights(tmp_path / "whole").items():
        torch.testing.assert_close(adapter_weights(tmp_path / "resumed")[name], tensor, rtol=1e-5, atol=1e-6)


def test_capped_run_continues_and_finished_run_is_a_no_op(tiny_dir: Path, tmp_path: Path, monkeypatch):
    samples_path = write_jsonl(tmp_path / "samples.jsonl", SAMPLES)
    out = tmp_path / "out"
    capped = train_from_files(samples_path, out, quick(max_steps=3), str(tiny_dir), progress=False)
    assert capped.steps == 3 and (out / "adapter_model.safetensors").is_file()

    counter = CountingLoss()
    monkeypatch.setattr(train_mod, "target_token_loss", counter)
    assert train_from_files(samples_path, out, quick(max_steps=3), str(tiny_dir), progress=False).steps == 3
    assert counter.calls == 0
    done = train_from_files(samples_path, out, quick(), str(tiny_dir), progress=False)
    assert counter.calls == 3 and done.steps == 6  # the rest of the run, not a restart
    assert [r["step"] for r in history(out)] == [1, 2, 3, 4, 5, 6]

    def no_loading(*args, **kwargs):
        raise AssertionError("a finished run must not load the model")

    from transformers import AutoModelForCausalLM

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", no_loading)
    before = (out / "training.json").read_text()
    again = train_from_files(samples_path, out, quick(), str(tiny_dir), progress=False)
    assert again == done and (out / "training.json").read_text() == before


def test_resume_into_a_different_run_is_refused(tiny_dir: Path, tmp_path: Path):
    samples_path = write_jsonl(tmp_path / "samples.jsonl", SAMPLES)
    out = tmp_path / "out"
    train_from_files(samples_path, out, quick(max_steps=2), str(tiny_dir), progress=False)
    with pytest.raises(ValueError, match=r"different training run \(differs in: settings\.lr\).*--no-resume"):
        train_from_files(samples_path, out, quick(lr=1e-3), str(tiny_dir), progress=False)
    other = write_jsonl(tmp_path / "other.jsonl", SAMPLES[:4])
    with pytest.raises(ValueError, match="differs in: samples_sha256"):
        train_from_files(other, out, quick(), str(tiny_dir), progress=False)
    fresh = train_from_files(other, out, quick(lr=1e-3, resume=False), str(tiny_dir), progress=False)
    assert fresh.steps == 4 and [r["step"] for r in history(out)] == [1, 2, 3, 4]
    assert json.loads((out / "training.json").read_text())["settings"]["lr"] == 1e-3


def test_missing_model_or_empty_samples(tiny, tmp_path: Path):
    samples_path = write_jsonl(tmp_path / "samples.jsonl", SAMPLES)
    with pytest.raises(FileNotFoundError, match="base model not found"):
        train_from_files(samples_path, tmp_path / "out", quick(), str(tmp_path / "no-model"), progress=False)
    model, tok = tiny
    with pytest.raises(ValueError, match="no samples"):
        train_adapter(model, tok, [], tmp_path / "out", quick(), progress=False)


def test_trained_adapter_changes_the_models_output(tiny_dir: Path, tiny, tmp_path: Path):
    from transformers import AutoModelForCausalLM

    model, tok = tiny
    train_adapter(model, tok, SAMPLES, tmp_path / "out", quick(), progress=False)
    base = AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32).eval()
    ids = torch.tensor([tok(SAMPLES[0]["prompt"])["input_ids"]])
    with torch.no_grad():
        before = base(input_ids=ids).logits
        tuned = load_adapter(base, tmp_path / "out")
        after = tuned(input_ids=ids).logits
    assert not tuned.training
    assert (after - before).abs().max() > 1e-3
    with pytest.raises(FileNotFoundError, match="adapter directory not found"):
        load_adapter(base, tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="not a LoRA adapter directory"):
        load_adapter(base, tmp_path / "empty")


def test_bf16_autocast_trains(tiny, tmp_path: Path):
    model, tok = tiny
    result = train_adapter(model, tok, SAMPLES, tmp_path / "out", quick(bf16=True, max_steps=2), progress=False)
    assert result.steps == 2 and all(0 < r["loss"] < 20 for r in history(tmp_path / "out"))
    assert adapter_weights(tmp_path / "out")["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"].dtype == torch.float32
    assert json.loads((tmp_path / "out" / "training.json").read_text())["settings"]["bf16"] is True
