"""Instruction metadata: the encoder prompt, the reply parser, optional vocabularies and the augmenter."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace
from typing import Any, Sequence

from assistant.alignment.prompts import render_prompt, templates
from assistant.alignment.records import MalformedReply, Metadata

MAX_SKILLS = 3
_USE_CASE = re.compile(r"^[ \t#*]*use case[ \t*]*:[ \t*]*(.*)$", re.IGNORECASE | re.MULTILINE)
_SKILLS = re.compile(r"^[ \t#*]*skills?[ \t*]*:[ \t*]*(.*)$", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Vocabulary:
    """Predefined use cases and skills (off by default): encoded metadata is kept inside them."""

    use_cases: tuple[str, ...]
    skills: tuple[str, ...]

    def constrain(self, metadata: Metadata) -> Metadata | None:
        """The metadata with its skills limited to the vocabulary, or None when its use case is outside it."""
        use_cases = {u.lower(): u for u in self.use_cases}
        skills = {s.lower(): s for s in self.skills}
        use_case = use_cases.get(metadata.use_case.strip().lower())
        if use_case is None:
            return None
        kept = [skills[s.lower()] for s in metadata.skills if s.lower() in skills]
        return replace(metadata, use_case=use_case, skills=kept)


def encoder_prompt(instruction: str, *, examples: Sequence[dict[str, Any]] | None = None, vocab: Vocabulary | None = None) -> str:
    """The instruction-analyzer prompt for one seed; `examples` replace the few-shot examples of templates.yaml."""
    examples = templates()["encoder"]["examples"] if examples is None else list(examples)
    return render_prompt("encoder", instruction=instruction.strip(), examples=examples, vocab=vocab)


def parse_metadata(reply: str, *, origin: str = "encoded", seed_id: str | None = None) -> Metadata:
    """Read the first `Use case:` and `Skills:` lines; skills are comma-split, trimmed, and capped at 3 (flagged)."""
    use_case = _USE_CASE.search(reply)
    if use_case is None or not use_case.group(1).strip():
        raise MalformedReply(f"the encoder reply has no 'Use case:' line: {reply.strip()[:120]!r}")
    skills_line = _SKILLS.search(reply, use_case.end())
    skills = [s.strip(" .*\"'") for s in skills_line.group(1).split(",")] if skills_line else []
    skills = [s for s in skills if s]
    return Metadata(use_case.group(1).strip(" .*\"'"), skills[:MAX_SKILLS], origin=origin, seed_id=seed_id,
                    flagged=len(skills) > MAX_SKILLS)


def augment(pool: Sequence[Metadata], n_pairs: int, k_skills: int, rng: random.Random) -> list[Metadata]:
    """New pairs: a use case drawn uniformly from the observed ones, and k distinct skills from the union of skills."""
    if n_pairs <= 0:
        return []
    if k_skills < 1:
        raise ValueError(f"augmentation draws k >= 1 skills, got {k_skills}")
    use_cases = list(dict.fromkeys(m.use_case for m in pool))  # first-seen order: the draws depend only on the seed
    skills = list(dict.fromkeys(s for m in pool for s in m.skills))
    if not use_cases or not skills:
        raise ValueError("augmentation needs at least one observed use case and one observed skill")
    k = min(k_skills, len(skills))
    return [Metadata(rng.choice(use_cases), rng.sample(skills, k), origin="augmented") for _ in range(n_pairs)]
