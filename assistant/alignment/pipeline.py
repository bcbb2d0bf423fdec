"""The pipeline as resumable steps over JSONL files in one work directory; `run` does them all in order.

Each step reads its inputs from the directory and appends its outputs one record at a time, skipping inputs
already handled, so a killed run continues where it stopped and a finished step does nothing when rerun.
"""

from __future__ import annotations

import json
import logging
import math
import random
from dataclasses import asdict, dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any, Iterable, Sequence

from tqdm.auto import tqdm

from assistant.alignment.filter import SCALE, gap, route
from assistant.alignment.generate import base_instructions
from assistant.alignment.metadata import Vocabulary, augment
from assistant.alignment.records import (
    AlignmentError, Decision, FilterRecord, JudgeError, MalformedReply, Metadata, RubricSet, SyntheticInstruction,
    TrainingRecord, append_jsonl, read_jsonl, write_atomic, write_jsonl,
)
from assistant.alignment.roles import JUDGE_MODES, Roles
from assistant.alignment.rubrics import RubricCache, choose_action
from assistant.errors import ConfigError

log = logging.getLogger(__name__)

STEPS = ("metadata", "augment", "instructions", "rubrics", "respond", "score", "filter", "improve", "export")
OUTCOMES = ("keep_strong", "keep_target", "kept_last", "refine", "dropped_exhausted", "dropped_regularizer_off", "judge_errors")
METADATA, INSTRUCTIONS, RUBRICS, RESPONSES = "metadata.jsonl", "instructions.jsonl", "rubrics.jsonl", "responses.jsonl"
SCORES, FILTER, POOL, SKIPPED = "scores.jsonl", "filter.jsonl", "pool.jsonl", "skipped.jsonl"
DATASET, SUMMARY = "dataset.jsonl", "summary.json"


class RefineMode(str, Enum):
    """What the next improvement starts from."""

    COMPOUND = "compound"  # the latest refined text
    RESTART = "restart"  # the base instruction


class OnExhausted(str, Enum):
    """What happens to an instruction still similar after the last refinement round."""

    DROP = "drop"
    KEEP_LAST = "keep_last"  # keep (x, R_s) of the last round


