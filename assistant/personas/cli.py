"""`python -m assistant personas precompute | review ... | index stats`: the offline rewrite index from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from assistant.config import add_arguments, from_arguments
from assistant.errors import AssistantError
from assistant.personas.index import ReviewStatus, RewriteIndex, RewriteIndexError, Scope
from assistant.personas.matching import ContextEmbedding, MatchSettings
from assistant.personas.types import Persona

BACKEND_FLAGS = ("data_dir", "backend", "model", "base_url", "api_key", "openai_api", "threads", "adapter", "persona_rewrites",
                 "persona_mode")


class CliError(AssistantError):
    """A personas command line that cannot be carried out as written."""


def add_personas_parser(commands: Any) -> argparse.ArgumentParser:
    """Add the `personas` command (precompute, review, index) to the project's subparsers."""
    personas = commands.add_parser(
        "personas", help="precompute persona rewrites of logged queries, review them, inspect the index",
        description="The offline rewrite index (spec §6): precompute persona rewrites of past queries from the activity log, "
                    "review them (keep, edit, re-index, discard), and see what the index holds.")
    sub = personas.add_subparsers(dest="personas_command", required=True, metavar="COMMAND")

    pre = sub.add_parser("precompute", help="rewrite every logged (query, context) pair once per persona and index it",
                         description="Rewrite every logged (query, context) pair of the scope once per persona with the configured "
                                     "model and store the outputs in <data_dir>/personas/rewrites.sqlite3. Pairs already indexed "
                                     "are skipped, so an interrupted run resumes; reviewed entries are never overwritten.")
    pre.add_argument("--scope", choices=[s.value for s in Scope], default=MatchSettings().precompute_scope,
                     help="user: one user's queries, served to that user only; population: everyone's (default %(default)s)")
    pre.add_argument("--user", help="whose queries (required with --scope user)")
    pre.add_argument("--persona", dest="persona_names", action="append", metavar="NAME",
                     help="a persona to write for (repeatable; default every persona of the registry)")
    pre.add_argument("--force", action="store_true", help="rewrite pairs already indexed too (reviewed entries stay as they are)")
    pre.add_argument("--context-embedding", choices=[c.value for c in ContextEmbedding], default=MatchSettings().context_embedding.value,
                     help="what the context embedding embeds: signals (a phrase of the context signals), signals_history (plus "
                          "the last user turns), none (default %(default)s)")
    pre.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    pre.add_argument("--json", action="store_true", help="print the report as JSON")
    add_arguments(pre, only=BACKEND_FLAGS)

    review = sub.add_parser("review", help="list, keep, edit, re-index, discard or export index entries",
                            description="Review precomputed entries. Kept and edited entries are curated (export them for "
                                        "retraining); discarded entries are never served again.")
    actions = review.add_subparsers(dest="review_action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="entries to review (pending by default)", description="List index entries.")
    listing.add_argument("--status", choices=[*(s.value for s in ReviewStatus), "all"], default="pending", help="default %(default)s")
    listing.add_argument("--user", help="only this user's entries")
    listing.add_argument("--persona", dest="persona_name", metavar="NAME", help="only entries with outputs of this persona")
    listing.add_argument("--json", action="store_true", help="print entries as JSON")
    for name, text in (("keep", "mark an entry good as it is (curated)"), ("discard", "never serve an entry again")):
        action = actions.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        action.add_argument("id", type=int, help="the entry id (see: review list)")
    edit = actions.add_parser("edit", help="change a persona's outputs of an entry (any length)",
                              description="Change the outputs of one persona: --text once with --at N replaces output N, --text "
                                          "several times without --at replaces them all. Marks the entry edited.")
    edit.add_argument("id", type=int, help="the entry id")
    edit.add_argument("--persona", dest="persona_name", required=True, metavar="NAME", help="whose outputs")
    edit.add_argument("--text", action="append", help="the new output (repeatable)")
    edit.add_argument("--at", type=int, help="replace only the output at this position (0 is the first)")
    edit.add_argument("--additional", action="append", help="replace the entry's additional outputs (repeatable)")
    reindex = actions.add_parser("reindex", help="change what an entry is found by (query, context, plain outputs, scope)",
                                 description="Change an entry's keys and recompute its terms and embeddings. Marks it edited.")
    reindex.add_argument("id", type=int, help="the entry id")
    reindex.add_argument("--query", help="the query it matches")
    reindex.add_argument("--signal", action="append", default=[], metavar="KEY=VALUE",
                         help="a context signal, e.g. time_of_day=evening or location='primary residence' "
                              "(repeatable; an empty value drops it)")
    reindex.add_argument("--plain", action="append", help="the plain outputs it matches (repeatable; replaces them)")
    reindex.add_argument("--scope", choices=[s.value for s in Scope], help="move it to user or population scope")
    reindex.add_argument("--user", help="the owner, with --scope user")
    export = actions.add_parser("export", help="write curated entries as JSONL for retraining",
                                description="One line per curated persona output: query, context, plain outputs, persona, rewrite.")
    export.add_argument("--out", type=Path, help="the JSONL file (default: print)")
    for action in actions.choices.values():
        add_arguments(action, only=("data_dir",))

    index = sub.add_parser("index", help="what the index holds", description="Inspect or rebuild the rewrite index.")
    index.add_argument("action", choices=("stats", "reembed"), help="stats: entries by status, scope and persona; reembed: recompute "
                                                                    "every entry's embeddings (after changing the embedder)")
    index.add_argument("--context-embedding", choices=[c.value for c in ContextEmbedding], default=MatchSettings().context_embedding.value,
                       help="with reembed: the context embedding method (default %(default)s)")
    index.add_argument("--json", action="store_true", help="print JSON")
    add_arguments(index, only=("data_dir",))
    return personas


def personas_main(args: argparse.Namespace, *, rewrite: Callable | None = None, personas: Sequence[Persona] | None = None,
                  embedder: Any = None) -> int:
    """Run a `personas` command; errors print one line and exit with 2 (the keywords are for tests and embedding)."""
    try:
        config = from_arguments(args)
        if embedder is None:
            from memory.embeddings import SentenceEmbedder

            embedder = SentenceEmbedder()  # loads its model only if a command embeds something
        settings = MatchSettings(context_embedding=getattr(args, "context_embedding", None) or MatchSettings().context_embedding)
        index = RewriteIndex.at(config.data_dir, embedder=embedder, settings=settings)
        if args.personas_command == "precompute":
            return _precompute(args, config, index, rewrite=rewrite, personas=personas)
        if args.personas_command == "review":
            return _review(args, index)
        return _index(args, index)
    except (AssistantError, ValueError, OSError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyError as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130


def _registry_personas(names: Sequence[str] | None) -> list[Persona]:
    """The named personas (default: all) from the persona registry (assistant/personas/registry.py)."""
    try:
        from assistant.personas.registry import PersonaRegistry
    except ImportError as exc:
        raise CliError(f"the persona registry is not available ({exc})") from exc
    book = PersonaRegistry()
    if names:
        return [book.get(name) for name in dict.fromkeys(names)]
    every = getattr(book, "all", None)
    if every is None:
        raise CliError("name the personas to write for: --persona NAME (repeatable)")
    return list(every())


def _pick(personas: Sequence[Persona], names: Sequence[str] | None) -> list[Persona]:
    if not names:
        return list(personas)
    by_name = {p.name: p for p in personas}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise CliError(f"unknown persona {', '.join(missing)}; known: {', '.join(sorted(by_name))}")
    return [by_name[n] for n in dict.fromkeys(names)]


def _precompute(args: argparse.Namespace, config: Any, index: RewriteIndex, *, rewrite: Callable | None,
                personas: Sequence[Persona] | None) -> int:
    from memory.activity import ActivityLog

    from assistant.personas.precompute import precompute

    scope = Scope(args.scope)
    user = None
    if scope is Scope.USER:
        from assistant.chat import check_user_id

        if not args.user:
            raise CliError("--scope user needs --user NAME (or use --scope population)")
        user = check_user_id(args.user)
    elif args.user:
        raise CliError("--user is for --scope user; population scope reads every user's queries")
    chosen = _pick(personas, args.persona_names) if personas is not None else _registry_personas(args.persona_names)
    if rewrite is None:
        from assistant.backends import make_backend
        from assistant.personas.rewriter import PersonaRewriter

        rewriter = PersonaRewriter(make_backend(config), mode=config.persona_mode)
        count = max(1, config.persona_rewrites)

        def rewrite(query, context, plain, persona):  # noqa: E306 - the lead's online rewriter, as the precompute callable
            return rewriter.rewrite(query, context, plain, persona, n=count)

    report = precompute(ActivityLog(config.data_dir / "activity.sqlite3"), index, rewrite, personas=chosen, scope=scope, user_id=user,
                        force=args.force, progress=args.progress)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(f"{report.pairs} pairs ({report.logged} logged, {report.dropped} dropped) × {len(chosen)} personas: "
              f"{report.calls} rewrite calls, {report.skipped} already indexed, {report.reviewed} reviewed pairs left alone, "
              f"{report.failed} failed, {report.stored} entries stored in {index.path} ({report.seconds:.1f} s)")
    return 1 if report.failed else 0


def _signals(pairs: Sequence[str]) -> dict[str, str]:
    found = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise CliError(f"--signal wants KEY=VALUE, got {pair!r}")
        found[key.strip()] = value.strip()
    return found


def _show(entry: Any) -> str:
    outputs = "; ".join(f"{p}: {' | '.join(t)}" for p, t in sorted(entry.outputs.items()) if t) or "(no outputs)"
    where = f"user {entry.user_id}" if entry.scope is Scope.USER else "population"
    context = ", ".join(f"{k}={v}" for k, v in sorted(entry.keys.context_signals.items()))
    return f"{entry.id}  [{entry.review_status.value}, {where}]  {entry.keys.query!r}  ({context})  →  {outputs}"


def _review(args: argparse.Namespace, index: RewriteIndex) -> int:
    action = args.review_action
    if action == "list":
        status = None if args.status == "all" else args.status
        entries = index.entries(status=status, user_id=args.user, persona=args.persona_name)
        if args.json:
            print(json.dumps([e.to_dict() for e in entries], ensure_ascii=False, indent=2))
        else:
            if entries:
                print("\n".join(_show(e) for e in entries))
            else:
                print(f"no {args.status} entries", file=sys.stderr)
        return 0
    if action == "export":
        if args.out:
            count = index.export_curated(args.out)
            print(f"wrote {count} curated outputs to {args.out}", file=sys.stderr)
        else:
            for record in index.curated_records():
                print(json.dumps(record, ensure_ascii=False))
        return 0
    if action == "keep":
        entry = index.keep(args.id)
    elif action == "discard":
        entry = index.discard(args.id)
    elif action == "edit":
        if not args.text and not args.additional:
            raise CliError("edit needs --text TEXT (or --additional TEXT)")
        if args.at is not None and (not args.text or len(args.text) != 1):
            raise CliError("--at replaces one output: give exactly one --text")
        texts = args.text if args.text and args.at is None else None
        text = args.text[0] if args.text and args.at is not None else None
        entry = index.edit(args.id, persona=args.persona_name, texts=texts, text=text, at=args.at, additional_outputs=args.additional)
    else:
        if args.query is None and not args.signal and args.plain is None and args.scope is None:
            raise CliError("reindex needs --query, --signal, --plain or --scope")
        if args.user and args.scope != Scope.USER.value:
            raise CliError("--user goes with --scope user")
        entry = index.reindex(args.id, query=args.query, signals=_signals(args.signal) or None, plain_outputs=args.plain,
                              scope=args.scope, user_id=args.user)
    print(_show(entry))
    return 0


def _index(args: argparse.Namespace, index: RewriteIndex) -> int:
    if args.action == "reembed":
        print(f"re-embedded {index.reembed()} entries in {index.path}")
        return 0
    stats = index.stats()
    if args.json:
        print(json.dumps(stats, ensure_ascii=False, indent=2))
        return 0
    skipped = f" ({stats['unreadable']} unreadable rows skipped)" if stats["unreadable"] else ""
    print(f"{stats['entries']} entries in {stats['path']}{skipped}")
    for title in ("by_status", "by_scope", "by_persona"):
        counts = stats[title]
        print(f"  {title.replace('_', ' ')}: " + (", ".join(f"{k} {v}" for k, v in counts.items()) or "none"))
    return 0


__all__ = ["CliError", "RewriteIndexError", "add_personas_parser", "personas_main"]
