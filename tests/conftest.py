"""Shared fixtures: fakes for unit tests, and one converted real model per test session."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.fakes import HashEmbedder, ScriptedBackend

FIXED_NOW = datetime(2024, 5, 14, 8, 15, tzinfo=timezone.utc)  # a Tuesday


@pytest.fixture
def clock():
    """A clock stopped at FIXED_NOW."""
    return lambda: FIXED_NOW


@pytest.fixture
def embedder() -> HashEmbedder:
    """A hashing embedder (no model)."""
    return HashEmbedder()


@pytest.fixture
def scripted() -> ScriptedBackend:
    """An empty scripted model; tests enqueue what it says."""
    return ScriptedBackend()


@pytest.fixture
def config(tmp_path: Path):
    """Default settings with the data dir in the test's own temporary directory; personas off (their tests turn them on)."""
    from assistant.config import Config

    return Config(data_dir=tmp_path / "data", persona="off")


@pytest.fixture(scope="session")
def model_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir whose models/ holds the real converted Gemma model, shared by every real-model test."""
    from assistant.backends.gguf import ensure_safetensors

    data = tmp_path_factory.mktemp("model-data")
    ensure_safetensors(data / "models")
    return data


@pytest.fixture(scope="session")
def embedded(model_data_dir: Path):
    """The real embedded backend, loaded once per test session."""
    from assistant.backends.local import EmbeddedBackend

    backend = EmbeddedBackend(model_data_dir / "models")
    backend.load()
    return backend


@pytest.fixture(scope="session")
def adapted(model_data_dir: Path):
    """The real embedded backend with the shipped tool-use adapter (the product default), loaded once."""
    from assistant.backends.local import EmbeddedBackend
    from assistant.config import BUILTIN_ADAPTER

    if not (BUILTIN_ADAPTER / "adapter_config.json").is_file():
        pytest.fail(f"the shipped adapter is missing from {BUILTIN_ADAPTER}")
    backend = EmbeddedBackend(model_data_dir / "models", adapter=BUILTIN_ADAPTER)
    backend.load()
    return backend


@pytest.fixture(params=["embedded", "adapted"])
def model(request):
    """Each real model set-up in turn: the base model with demonstrations, and the adapted model."""
    return request.getfixturevalue(request.param)
