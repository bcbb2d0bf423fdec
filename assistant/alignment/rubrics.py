"""Self-rubrics: the rubric/action prompt and parser, the per-metadata cache, the action draw, the improver prompt."""

from __future__ import annotations

import random
import re
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from assistant.alignment.generate import parse_numbered
from assistant.alignment.prompts import render_prompt, templates
from assistant.alignment.records import MalformedReply, Metadata, RubricSet, append_jsonl, read_jsonl

if TYPE_CHECKING:
    from assistant.alignment.roles import RubricWriter

IMPROVED = "Improved instruction:"
_ECHOED = re.compile(r"^\s*(?:improving action item|input instruction)\s*:", re.IGNORECASE | re.MULTILINE)


def rubric_prompt(metadata: Metadata, k: int) -> str:
    """The rubric/action prompt for one metadata pair: K rubrics, then the action items."""
    spec = templates()["rubrics"]
    return render_prompt("rubrics", k=k, use_case=metadata.use_case, skills=", ".join(metadata.skills),
                         rubrics_header=spec["rubrics_header"], actions_header=spec["actions_header"])


def _header(header: str) -> re.Pattern[str]:
    # "Actions:" also matches "**Action items:**" and "### Actions": a header is a stem on its own at a line start.
    stem = re.escape(header.strip().rstrip(":").strip().rstrip("sS"))
    return re.compile(rf"^[ \t#*]*{stem}\w*(?:[ \t]+items?)?[ \t*]*(?::[ \t*]*|$)", re.IGNORECASE | re.MULTILINE)


def parse_rubrics(reply: str, *, rubrics_header: str | None = None, actions_header: str | None = None) -> tuple[list[str], list[str]]:
    """The rubric list and the action list of a reply, split at the actions header (no header: no actions)."""
    spec = templates()["rubrics"]
    actions_at = _header(actions_header or spec["actions_header"]).search(reply)
    head, tail = (reply[: actions_at.start()], reply[actions_at.end():]) if actions_at else (reply, "")
    rubrics_at = _header(rubrics_header or spec["rubrics_header"]).search(head)
    if rubrics_at:
        head = head[rubrics_at.end():]
    return parse_numbered(head), parse_numbered(tail)


class RubricCache:
    """Rubric sets by metadata key: written once per key, kept in a JSONL file so a resumed run reuses them."""

    def __init__(self, path: Path, writer: "RubricWriter", k: int) -> None:
        self.path = Path(path)
        self.writer = writer
        self.k = k
        self._sets = {r["metadata_key"]: RubricSet.from_dict(r) for r in read_jsonl(self.path)}

    def __contains__(self, metadata: Metadata) -> bool:
        return metadata.key in self._sets

    def get(self, metadata: Metadata) -> RubricSet:
        """The pair's rubric set, asking the rubric writer only the first time."""
        if metadata.key not in self._sets:
            found = self.writer.rubrics(metadata, self.k)
            found = replace(found, metadata_key=metadata.key)
            append_jsonl(self.path, found.to_dict())
            self._sets[metadata.key] = found
        return self._sets[metadata.key]


def choose_action(rubric_set: RubricSet, applied: Sequence[str], rng: random.Random, reuse: bool = True) -> str:
    """One action drawn uniformly; without reuse, from those not applied yet (all of them once every one was)."""
    if not rubric_set.actions:
        raise MalformedReply(f"no action items for {rubric_set.metadata_key!r}: the rubric reply had no actions")
    fresh = [a for a in rubric_set.actions if a not in applied]
    return rng.choice(rubric_set.actions if reuse or not fresh else fresh)


def improver_prompt(instruction: str, action: str) -> str:
    """The improver prompt: exactly one action item and the instruction to improve."""
    return render_prompt("improver", action=action.strip(), instruction=instruction.strip())


def parse_improved(reply: str) -> str:
    """The text after `Improved instruction:` (the whole reply without it), cut before an echoed next prompt."""
    at = reply.lower().find(IMPROVED.lower())
    text = reply[at + len(IMPROVED):] if at >= 0 else reply
    echoed = _ECHOED.search(text)
    text = (text[: echoed.start()] if echoed else text).strip().strip('"').strip()
    if not text:
        raise MalformedReply(f"the improver returned no instruction: {reply.strip()[:120]!r}")
    return text
