"""The pipeline's records (metadata, rubrics, instructions, filter decisions, training pairs) and their JSONL files."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Sequence

from assistant.errors import AssistantError

log = logging.getLogger(__name__)

ORIGINS = ("encoded", "user", "augmented")


class AlignmentError(AssistantError):
    """The alignment pipeline cannot go on (bad input file, missing role, inconsistent work directory)."""


class MalformedReply(AlignmentError, ValueError):
    """A model reply does not have the shape its prompt asked for."""


class JudgeError(MalformedReply):
    """The judge's reply holds no score; the pipeline records the pair as a drop with this reason."""


class Decision(str, Enum):
    """What the contrastive filter does with a scored instruction."""

    KEEP_STRONG = "keep_strong"  # G > θ: store (x, R_s)
    KEEP_TARGET = "keep_target"  # G < −θ with the regulariser on: store (x, R_t)
    REFINE = "refine"  # similar quality: back to the improver
    DROP = "drop"


@dataclass
class Metadata:
    """One instruction's use case and up to three transferable skills."""

    use_case: str
    skills: list[str]
    origin: str = "user"  # encoded | user | augmented
    seed_id: str | None = None
    flagged: bool = False  # the encoder returned more than three skills (the list was capped)

    def __post_init__(self) -> None:
        if not isinstance(self.use_case, str) or not self.use_case.strip():
            raise ValueError(f"a use case must be a non-empty string, got {self.use_case!r}")
        if isinstance(self.skills, str) or not all(isinstance(s, str) for s in self.skills):
            raise ValueError(f"skills must be a list of strings, got {self.skills!r}")
        if self.origin not in ORIGINS:
            raise ValueError(f"origin must be one of {', '.join(ORIGINS)}, got {self.origin!r}")
        self.skills = list(self.skills)

    @property
    def key(self) -> str:
        """The pair as one string: rubrics are cached under it."""
        return f"{self.use_case} | {', '.join(self.skills)}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Metadata":
        """Read `to_dict` output (other keys are ignored)."""
        return cls(data["use_case"], list(data.get("skills") or []), data.get("origin", "user"), data.get("seed_id"),
                   bool(data.get("flagged", False)))


@dataclass
class RubricSet:
    """The difficulty rubrics and improving actions written once for a metadata pair."""

    metadata_key: str
    rubrics: list[str]
    actions: list[str]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RubricSet":
        """Read `to_dict` output."""
        return cls(data["metadata_key"], list(data["rubrics"]), list(data["actions"]))


@dataclass
class SyntheticInstruction:
    """A decoded (round 0) or refined instruction, linked to the metadata it came from."""

    id: str
    text: str
    metadata: Metadata
    parent_id: str | None = None
    round: int = 0
    actions_applied: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # free-form data from the decoder, e.g. a gold answer

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"id": self.id, "text": self.text, "metadata": self.metadata.to_dict(), "parent_id": self.parent_id,
                "round": self.round, "actions_applied": list(self.actions_applied), "extra": self.extra}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SyntheticInstruction":
        """Read `to_dict` output."""
        return cls(data["id"], data["text"], Metadata.from_dict(data["metadata"]), data.get("parent_id"),
                   int(data.get("round", 0)), list(data.get("actions_applied") or []), dict(data.get("extra") or {}))


@dataclass
class FilterRecord:
    """One routing decision: both responses, both scores, the gap, and what was done."""

    instruction_id: str
    round: int
    R_s: str
    R_t: str
    S_s: float | None
    S_t: float | None
    G: float | None
    decision: Decision
    reason: str = ""  # "" | exhausted | regularizer_off | judge_error
    detail: str = ""  # the judge error's message

    def __post_init__(self) -> None:
        self.decision = Decision(self.decision)

    @property
    def outcome(self) -> str:
        """The summary's name for this record: keep_strong, keep_target, kept_last, refine, dropped_* or judge_errors."""
        if self.reason == "judge_error":
            return "judge_errors"
        if self.reason == "exhausted":
            return "dropped_exhausted" if self.decision is Decision.DROP else "kept_last"
        if self.reason == "regularizer_off":
            return "dropped_regularizer_off"
        return self.decision.value

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {**asdict(self), "decision": self.decision.value}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FilterRecord":
        """Read `to_dict` output."""
        return cls(data["instruction_id"], int(data["round"]), data["R_s"], data["R_t"], data["S_s"], data["S_t"], data["G"],
                   Decision(data["decision"]), data.get("reason", ""), data.get("detail", ""))


@dataclass
class TrainingRecord:
    """One pair of the training pool D_g, with the response that was actually compared."""

    instruction: str
    response: str
    response_source: str  # strong | target
    metadata: Metadata
    rounds: int
    instruction_id: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {**asdict(self), "metadata": self.metadata.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainingRecord":
        """Read `to_dict` output."""
        return cls(data["instruction"], data["response"], data["response_source"], Metadata.from_dict(data["metadata"]),
                   int(data["rounds"]), data["instruction_id"], dict(data.get("extra") or {}))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every record of a JSONL file ([] when it is missing); an unfinished last line, left by a crash, is skipped."""
    path = Path(path)
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            if number == len(lines):  # no newline after it: the write was cut short
                log.warning("%s: skipping the unfinished last line", path)
                continue
            raise AlignmentError(f"{path}:{number}: not a JSON line ({exc.msg})") from None
        if not isinstance(record, dict):
            raise AlignmentError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
        records.append(record)
    return records


def append_jsonl(path: Path, *records: dict[str, Any]) -> None:
    """Append records, one line each, in one write, flushed and fsynced; an unfinished last line is cut off first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = _jsonl(records).encode("utf-8")
    with open(path, "a+b") as f:
        size = f.seek(0, os.SEEK_END)
        if size:
            f.seek(size - 1)
            if f.read(1) != b"\n":
                f.seek(0)
                f.truncate(f.read().rfind(b"\n") + 1)
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def write_jsonl(path: Path, records: Sequence[dict[str, Any]]) -> None:
    """Replace a JSONL file with these records, atomically."""
    write_atomic(path, _jsonl(records))


def _jsonl(records: Sequence[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def write_atomic(path: Path, text: str) -> None:
    """Replace a file's content in one step, so a crash never leaves it half written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    staging.write_text(text, encoding="utf-8")
    os.replace(staging, path)
