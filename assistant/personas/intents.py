"""What a turn was about (its intent), and the plain output set fulfilment gives for it (spec §4, §9, §10)."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import yaml

from assistant.types import Call
from tools.results import result_fields

INTENTS_FILE = Path(__file__).with_name("intents.yaml")
FACTUAL, OPEN = "factual", "open"


@lru_cache(maxsize=4)
def table(path: Path = INTENTS_FILE) -> dict[str, Any]:
    """The intents file, checked: every intent has a class, every related entry a source and an answer."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for name, spec in data["intents"].items():
        if spec.get("class") not in (FACTUAL, OPEN):
            raise ValueError(f"{path.name}: intent {name!r} needs class factual or open")
    for name, entries in data.get("related", {}).items():
        if name not in data["intents"]:
            raise ValueError(f"{path.name}: related intents of unknown intent {name!r}")
        for entry in entries:
            if entry.get("source") not in ("tool", "profile") or not entry.get("answer"):
                raise ValueError(f"{path.name}: a related intent of {name!r} needs source (tool or profile) and answer")
    return data


@dataclass(frozen=True)
class Intent:
    """The NLU result for one turn: a name from intents.yaml, its class and how sure we are."""

    name: str
    kind: str  # factual | open
    confidence: float  # 1.0 from a tool the agent called, 0.8 from cue words, 0.5 for the `chat` fallback

    @property
    def factual(self) -> bool:
        """A quick factual answer or a search (spec §9: not worth a rewrite)."""
        return self.kind == FACTUAL


def _words(text: str) -> str:
    return " " + " ".join(text.lower().translate(str.maketrans({c: " " for c in string.punctuation if c != "'"})).split()) + " "


def classify(message: str, calls: Sequence[Call] = (), *, time_class: str = OPEN) -> Intent:
    """The intent of a turn: from the first tool called (not the runtime's memory pre-fetch), else cue words, else chat."""
    intents = table()["intents"]
    for call in calls:
        if call.step == 0:
            continue  # memories the runtime fetched before the model ran say nothing about the intent
        for name, spec in intents.items():
            if spec.get("tool") == call.tool:
                kind = time_class if name == "time" else spec["class"]
                return Intent(name, kind, 1.0)
        break
    words = _words(message)
    for name, spec in intents.items():
        if any(f" {cue} " in words for cue in spec.get("cues", ())):
            return Intent(name, spec["class"], 0.8)
    return Intent("chat", intents["chat"]["class"], 0.5)


def _same_day(when: str, today: str) -> str:
    """'Tue 14 May 10:30 AM' -> '10:30 AM' when it is today; otherwise unchanged."""
    return when[len(today):].strip() if today and when.startswith(today) else when


def plain_outputs(intent: Intent, calls: Sequence[Call], answer: str, *, time_of_day: str = "", today: str = "") -> list[str]:
    """The plain output set: the intent's templates over the tool results, then the agent's own answer; no duplicates.

    `today` is the day label reminders use for today ("Tue 14 May"), so a reminder for today reads "10:30 AM".
    """
    fields: dict[str, str] = {"time_of_day": time_of_day or "day"}
    for call in reversed([c for c in calls if c.ok]):
        fields = {**result_fields(call.tool, call.result), **fields}
    if "when12" in fields:
        fields["when12"] = _same_day(fields["when12"], today)
    outputs = []
    for template in table()["intents"].get(intent.name, {}).get("plain", ()):
        try:
            outputs.append(template.format(**fields))
        except (KeyError, IndexError, ValueError):
            continue  # the result did not have that field (e.g. a tool error): no such plain output
    if answer.strip():
        outputs.append(" ".join(answer.split()))
    return list(dict.fromkeys(o for o in outputs if o.strip()))


def related(intent: Intent) -> list[dict[str, Any]]:
    """The related intents of an intent (spec §7), as written in intents.yaml."""
    return list(table().get("related", {}).get(intent.name, ()))


def profile_value(profile: dict[str, Any], dotted: str) -> Any:
    """`places.beach` of a profile dict, or None."""
    value: Any = profile
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value or None


def fill(template: str, profile: dict[str, Any]) -> str:
    """A template with {places.beach}-style profile fields filled in; KeyError when one is missing."""
    def value(match: re.Match[str]) -> str:
        found = profile_value(profile, match[1])
        if found is None:
            raise KeyError(match[1])
        return " or ".join(found) if isinstance(found, (list, tuple)) else str(found)

    return re.sub(r"\{([a-z_]+(?:\.[a-z_]+)+)\}", value, template)
