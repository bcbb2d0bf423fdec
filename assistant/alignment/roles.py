"""The pipeline's roles (encoder, decoder, rubric writer, improver, strong, target, judge) and their LLM-backed versions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

from assistant.alignment.filter import SCALE, Scale, judge_prompt, pair_prompt, parse_pair, parse_score
from assistant.alignment.generate import decoder_prompt, parse_numbered, responder_prompt
from assistant.alignment.metadata import Vocabulary, encoder_prompt, parse_metadata
from assistant.alignment.records import Metadata, RubricSet, SyntheticInstruction
from assistant.alignment.rubrics import improver_prompt, parse_improved, parse_rubrics, rubric_prompt

JUDGE_MODES = ("pointwise", "pairwise")
ROLE_NAMES = ("encoder", "decoder", "rubric_writer", "improver", "strong", "target", "judge")


@runtime_checkable
class LLM(Protocol):
    """A text-in, text-out model client."""

    def complete(self, prompt: str) -> str: ...


class Encoder(Protocol):
    """Turns a seed instruction into its metadata."""

    def encode(self, text: str) -> Metadata: ...


class Decoder(Protocol):
    """Writes instructions for a metadata pair; a tuple carries data (`extra`) for its instruction."""

    def write(self, metadata: Metadata, n: int) -> list[str | tuple[str, dict]]: ...


class RubricWriter(Protocol):
    """Writes K rubrics and the improving actions for a metadata pair."""

    def rubrics(self, metadata: Metadata, k: int) -> RubricSet: ...


class Improver(Protocol):
    """Rewrites an instruction by one action item."""

    def improve(self, instruction: SyntheticInstruction, action: str) -> str: ...


class Responder(Protocol):
    """Answers an instruction (the strong or the target model)."""

    def respond(self, instruction: SyntheticInstruction) -> str: ...


class Judge(Protocol):
    """Scores a response to an instruction; pairwise judges also have `score_pair`."""

    def score(self, instruction: SyntheticInstruction, response: str) -> float: ...


class BackendLLM:
    """The project's `Backend` as an `LLM`, with fixed decoding settings."""

    def __init__(self, backend: Any, max_tokens: int = 256, stop: Sequence[str] = (), temperature: float = 0.0) -> None:
        self.backend = backend
        self.max_tokens = max_tokens
        self.stop = tuple(stop)
        self.temperature = temperature

    def complete(self, prompt: str) -> str:
        """The backend's continuation of the prompt."""
        return self.backend.complete(prompt, stop=self.stop, max_tokens=self.max_tokens, temperature=self.temperature)


class LLMEncoder:
    """The instruction analyzer: one `Use case:` and at most three `Skills:` per seed."""

    def __init__(self, llm: LLM, *, examples: Sequence[dict] | None = None, vocab: Vocabulary | None = None) -> None:
        self.llm, self.examples, self.vocab = llm, examples, vocab

    def encode(self, text: str) -> Metadata:
        """The seed's metadata (origin `encoded`)."""
        reply = self.llm.complete(encoder_prompt(text, examples=self.examples, vocab=self.vocab))
        # The prompt ends with "Use case:"; a model that continues it does not repeat the marker.
        return parse_metadata(reply if "use case" in reply.lower() else "Use case:" + reply)


class LLMDecoder:
    """The instruction writer: a numbered list of N instructions."""

    def __init__(self, llm: LLM) -> None:
        self.llm = llm

    def write(self, metadata: Metadata, n: int) -> list[str | tuple[str, dict]]:
        """At most n instructions for the pair."""
        return list(parse_numbered(self.llm.complete(decoder_prompt(metadata, n)), n))


class LLMRubricWriter:
    """The instruction judge with domain expertise: K rubrics, then the action items."""

    def __init__(self, llm: LLM) -> None:
        self.llm = llm

    def rubrics(self, metadata: Metadata, k: int) -> RubricSet:
        """The pair's rubrics (at most K) and every action item the model wrote."""
        rubrics, actions = parse_rubrics(self.llm.complete(rubric_prompt(metadata, k)))
        return RubricSet(metadata.key, rubrics[:k], actions)


class LLMImprover:
    """The instruction improver with domain expertise."""

    def __init__(self, llm: LLM) -> None:
        self.llm = llm

    def improve(self, instruction: SyntheticInstruction, action: str) -> str:
        """The instruction made more challenging by the one action."""
        return parse_improved(self.llm.complete(improver_prompt(instruction.text, action)))


class LLMResponder:
    """A model answering instructions (used for both f_s and f_t)."""

    def __init__(self, llm: LLM) -> None:
        self.llm = llm

    def respond(self, instruction: SyntheticInstruction) -> str:
        """The model's answer."""
        return self.llm.complete(responder_prompt(instruction.text)).strip()


