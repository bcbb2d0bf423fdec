"""Language model backends behind one interface (`Backend.stream`)."""

from __future__ import annotations

from assistant.backends.base import Backend
from assistant.config import BackendKind, Config


def make_backend(config: Config) -> Backend:
    """The backend the configuration asks for; nothing is loaded until first use."""
    if config.backend is BackendKind.EMBEDDED:
        from assistant.backends.local import EmbeddedBackend

        return EmbeddedBackend(config.models_dir, threads=config.threads, adapter=config.adapter_dir())
    if config.backend is BackendKind.TRANSFORMERS:
        from assistant.backends.local import TransformersBackend

        adapter = config.adapter_dir() if config.adapter != "builtin" else None  # the builtin one fits only the embedded model
        return TransformersBackend(config.model, threads=config.threads, cache_dir=config.models_dir / "hub", adapter=adapter)
    from assistant.backends.openai import OpenAIBackend

    return OpenAIBackend(config.base_url, config.model, api_key=config.api_key, api=config.openai_api)


__all__ = ["Backend", "make_backend"]
