"""The additional (proactive) query: intent -> related intent -> a hidden query, fulfilled, answered (spec §7).

The hidden query goes to a first-party tool of the registry or straight to the profile; only the answer built
from its result is ever shown ("But if you're going to Half Moon Bay again, expect rain…"), never the query.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from assistant.personas.intents import Intent, fill, profile_value, related
from tools.registry import ToolContext, ToolRegistry
from tools.results import result_fields

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Additional:
    """A fulfilled additional query: the answer to show, who speaks it and where it goes; `query` stays hidden."""

    intent: str
    query: str  # the hidden query (never rendered)
    answer: str
    persona: str
    position: str  # before | after the main reply
    source: str  # tool:<name> | profile


def additional_outputs(intent: Intent, profile: dict[str, Any], *, tools: ToolRegistry, ctx: ToolContext) -> list[Additional]:
    """Every related intent of `intent` that the profile and the tools can fulfil; failures are skipped, not raised."""
    found = []
    for entry in related(intent):
        if any(profile_value(profile, need) is None for need in entry.get("needs", ())):
            continue  # e.g. no usual beach on record: nothing to say
        try:
            if entry["source"] == "tool":
                if entry["tool"] not in tools:
                    continue
                query = fill(entry["query"], profile)
                outcome = tools.run(entry["tool"], query, ctx)
                if not outcome.ok:
                    log.info("additional query %s failed: %s", entry["intent"], outcome.text)
                    continue
                fields = result_fields(entry["tool"], outcome.text)
                answer, source = entry["answer"].format(**fields), f"tool:{entry['tool']}"
            else:
                query, source = entry["intent"], "profile"
                answer = fill(entry["answer"].replace("{cuisines}", "{preferences.cuisines}"), profile)
        except (KeyError, IndexError, ValueError) as exc:
            log.info("additional query %s could not be answered: %s", entry["intent"], exc)
            continue
        found.append(Additional(entry["intent"], query, answer, entry.get("persona", ""), entry.get("position", "after"), source))
    return found
