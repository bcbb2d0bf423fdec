"""Synthetic alignment data: metadata-conditioned instructions, self-rubrics and contrastive filtering (spec: synthetic-alignment)."""

from assistant.alignment.metadata import Vocabulary, augment, parse_metadata
from assistant.alignment.pipeline import STEPS, AlignmentPipeline, AlignSettings, run
from assistant.alignment.records import (
    AlignmentError, Decision, FilterRecord, JudgeError, MalformedReply, Metadata, RubricSet, SyntheticInstruction, TrainingRecord,
)
from assistant.alignment.roles import (
    LLM, BackendLLM, LLMDecoder, LLMEncoder, LLMImprover, LLMJudge, LLMResponder, LLMRubricWriter, Roles,
)

__all__ = [
    "STEPS", "AlignSettings", "AlignmentError", "AlignmentPipeline", "BackendLLM", "Decision", "FilterRecord", "JudgeError", "LLM",
    "LLMDecoder", "LLMEncoder", "LLMImprover", "LLMJudge", "LLMResponder", "LLMRubricWriter", "MalformedReply", "Metadata", "Roles",
    "RubricSet", "SyntheticInstruction", "TrainingRecord", "Vocabulary", "augment", "parse_metadata", "run",
]
