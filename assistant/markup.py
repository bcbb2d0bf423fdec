"""The tool-token grammar: `<K>query</K>` calls, `<K-r>result</K-r>` results; parser, renderer and neutraliser.

Only the runtime writes result markup. Text that comes from outside the model (user input, tool results)
is neutralised, so it can never be read back as a call or a result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Collection, Iterable, Union

RESULT_SUFFIX = "-r"
# Anything shaped like a tag: <name>, </name>, < name >, <name-r>, <start_of_turn>, <end>.
_TAG_SHAPE = re.compile(r"<\s*/?\s*[A-Za-z_][\w-]*\s*>")
_ROLE_LINE = re.compile(r"(?im)^(\s*)(user|assistant|system)\s*:")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def opening(tool: str) -> str:
    """The tag that starts a call to `tool`."""
    return f"<{tool}>"


def closing(tool: str) -> str:
    """The tag that ends a call's query."""
    return f"</{tool}>"


def render_call(tool: str, query: str) -> str:
    """Markup for a call, as the model writes it."""
    return f"{opening(tool)}{query}{closing(tool)}"


def render_result(tool: str, result: str) -> str:
    """Markup for a result, as only the runtime writes it; the result text is neutralised."""
    return f"<{tool}{RESULT_SUFFIX}>{neutralise(result)}</{tool}{RESULT_SUFFIX}>"


def clean_text(text: str) -> str:
    """Make arbitrary input valid text: invalid UTF-8 and lone surrogates replaced, control characters dropped."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = text.encode("utf-8", "replace").decode("utf-8", "replace")
    return _CONTROL.sub("", text)


def neutralise(text: str) -> str:
    """Defuse tag-shaped markup and transcript role labels so outside text cannot forge calls or turns."""
    text = _TAG_SHAPE.sub(lambda m: m.group(0).replace("<", "‹").replace(">", "›"), clean_text(text))
    return _ROLE_LINE.sub(lambda m: f"{m.group(1)}{m.group(2)} said", text)


@dataclass(frozen=True)
class ParsedCall:
    """Model output that asks for a tool: text before the tag, the tool, its query."""

    before: str
    tool: str
    query: str
    closed: bool = True


@dataclass(frozen=True)
class ParsedAnswer:
    """Model output with no call: the answer."""

    text: str


Parsed = Union[ParsedCall, ParsedAnswer]


def _opening_pattern(tools: Collection[str]) -> re.Pattern[str]:
    names = "|".join(re.escape(t) for t in sorted(tools, key=len, reverse=True))
    return re.compile(rf"<\s*({names})\s*>")


def parse(output: str, tools: Collection[str]) -> Parsed:
    """Read one model output: the first opening tag of a known tool makes it a call, otherwise it is the answer.

    The query runs to the matching closing tag, or to the end of the output when the engine stopped on the
    closing tag and dropped it. Markup inside a query (nested tags) is removed. Unknown tags are plain text.
    """
    if tools:
        match = _opening_pattern(tools).search(output)
        if match:
            tool = match.group(1)
            rest = output[match.end():]
            end = re.search(rf"<\s*/\s*{re.escape(tool)}\s*>", rest)
            raw = rest[: end.start()] if end else rest
            query = " ".join(_TAG_SHAPE.sub(" ", raw).split())
            return ParsedCall(before=strip_markup(output[: match.start()], tools), tool=tool, query=query, closed=bool(end))
    return ParsedAnswer(strip_markup(output, tools))


def strip_markup(text: str, tools: Iterable[str]) -> str:
    """Remove call and result markup of known tools from answer text."""
    tools = list(tools)
    if not tools:
        return text.strip()
    names = "|".join(re.escape(t) for t in tools)
    text = re.sub(rf"<\s*({names})-r\s*>.*?<\s*/\s*\1-r\s*>", " ", text, flags=re.S)
    text = re.sub(rf"<\s*({names})\s*>.*?<\s*/\s*\1\s*>", " ", text, flags=re.S)
    text = re.sub(rf"<\s*/?\s*(?:{names})(?:-r)?\s*>", " ", text)
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def held_back(text: str, patterns: Iterable[str]) -> int:
    """How many trailing characters of `text` could still grow into one of `patterns` (keep them unsent)."""
    longest = 0
    for pattern in patterns:
        for size in range(min(len(pattern) - 1, len(text)), longest, -1):
            if text.endswith(pattern[:size]):
                longest = size
                break
    return longest


def first_stop(text: str, stops: Iterable[str]) -> int:
    """Index of the earliest stop string in `text`, or -1."""
    found = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return min(found) if found else -1
