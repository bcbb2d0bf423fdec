"""The pipeline's prompt templates (`templates.yaml`), rendered strictly: an undefined value raises."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from assistant.prompts import render

TEMPLATES = Path(__file__).with_name("templates.yaml")


@lru_cache(maxsize=1)
def templates() -> dict[str, dict[str, Any]]:
    """Every template entry by name (encoder, decoder, rubrics, improver, responder, judge_pointwise, judge_pairwise)."""
    return yaml.safe_load(TEMPLATES.read_text(encoding="utf-8"))


def render_prompt(name: str, **values: Any) -> str:
    """Render one template with its values."""
    return render(templates()[name]["template"], **values)