class LLMJudge:
    """The scorer: pointwise (one prompt per response) or pairwise (both in one prompt), on a 1-10 scale by default.

    `swap` asks the pairwise question in both orders and averages (position bias); `samples` repeats every
    question and averages (useful with a sampling temperature).
    """

    def __init__(self, llm: LLM, *, mode: str = "pointwise", swap: bool = False, samples: int = 1, scale: Scale = SCALE) -> None:
        if mode not in JUDGE_MODES:
            raise ValueError(f"judge mode must be pointwise or pairwise, got {mode!r}")
        if samples < 1:
            raise ValueError(f"samples must be at least 1, got {samples}")
        self.llm, self.mode, self.swap, self.samples, self.scale = llm, mode, swap, samples, (float(scale[0]), float(scale[1]))

    def score(self, instruction: SyntheticInstruction, response: str) -> float:
        """The response's mean score over `samples` pointwise prompts."""
        prompt = judge_prompt(instruction.text, response, scale=self.scale)
        return sum(parse_score(self.llm.complete(prompt), scale=self.scale) for _ in range(self.samples)) / self.samples

    def score_pair(self, instruction: SyntheticInstruction, a: str, b: str) -> tuple[float, float]:
        """Scores of a and b: two pointwise scores, or pairwise ones (averaged over samples and swapped orders)."""
        if self.mode == "pointwise":
            return self.score(instruction, a), self.score(instruction, b)
        scores = []
        for _ in range(self.samples):
            scores.append(parse_pair(self.llm.complete(pair_prompt(instruction.text, a, b, scale=self.scale)), scale=self.scale))
            if self.swap:
                second, first = parse_pair(self.llm.complete(pair_prompt(instruction.text, b, a, scale=self.scale)), scale=self.scale)
                scores.append((first, second))
        return sum(s[0] for s in scores) / len(scores), sum(s[1] for s in scores) / len(scores)


# Reply lengths and stop strings per role when every role runs on one `Backend`.
_DECODING: dict[str, dict[str, Any]] = {
    "encoder": {"max_tokens": 64, "stop": ("#Example",)},
    "decoder": {"max_tokens": 768},
    "rubric_writer": {"max_tokens": 512},
    "improver": {"max_tokens": 256, "stop": ("\nImproving action item:", "\nInput instruction:")},
    "strong": {"max_tokens": 512},
    "target": {"max_tokens": 512},
    "judge": {"max_tokens": 16},
}


@dataclass
class Roles:
    """Who plays each role; `post_export(workdir) -> dict` runs after the export and adds to the summary."""

    encoder: Encoder | None
    decoder: Decoder
    rubric_writer: RubricWriter
    improver: Improver
    strong: Responder
    target: Responder
    judge: Judge
    post_export: Callable[[Path], dict] | None = None

    @classmethod
    def single(cls, llm: LLM, *, judge_mode: str = "pointwise", judge_scale: Scale = SCALE, vocab: Vocabulary | None = None) -> "Roles":
        """One client for every role."""
        return cls.from_llms(llm, judge_mode=judge_mode, judge_scale=judge_scale, vocab=vocab)

    @classmethod
    def from_llms(cls, default: LLM, *, judge_mode: str = "pointwise", judge_scale: Scale = SCALE, vocab: Vocabulary | None = None,
                  **per_role: LLM) -> "Roles":
        """A client per role (encoder, decoder, rubric_writer, improver, strong, target, judge), `default` for the rest."""
        unknown = set(per_role) - set(ROLE_NAMES)
        if unknown:
            raise ValueError(f"unknown roles {', '.join(sorted(unknown))}; roles are {', '.join(ROLE_NAMES)}")
        llm = {name: per_role.get(name, default) for name in ROLE_NAMES}
        return cls(encoder=LLMEncoder(llm["encoder"], vocab=vocab), decoder=LLMDecoder(llm["decoder"]),
                   rubric_writer=LLMRubricWriter(llm["rubric_writer"]), improver=LLMImprover(llm["improver"]),
                   strong=LLMResponder(llm["strong"]), target=LLMResponder(llm["target"]),
                   judge=LLMJudge(llm["judge"], mode=judge_mode, scale=judge_scale))

    @classmethod
    def from_backend(cls, backend: Any, *, judge_mode: str = "pointwise", judge_scale: Scale = SCALE, vocab: Vocabulary | None = None,
                     temperature: float = 0.0) -> "Roles":
        """Every role on one `Backend`, each with its own reply length and stop strings."""
        per_role = {name: BackendLLM(backend, temperature=temperature, **settings) for name, settings in _DECODING.items()}
        return cls.from_llms(per_role["strong"], judge_mode=judge_mode, judge_scale=judge_scale, vocab=vocab, **per_role)
