"""Instruction generation: the decoder prompt, the numbered-list parser, base instructions, the responder prompt."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Sequence

from assistant.alignment.prompts import render_prompt
from assistant.alignment.records import Metadata, SyntheticInstruction

if TYPE_CHECKING:
    from assistant.alignment.roles import Decoder

# "1. ", "2) ", "(3) ", "4: ", "Instruction 5. ", "- ", "* ", "• "
_MARKER = re.compile(r"^\s*(?:(?:instruction\s+)?\(?\d{1,3}[.):]|[-*•])\s+", re.IGNORECASE)


def parse_numbered(reply: str, n: int | None = None) -> list[str]:
    """The items of a numbered (or bulleted) list, numbering stripped, blanks dropped, at most `n`.

    When some lines are numbered, a line right below an item continues it, and other unnumbered lines (a
    preamble, a closing remark) are dropped; when none is, every non-blank line is an item.
    """
    lines = reply.splitlines()
    numbered = any(_MARKER.match(line) for line in lines)
    items: list[str] = []
    open_item = False  # the previous line belonged to the last item
    for line in lines:
        marker = _MARKER.match(line)
        if marker:
            items.append(line[marker.end():].strip())
            open_item = True
        elif not line.strip():
            open_item = False
        elif not numbered:
            items.append(line.strip())
        elif open_item:
            items[-1] = f"{items[-1]} {line.strip()}".strip()
    items = [item for item in items if item]
    return items if n is None else items[:n]


def decoder_prompt(metadata: Metadata, n: int) -> str:
    """The instruction-writer prompt for one metadata pair and a count."""
    return render_prompt("decoder", n=n, use_case=metadata.use_case, skills=", ".join(metadata.skills))


def base_instructions(decoder: Decoder, metadata: Metadata, n: int, *, index: int) -> list[SyntheticInstruction]:
    """Round-0 instructions `m{index}-{k}` for the metadata pair at `index`, each linked to it (at most n)."""
    written: Sequence[Any] = decoder.write(metadata, n)
    found = []
    for item in list(written)[:n]:
        text, extra = item if isinstance(item, tuple) else (item, {})
        if text and text.strip():
            found.append(SyntheticInstruction(f"m{index}-{len(found)}", text.strip(), metadata, extra=dict(extra or {})))
    return found


def responder_prompt(instruction: str) -> str:
    """The prompt both the strong and the target model answer."""
    return render_prompt("responder", instruction=instruction.strip())
