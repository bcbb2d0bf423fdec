"""Choosing a backend from the settings; nothing loads until first use."""

from pathlib import Path

from assistant.backends import make_backend
from assistant.backends.local import EmbeddedBackend, TransformersBackend
from assistant.backends.openai import OpenAIBackend
from assistant.config import Config


def test_embedded_is_the_default_and_keeps_its_files_in_the_data_dir():
    backend = make_backend(Config(data_dir=Path("/srv/assistant")))
    assert isinstance(backend, EmbeddedBackend) and backend.can_score
    assert backend.models_dir == Path("/srv/assistant/models") and backend._model is None


def test_transformers_downloads_go_to_the_data_dir():
    backend = make_backend(Config(backend="transformers", model="org/model", data_dir=Path("/srv/a")))
    assert isinstance(backend, TransformersBackend) and backend.model_path() == "org/model"
    assert backend.cache_dir == Path("/srv/a/models/hub")


def test_openai_settings_are_passed_through():
    config = Config(backend="openai", base_url="http://127.0.0.1:8080/v1/", model="m", api_key="k", openai_api="chat")
    backend = make_backend(config)
    assert isinstance(backend, OpenAIBackend) and not backend.can_score
    assert (backend.base_url, backend.model, backend.api) == ("http://127.0.0.1:8080/v1", "m", "chat")
    assert backend.client.headers["Authorization"] == "Bearer k"
