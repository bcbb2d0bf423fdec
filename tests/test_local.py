"""The in-process backends with the real Gemma 3 270M: conversion, streaming, stop strings, scoring, prefix cache."""

import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant.backends.gguf import ensure_safetensors
from assistant.backends.local import EmbeddedBackend, TransformersBackend
ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.model

PROMPT = "User: What is the capital of France?\nAssistant:"


def test_conversion_is_cached_and_reused(model_data_dir):
    started = time.perf_counter()
    path = ensure_safetensors(model_data_dir / "models")
    assert time.perf_counter() - started < 1.0  # already converted: nothing is redone
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= {p.name for p in path.iterdir()}
    assert "quantization_config" not in (path / "config.json").read_text()


def test_stream_yields_pieces_and_stops_before_the_stop_string(embedded):
    pieces = list(embedded.stream(PROMPT, stop=["\n"], max_tokens=30))
    text = "".join(pieces)
    assert len(pieces) > 1 and "Paris" in text and "\n" not in text


def test_stop_string_split_across_tokens_is_never_shown(embedded):
    text = embedded.complete(PROMPT, stop=["Par"], max_tokens=30)
    assert "Par" not in text and "Pa" not in text[-2:]


def test_max_tokens_bounds_the_output(embedded):
    assert len(embedded._tokenizer(embedded.complete("Once upon a time", max_tokens=5), add_special_tokens=False).input_ids) <= 6


def test_scores_are_log_probabilities_and_rank_sensibly(embedded):
    good, bad, other = embedded.score(PROMPT, [" The capital of France is Paris", " Banana banana banana"], otherwise=True)
    assert good > bad and all(s <= 0 for s in (good, bad, other))
    # the direct-answer mass excludes tokens that could start either option
    assert other < math.log(1.0)


def test_prefix_cache_gives_the_same_scores_as_a_cold_start(embedded):
    options = [" <calc>", " <search>"]
    embedded.score("User: hello there\nAssistant:", options, otherwise=True)
    warm = embedded.score("User: hello there, what is 2+2?\nAssistant:", options, otherwise=True)
    embedded._cache, embedded._cache_ids = None, []
    cold = embedded.score("User: hello there, what is 2+2?\nAssistant:", options, otherwise=True)
    assert warm == pytest.approx(cold, abs=1e-3)


def test_generation_after_scoring_is_unchanged(embedded):
    first = embedded.complete(PROMPT, stop=["\n"], max_tokens=20)
    embedded.score(PROMPT, [" <calc>"])
    assert embedded.complete(PROMPT, stop=["\n"], max_tokens=20) == first


def test_missing_model_offline_is_a_clear_error(tmp_path):
    """HF_HUB_OFFLINE is read when huggingface_hub is imported, so this runs in a fresh interpreter."""
    code = "from assistant.backends.local import TransformersBackend; TransformersBackend('no-such-org/no-such-model').load()"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "ModelUnavailable: cannot load model 'no-such-org/no-such-model' (HF_HUB_OFFLINE=1 is set" in out.stderr


def test_transformers_backend_loads_a_local_directory(model_data_dir):
    backend = TransformersBackend(str(model_data_dir / "models" / "gemma-3-270m"), max_context=512)
    assert "Paris" in backend.complete(PROMPT, stop=["\n"], max_tokens=20)


def test_embedded_describes_itself(model_data_dir):
    assert "Gemma 3 270M" in EmbeddedBackend(model_data_dir / "models").describe()
