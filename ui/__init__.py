"""The Gradio front end."""

from ui.chat import build_ui, launch

__all__ = ["build_ui", "launch"]
