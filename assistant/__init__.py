"""A conversational assistant whose model calls tools by writing tool tokens.

`from assistant import Assistant` is resolved lazily, so that importing a submodule (`assistant.markup`)
never drags in the whole application.
"""

from typing import Any

_EXPORTS = {
    "Assistant": "assistant.chat",
    "Config": "assistant.config",
    **{name: "assistant.types" for name in ("Call", "FinalAnswer", "Notice", "TextDelta", "ToolCall", "ToolResult", "Turn")},
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'assistant' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)
