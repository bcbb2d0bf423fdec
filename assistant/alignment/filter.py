"""Contrastive filtering: the judge prompts and score parsing, the gap G = S_s − S_t, and the routing on θ."""

from __future__ import annotations

import re

from assistant.alignment.prompts import render_prompt
from assistant.alignment.records import Decision, JudgeError

Scale = tuple[float, float]
SCALE: Scale = (1.0, 10.0)
_NUMBER = r"[-+]?\d+(?:\.\d+)?"
_ECHOED_RANGE = re.compile(r"\(\s*\d+(?:\.\d+)?\s*(?:-|–|to)\s*\d+(?:\.\d+)?\s*\)")  # "Score (1-10): 7"
_LABELLED = {label: re.compile(rf"\b(?:response\s+)?{label}\s*[:=]\s*({_NUMBER})", re.IGNORECASE) for label in "AB"}


def gap(S_s: float, S_t: float) -> float:
    """G = S_s − S_t: how much better the strong answer scored than the target's."""
    return S_s - S_t


def route(G: float, theta: float, *, regularizer: bool = True, regularizer_off_action: str = "refine") -> Decision:
    """The filter's decision, branches checked in the spec's order; G = ±θ exactly refines."""
    if regularizer_off_action not in ("refine", "drop"):
        raise ValueError(f"regularizer_off_action must be refine or drop, got {regularizer_off_action!r}")
    if G > theta:
        return Decision.KEEP_STRONG
    if G < -theta:
        return Decision.KEEP_TARGET if regularizer else Decision(regularizer_off_action)
    return Decision.REFINE


def _bound(scale: Scale) -> dict[str, str]:
    return {"low": f"{scale[0]:g}", "high": f"{scale[1]:g}"}


def judge_prompt(instruction: str, response: str, *, scale: Scale = SCALE) -> str:
    """The pointwise prompt: one response with its instruction, answered by one score."""
    return render_prompt("judge_pointwise", instruction=instruction.strip(), response=response.strip(), **_bound(scale))


def pair_prompt(instruction: str, response_a: str, response_b: str, *, scale: Scale = SCALE) -> str:
    """The pairwise prompt: both responses, answered by `A: <score> B: <score>`."""
    return render_prompt("judge_pairwise", instruction=instruction.strip(), response_a=response_a.strip(),
                         response_b=response_b.strip(), **_bound(scale))


def _clamp(value: float, scale: Scale) -> float:
    return min(max(value, scale[0]), scale[1])


def parse_score(reply: str, *, scale: Scale = SCALE) -> float:
    """The first number of the reply, clamped to the scale; JudgeError when there is none."""
    found = re.search(_NUMBER, _ECHOED_RANGE.sub(" ", reply))
    if found is None:
        raise JudgeError(f"no score in the judge's reply: {reply.strip()[:120]!r}")
    return _clamp(float(found.group()), scale)


def parse_pair(reply: str, *, scale: Scale = SCALE) -> tuple[float, float]:
    """Scores of A and B: the labelled ones (`A: 7 B: 4`), else the first two numbers; each clamped."""
    text = _ECHOED_RANGE.sub(" ", reply)
    labelled = [_LABELLED[label].search(text) for label in "AB"]
    if all(labelled):
        return _clamp(float(labelled[0].group(1)), scale), _clamp(float(labelled[1].group(1)), scale)
    numbers = re.findall(_NUMBER, text)
    if len(numbers) < 2:
        raise JudgeError(f"no pair of scores in the judge's reply: {reply.strip()[:120]!r}")
    return _clamp(float(numbers[0]), scale), _clamp(float(numbers[1]), scale)
