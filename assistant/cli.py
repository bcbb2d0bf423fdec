"""Command line: `python -m assistant chat "MESSAGE" --user NAME [--json]`, `... memory ...` and `... align ...`."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from dataclasses import fields
from pathlib import Path

from assistant.alignment.cli import add_align_parser, align_main
from assistant.personas.cli import add_personas_parser, personas_main
from assistant.pages.cli import add_pages_parsers, pages_main
from assistant.config import Config, add_arguments, from_arguments
from assistant.errors import AssistantError
from assistant.types import FinalAnswer, TextDelta, ToolCall, ToolResult


CONFIG_FIELDS = tuple(f.name for f in fields(Config))


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

    memory = commands.add_parser("memory", help="see, search, export, delete or clean up a user's memories",
                                 description="Manage the long-term memories of one user (only that user's).")
    memory.add_argument("action", choices=["list", "search", "export", "delete", "undo", "history", "cleanup"],
                        help="list | search TEXT | export [--out FILE] | delete --id ID or --all --yes | undo --id ID | history | "
                             "cleanup (every user: retention and staleness)")
    memory.add_argument("text", nargs="?", default="", help="what to search for")
    memory.add_argument("--user", help="whose memories (required except for cleanup)")
    memory.add_argument("--id", dest="row_id", help="the memory to delete, or the history entry to undo")
    memory.add_argument("--all", action="store_true", help="with delete: every memory of the user, history included")
    memory.add_argument("--yes", action="store_true", help="confirm delete --all")
    memory.add_argument("--out", type=Path, help="with export: write the JSON here instead of printing it")
    memory.add_argument("--json", action="store_true", help="print rows as JSON")
    add_arguments(memory, only=("data_dir", "chroma_url", "timezone") + tuple(n for n in CONFIG_FIELDS if n.startswith("memory_")))
    add_align_parser(commands)
    add_personas_parser(commands)
    add_pages_parsers(commands)
    return root


def _memory(args: argparse.Namespace) -> int:
    from memory.bank import MemoryBank
    from memory.embeddings import SentenceEmbedder

    from assistant.chat import check_user_id

    config = from_arguments(args)
    user = "" if args.action == "cleanup" else check_user_id(args.user or "")
    bank = MemoryBank(config.data_dir, SentenceEmbedder(), settings=config.memory_settings(), chroma_url=config.chroma_url)
    if args.action == "cleanup":
        print(json.dumps(bank.cleanup()))
    elif args.action == "export":
        data = json.dumps(bank.export(user), ensure_ascii=False, indent=2)
        if args.out:
            args.out.write_text(data + "\n", encoding="utf-8")
            print(f"wrote {len(bank.rows(user))} memories to {args.out}", file=sys.stderr)
        else:
            print(data)
    elif args.action == "delete":
        if args.all:
            if not args.yes:
                raise UsageError("delete --all erases every memory of this user for good; add --yes to confirm")
            print(f"deleted {bank.delete_all(user)} memories of {user}")
        elif args.row_id:
            row = bank.delete(user, args.row_id)
            print(f"deleted {row.id}: {row.input}  (undo: python -m assistant memory undo --user {user!r} --id {row.id})")
        else:
            raise UsageError("delete needs --id ID or --all --yes")
    elif args.action == "undo":
        if not args.row_id:
            raise UsageError("undo needs --id ID (see: memory history)")
        row = bank.undo(user, args.row_id)
        print(f"restored {row.id}: {row.input}")
    else:
        rows = {"list": bank.rows, "history": bank.history}.get(args.action, lambda u: bank.search(u, args.text))(user)
        if args.json:
            print(json.dumps([r.to_dict() for r in rows], ensure_ascii=False, indent=2))
        for row in [] if args.json else rows:
            note = f"  [{row.note}]" if row.note else ""
            print(f"{row.id}  {row.timestamp:%Y-%m-%d %H:%M}  {row.input}  →  {row.answer}{note}")
        if not rows and not args.json:
            print("no memories", file=sys.stderr)
    return 0


class UsageError(Exception):
    """A command line that cannot be carried out as written."""


def _chat(args: argparse.Namespace) -> int:
    from assistant.chat import Assistant

    assistant = Assistant(from_arguments(args))
    message = args.message.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    status = _reply(assistant, message, args)
    _finish_search_index(assistant)
    return status


def _finish_search_index(assistant) -> None:
    """A first search starts building the Wikipedia index in the background; finish it before exiting."""
    wiki = assistant.wiki
    if wiki is not None and wiki.building:
        print("Finishing the Wikipedia index (once, a few minutes) so the next search can use it; "
              "Ctrl-C stops it and the next run resumes it.", file=sys.stderr)
        wiki.wait_built()


def _reply(assistant, message: str, args: argparse.Namespace) -> int:
    if args.json:
        turn = assistant.chat(message, user_id=args.user)
        print(json.dumps(turn.to_dict(), ensure_ascii=False, indent=2))
        return 0 if turn.outcome.value in ("answer", "step_limit") else 1
    ok, streamed, live = True, "", sys.stdout.isatty()  # a terminal sees the draft as it is written; a pipe only the reply
    for event in assistant.stream(message, user_id=args.user):
        if isinstance(event, ToolCall):
            print(f"  → {event.tool}: {event.query}", file=sys.stderr)
        elif isinstance(event, ToolResult):
            print(f"  ← {event.result}  ({event.seconds:.2f} s)", file=sys.stderr)
        elif isinstance(event, TextDelta) and live:
            text = event.text if streamed else event.text.lstrip()
            streamed += text
            print(text, end="", flush=True)
        elif isinstance(event, FinalAnswer):
            ok = event.outcome.value in ("answer", "step_limit")
            if event.text.strip() != streamed.strip():  # not streamed, or the persona stage's reply says more than the draft
                print(("\n" if streamed else "") + event.text, end="")
    print()
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    """Run a command; errors are printed as one clear line, never a traceback."""
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "align":
        return align_main(args, argv=sys.argv[1:] if argv is None else argv)
    if args.command == "personas":
        return personas_main(args)
    if args.command in ("shop", "page"):
        return pages_main(args)
    try:
        return _memory(args) if args.command == "memory" else _chat(args)
    except (AssistantError, UsageError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyError as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
