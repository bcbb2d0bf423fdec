"""Command line: `python -m assistant chat "MESSAGE" --user NAME [--json]`."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from assistant.config import add_arguments, from_arguments
from assistant.errors import AssistantError
from assistant.types import TextDelta, ToolCall, ToolResult


def parser() -> argparse.ArgumentParser:
    """The argument parser, with one flag per setting on every command."""
    root = argparse.ArgumentParser(prog="python -m assistant", description="A conversational assistant whose model calls tools.")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chat = commands.add_parser("chat", help="answer one message and print the reply and the tool calls",
                               description="Answer one message. Settings come from flags, then ASSISTANT_* variables, then defaults.")
    chat.add_argument("message", help="what to ask")
    chat.add_argument("--user", required=True, help="whose memories and reminders to use")
    chat.add_argument("--json", action="store_true", help="print {text, calls, ...} as JSON instead of text")
    add_arguments(chat)
    return root


def _chat(args: argparse.Namespace) -> int:
    from assistant.chat import Assistant

    assistant = Assistant(from_arguments(args))
    message = args.message.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if args.json:
        turn = assistant.chat(message, user_id=args.user)
        print(json.dumps(turn.to_dict(), ensure_ascii=False, indent=2))
        return 0 if turn.outcome.value in ("answer", "step_limit") else 1
    ok, started = True, False
    for event in assistant.stream(message, user_id=args.user):
        if isinstance(event, ToolCall):
            print(f"  → {event.tool}: {event.query}", file=sys.stderr)
        elif isinstance(event, ToolResult):
            print(f"  ← {event.result}  ({event.seconds:.2f} s)", file=sys.stderr)
        elif isinstance(event, TextDelta):
            text = event.text if started else event.text.lstrip()
            started = started or bool(text)
            print(text, end="", flush=True)
        elif getattr(event, "outcome", None) is not None:
            ok = event.outcome.value in ("answer", "step_limit")
    print()
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    """Run a command; errors are printed as one clear line, never a traceback."""
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return _chat(args)
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