@dataclass(frozen=True)
class AlignSettings:
    """Every setting of the pipeline (spec §7)."""

    theta: float = 3.0  # θ on the judge's scale: a pair is kept when |G| > θ
    n_instructions: int = 5  # N: instructions the decoder writes per metadata pair
    n_rubrics: int = 4  # K: rubrics per metadata pair
    n_actions: int | None = None  # action items used per pair; None: every one the rubric writer gave
    max_refine_rounds: int = 4  # improvements of one instruction before on_exhausted applies
    refine: bool = True  # False: base instructions go straight to the responders, no rubrics
    refine_mode: RefineMode = RefineMode.COMPOUND
    action_reuse: bool = True  # an action already applied to the instruction may be drawn again
    regularizer: bool = True  # G < −θ keeps (x, R_t)
    regularizer_off_action: str = "refine"  # G < −θ without the regulariser: refine or drop
    on_exhausted: OnExhausted = OnExhausted.DROP
    augment_pairs: int = 0  # augmented metadata pairs to add (0: off)
    augment_k: int = 2  # distinct skills per augmented pair
    judge_mode: str = "pointwise"  # pointwise (one prompt per response) or pairwise
    judge_scale: tuple[float, float] = SCALE
    seed: int = 0  # every random draw derives from it
    vocab: Vocabulary | None = None  # predefined use cases and skills (off)
    limit: int | None = None  # use only the first N metadata pairs (quick runs)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "refine_mode", RefineMode(str(getattr(self.refine_mode, "value", self.refine_mode))))
            on_exhausted = str(getattr(self.on_exhausted, "value", self.on_exhausted)).replace("-", "_")
            object.__setattr__(self, "on_exhausted", OnExhausted(on_exhausted))
        except ValueError as exc:
            raise ConfigError(f"alignment settings: {exc}") from None
        object.__setattr__(self, "judge_scale", (float(self.judge_scale[0]), float(self.judge_scale[1])))
        problems = [
            (not math.isfinite(self.theta), f"theta must be a finite number, got {self.theta}"),
            (self.n_instructions < 1 or self.n_rubrics < 1, "n_instructions and n_rubrics must be at least 1"),
            (self.n_actions is not None and self.n_actions < 1, "n_actions must be at least 1 (or unset)"),
            (self.max_refine_rounds < 0, "max_refine_rounds must be 0 or more"),
            (self.regularizer_off_action not in ("refine", "drop"), "regularizer_off_action must be refine or drop"),
            (self.augment_pairs < 0 or self.augment_k < 1, "augment_pairs must be 0 or more and augment_k at least 1"),
            (self.judge_mode not in JUDGE_MODES, f"judge_mode must be pointwise or pairwise, got {self.judge_mode!r}"),
            (not self.judge_scale[0] < self.judge_scale[1], "judge_scale must be (low, high) with low < high"),
            (self.limit is not None and self.limit < 1, "limit must be at least 1 (or unset)"),
        ]
        for failed, message in problems:
            if failed:
                raise ConfigError(f"alignment settings: {message}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (written into the summary, so every artifact says how it was made)."""
        data = asdict(self)
        data.update(refine_mode=self.refine_mode.value, on_exhausted=self.on_exhausted.value)
        return json.loads(json.dumps(data))  # tuples as lists, as summary.json will hold them


def _root_id(instruction_id: str) -> str:
    return instruction_id.split(".r", 1)[0]  # refinements of m3-1 are m3-1.r1, m3-1.r2, ...


class AlignmentPipeline:
    """The steps of one run in one work directory; each returns how many records it added."""

    def __init__(self, workdir: Path, roles: Roles, settings: AlignSettings | None = None, *, progress: bool = True) -> None:
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.roles = roles
        self.settings = settings or AlignSettings()
        self.progress = progress

    # -- files --------------------------------------------------------------------------------------------

    def _read(self, name: str) -> list[dict[str, Any]]:
        return read_jsonl(self.dir / name)

    def _append(self, name: str, *records: dict[str, Any]) -> None:
        append_jsonl(self.dir / name, *records)

    def _skip(self, step: str, item_id: str, reason: str) -> None:
        log.warning("%s: skipping %s: %s", step, item_id, reason)
        self._append(SKIPPED, {"step": step, "id": item_id, "reason": reason})

    def _skipped(self, step: str) -> set[str]:
        return {r["id"] for r in self._read(SKIPPED) if r["step"] == step}

    def _bar(self, items: Sequence[Any], step: str) -> Iterable[Any]:
        return tqdm(items, desc=step, unit="item", disable=not self.progress or not items)

    def metadata_pairs(self) -> list[tuple[str, Metadata]]:
        """(id, metadata) of the pairs in use, in file order (at most `limit`)."""
        rows = [(r["id"], Metadata.from_dict(r)) for r in self._read(METADATA)]
        return rows[: self.settings.limit]

    def instructions_in_use(self) -> list[SyntheticInstruction]:
        """Every instruction, base and refined, from the pairs in use."""
        limit = self.settings.limit
        found = [SyntheticInstruction.from_dict(r) for r in self._read(INSTRUCTIONS)]
        return [i for i in found if limit is None or int(_root_id(i.id)[1:].split("-")[0]) < limit]

    def rubric_cache(self) -> RubricCache:
        """The per-pair rubric sets of this work directory."""
        return RubricCache(self.dir / RUBRICS, self.roles.rubric_writer, self.settings.n_rubrics)

    # -- steps --------------------------------------------------------------------------------------------

    def metadata(self, *, seeds: Sequence[str] | None = None, metadata: Sequence[Metadata] | None = None) -> int:
        """Metadata from seeds through the encoder (`s{i}`), or expert metadata as given (`u{i}`); duplicates kept."""
        if seeds is not None and metadata is not None:
            raise AlignmentError("give seeds or expert metadata, not both")
        rows = self._read(METADATA)
        if seeds is None and metadata is None:
            if not rows:
                raise AlignmentError(f"no metadata in {self.dir}: give seeds (instructions to encode) or expert metadata")
            return 0
        prefix = "s" if seeds is not None else "u"
        if any(r["id"][0] not in (prefix, "a") for r in rows):
            started = "expert metadata" if prefix == "s" else "seeds"
            raise AlignmentError(f"{self.dir} was started from {started}; use another work directory")
        if seeds is not None and self.roles.encoder is None:
            raise AlignmentError("these roles have no encoder: give expert metadata instead of seeds")
        done = {r["id"] for r in rows} | self._skipped("metadata")
        sources = [(f"u{i}", pair) for i, pair in enumerate(metadata)] if metadata is not None else \
            [(f"s{i}", text) for i, text in enumerate(seeds or ())]
        added = 0
        for item_id, source in self._bar([s for s in sources if s[0] not in done], "metadata"):
            try:
                pair = source if isinstance(source, Metadata) else \
                    replace(self.roles.encoder.encode(source), origin="encoded", seed_id=item_id)
            except MalformedReply as exc:
                self._skip("metadata", item_id, str(exc))
                continue
            kept = self.settings.vocab.constrain(pair) if self.settings.vocab else pair
            if kept is None:
                self._skip("metadata", item_id, f"use case {pair.use_case!r} is not in the vocabulary")
                continue
            self._append(METADATA, {"id": item_id, **kept.to_dict()})
            added += 1
        return added

    def augment(self) -> int:
        """Add `augment_pairs` seeded pairs (`a{i}`) drawn from the observed use cases and skills."""
        if self.settings.augment_pairs <= 0:
            return 0
        rows = self._read(METADATA)
        observed = [Metadata.from_dict(r) for r in rows if not r["id"].startswith("a")]
        rng = random.Random(f"{self.settings.seed}:augment")
        pairs = augment(observed, self.settings.augment_pairs, self.settings.augment_k, rng)
        done = {r["id"] for r in rows}
        new = [{"id": f"a{i}", **pair.to_dict()} for i, pair in enumerate(pairs) if f"a{i}" not in done]
        if new:
            self._append(METADATA, *new)
        return len(new)

    def instructions(self) -> int:
        """Round-0 instructions `m{index}-{k}`: N per metadata pair, from the decoder."""
        done = {_root_id(i.id).rsplit("-", 1)[0] for i in self.instructions_in_use()} | self._skipped("instructions")
        pending = [(index, pair) for index, (_, pair) in enumerate(self.metadata_pairs()) if f"m{index}" not in done]
        added = 0
        for index, pair in self._bar(pending, "instructions"):
            made = base_instructions(self.roles.decoder, pair, self.settings.n_instructions, index=index)
            if not made:
                self._skip("instructions", f"m{index}", "the decoder wrote no instruction")
                continue
            self._append(INSTRUCTIONS, *[i.to_dict() for i in made])
            added += len(made)
        return added

    def rubrics(self) -> int:
        """Rubrics and actions, once per metadata pair (nothing when refinement is off)."""
        if not self.settings.refine:
            return 0
        cache = self.rubric_cache()
        pairs = {i.metadata.key: i.metadata for i in self.instructions_in_use()}
        pending = [pair for pair in pairs.values() if pair not in cache]
        for pair in self._bar(pending, "rubrics"):
            cache.get(pair)
        return len(pending)

    def respond(self) -> int:
        """Fresh strong and target responses to every instruction that has none, both on the same text."""
        have = {(r["instruction_id"], r["role"]) for r in self._read(RESPONSES)}
        pending = [i for i in self.instructions_in_use() if (i.id, "strong") not in have or (i.id, "target") not in have]
        added = 0
        for instruction in self._bar(pending, "respond"):
            for role in ("strong", "target"):
                if (instruction.id, role) not in have:
                    response = getattr(self.roles, role).respond(instruction)
                    self._append(RESPONSES, {"instruction_id": instruction.id, "round": instruction.round, "role": role,
                                             "response": response})
                    added += 1
        return added

    def _responses(self) -> dict[tuple[str, str], str]:
        return {(r["instruction_id"], r["role"]): r["response"] for r in self._read(RESPONSES)}

    def score(self) -> int:
        """Judge scores of both responses; a judge reply without a score is recorded as an error."""
        if self.settings.judge_mode == "pairwise" and not hasattr(self.roles.judge, "score_pair"):
            raise AlignmentError("judge_mode pairwise needs a judge with score_pair")
        responses = self._responses()
        scored = {r["instruction_id"] for r in self._read(SCORES)}
        pending = [i for i in self.instructions_in_use()
                   if i.id not in scored and (i.id, "strong") in responses and (i.id, "target") in responses]
        for instruction in self._bar(pending, "score"):
            R_s, R_t = responses[instruction.id, "strong"], responses[instruction.id, "target"]
            try:
                if self.settings.judge_mode == "pairwise":
                    S_s, S_t = self.roles.judge.score_pair(instruction, R_s, R_t)
                else:
                    S_s, S_t = self.roles.judge.score(instruction, R_s), self.roles.judge.score(instruction, R_t)
                if not (math.isfinite(S_s) and math.isfinite(S_t)):
                    raise JudgeError(f"the judge gave a score that is not a number: {S_s}, {S_t}")
                row = {"instruction_id": instruction.id, "S_s": float(S_s), "S_t": float(S_t), "error": ""}
            except JudgeError as exc:
                row = {"instruction_id": instruction.id, "S_s": None, "S_t": None, "error": str(exc)}
            self._append(SCORES, row)
        return len(pending)

    def decide(self, instruction: SyntheticInstruction, R_s: str, R_t: str, scores: dict[str, Any]) -> FilterRecord:
        """The filter record of one scored instruction: routed on G, then the round cap and the regulariser setting."""
        s = self.settings
        if scores["error"]:
            return FilterRecord(instruction.id, instruction.round, R_s, R_t, None, None, None, Decision.DROP, "judge_error",
                                scores["error"])
        G = gap(scores["S_s"], scores["S_t"])
        decision = route(G, s.theta, regularizer=s.regularizer, regularizer_off_action=s.regularizer_off_action)
        reason = "regularizer_off" if decision is Decision.DROP else ""
        if decision is Decision.REFINE and (not s.refine or instruction.round >= s.max_refine_rounds):
            reason = "exhausted"
            decision = Decision.KEEP_STRONG if s.on_exhausted is OnExhausted.KEEP_LAST else Decision.DROP
        return FilterRecord(instruction.id, instruction.round, R_s, R_t, scores["S_s"], scores["S_t"], G, decision, reason)

    def filter(self) -> int:
        """Route every scored instruction; kept pairs go to the pool D_g with the response that was compared."""
        responses = self._responses()
        scores = {r["instruction_id"]: r for r in self._read(SCORES)}
        decided = {r["instruction_id"] for r in self._read(FILTER)}
        pooled = {r["instruction_id"] for r in self._read(POOL)}
        pending = [i for i in self.instructions_in_use() if i.id in scores and i.id not in decided]
        for instruction in self._bar(pending, "filter"):
            R_s, R_t = responses[instruction.id, "strong"], responses[instruction.id, "target"]
            record = self.decide(instruction, R_s, R_t, scores[instruction.id])
            if record.decision in (Decision.KEEP_STRONG, Decision.KEEP_TARGET) and instruction.id not in pooled:
                strong = record.decision is Decision.KEEP_STRONG
                kept = TrainingRecord(instruction.text, record.R_s if strong else record.R_t, "strong" if strong else "target",
                                      instruction.metadata, instruction.round, instruction.id, dict(instruction.extra))
                self._append(POOL, kept.to_dict())
            self._append(FILTER, record.to_dict())
        return len(pending)

    def improve(self) -> int:
        """One new round for every instruction routed to refine: one random action item per improver call."""
        if not self.settings.refine:
            return 0
        s = self.settings
        known = {i.id: i for i in self.instructions_in_use()}
        skipped = self._skipped("improve")
        refine = [known[r["instruction_id"]] for r in self._read(FILTER)
                  if r["decision"] == Decision.REFINE.value and r["instruction_id"] in known]
        pending = [i for i in refine if f"{_root_id(i.id)}.r{i.round + 1}" not in known and i.id not in skipped]
        cache = self.rubric_cache() if pending else None
        added = 0
        for instruction in self._bar(pending, "improve"):
            lineage = [instruction]
            while lineage[0].parent_id in known:
                lineage.insert(0, known[lineage[0].parent_id])
            source = instruction if s.refine_mode is RefineMode.COMPOUND else lineage[0]
            rng = random.Random(f"{s.seed}:{instruction.id}")  # the same draw when a resumed run gets here again
            try:
                rubric_set = cache.get(instruction.metadata)
                actions = RubricSet(rubric_set.metadata_key, rubric_set.rubrics, rubric_set.actions[: s.n_actions])
                action = choose_action(actions, [a for node in lineage for a in node.actions_applied], rng, s.action_reuse)
                text = self.roles.improver.improve(source, action)
            except MalformedReply as exc:
                self._skip("improve", instruction.id, str(exc))
                continue
            child = SyntheticInstruction(f"{_root_id(instruction.id)}.r{instruction.round + 1}", text, instruction.metadata,
                                         parent_id=instruction.id, round=instruction.round + 1,
                                         actions_applied=[*source.actions_applied, action], extra=dict(instruction.extra))
            self._append(INSTRUCTIONS, child.to_dict())
            added += 1
        return added

    def refine_loop(self) -> int:
        """respond → score → filter → improve, round after round, until nothing is pending; returns the rounds run."""
        for rounds in range(1, self.settings.max_refine_rounds + 2):  # each round raises every pending instruction's round
            self.respond()
            self.score()
            self.filter()
            if not self.improve():
                return rounds
        return self.settings.max_refine_rounds + 1

    def export(self) -> dict[str, Any]:
        """Write `dataset.jsonl` (the pool, flat) and `summary.json`; run `post_export` and merge what it returns."""
        pool = [TrainingRecord.from_dict(r) for r in self._read(POOL)]
        rows = [{"instruction": r.instruction, "response": r.response, "response_source": r.response_source,
                 "use_case": r.metadata.use_case, "skills": r.metadata.skills, "rounds": r.rounds,
                 "instruction_id": r.instruction_id, "extra": r.extra} for r in pool]
        write_jsonl(self.dir / DATASET, rows)
        summary = self.summary()
        if self.roles.post_export is not None:
            summary.update(self.roles.post_export(self.dir) or {})
        write_atomic(self.dir / SUMMARY, json.dumps(summary, ensure_ascii=False, indent=2) + "\n")
        return summary

    def summary(self) -> dict[str, Any]:
        """Counts per use case and per filtering outcome, from the files."""
        instructions = {i.id: i for i in self.instructions_in_use()}
        records = [FilterRecord.from_dict(r) for r in self._read(FILTER) if r["instruction_id"] in instructions]
        skipped = self._read(SKIPPED)
        use_cases: dict[str, dict[str, int]] = {}

        def row(use_case: str) -> dict[str, int]:
            return use_cases.setdefault(use_case, {"metadata": 0, "instructions": 0, "dataset": 0, **dict.fromkeys(OUTCOMES, 0)})

        for _, pair in self.metadata_pairs():
            row(pair.use_case)["metadata"] += 1
        for instruction in instructions.values():
            row(instruction.metadata.use_case)["instructions"] += instruction.round == 0
        for record in records:
            row(instructions[record.instruction_id].metadata.use_case)[record.outcome] += 1
        for kept in self._read(POOL):
            if kept["instruction_id"] in instructions:
                row(kept["metadata"]["use_case"])["dataset"] += 1
        ended = {_root_id(r.instruction_id) for r in records if r.decision is not Decision.REFINE}
        ended |= {_root_id(r["id"]) for r in skipped if r["step"] == "improve"}
        bases = [i for i in instructions.values() if i.round == 0]
        return {
            "workdir": str(self.dir),
            "metadata": len(self.metadata_pairs()),
            "instructions": len(bases),
            "refined_instructions": len(instructions) - len(bases),
            "dataset": sum(u["dataset"] for u in use_cases.values()),
            "outcomes": {name: sum(u[name] for u in use_cases.values()) for name in OUTCOMES},
            "pending": sum(i.id not in ended for i in bases),
            "skipped": {step: sum(r["step"] == step for r in skipped) for step in dict.fromkeys(r["step"] for r in skipped)},
            "use_cases": use_cases,
            "settings": self.settings.to_dict(),
        }


def run(workdir: Path, roles: Roles, settings: AlignSettings | None = None, *, seeds: Sequence[str] | None = None,
        metadata: Sequence[Metadata] | None = None, progress: bool = True) -> dict[str, Any]:
    """Every step in order (metadata, augment, instructions, rubrics, the refinement rounds, export); the summary."""
    pipeline = AlignmentPipeline(workdir, roles, settings, progress=progress)
    pipeline.metadata(seeds=seeds, metadata=metadata)
    pipeline.augment()
    pipeline.instructions()
    pipeline.rubrics()
    pipeline.refine_loop()
    return pipeline.export()
