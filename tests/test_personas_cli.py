"""`python -m assistant personas ...`: precompute, review, index stats; errors are one line and exit 2."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from assistant.cli import main, parser
from assistant.personas.cli import personas_main
from assistant.personas.index import ReviewStatus, RewriteIndex
from assistant.personas.types import Context, ParameterSet, Persona
from memory.activity import ActivityLog
from tests.fakes import HashEmbedder

BUTLER = Persona("butler", "a formal butler", ParameterSet(prompt="Speak as a butler."))
CHEF = Persona("chef", "an enthusiastic chef", ParameterSet(prompt="Speak as a chef."))
EVENING = Context(time_of_day="evening", location="primary residence")


@pytest.fixture
def data(tmp_path):
    """A data dir whose activity log holds two of Ann's turns and one of Bob's."""
    root = tmp_path / "data"
    log = ActivityLog(root / "activity.sqlite3")
    when = datetime(2024, 5, 14, 19, 0, tzinfo=timezone.utc)
    context = {"time_of_day": "evening", "location": "primary residence", "position": 0}
    log.record("ann", "I'm feeling pretty hungry", when=when, context=context, answer="Here are some restaurants nearby.")
    log.record("ann", "What time is it?", when=when, context={"time_of_day": "evening", "position": 0}, answer="It's 7:00 PM.")
    log.record("bob", "Tell me a joke", when=when, context=context, answer="Why did the chicken cross the road?")
    return root


def run(data, *argv, calls=None):
    """Parse a personas command line and run it with a fake rewriter, two personas and the hashing embedder."""
    def rewrite(query, context, plain, persona):
        if calls is not None:
            calls.append((query, persona.name))
        return [f"{persona.name}: {plain[0]}"]

    args = parser().parse_args(["personas", *argv, "--data-dir", str(data)])
    return personas_main(args, rewrite=rewrite, personas=[BUTLER, CHEF], embedder=HashEmbedder())


def index_of(data) -> RewriteIndex:
    return RewriteIndex.at(data, embedder=HashEmbedder())


def test_precompute_for_one_user_then_resume(data, capsys):
    calls = []
    assert run(data, "precompute", "--scope", "user", "--user", "ann", "--no-progress", calls=calls) == 0
    assert len(calls) == 4 and "2 pairs" in capsys.readouterr().out
    assert run(data, "precompute", "--user", "ann", "--no-progress", "--json", calls=calls) == 0  # user scope is the default
    report = json.loads(capsys.readouterr().out)
    assert report["calls"] == 0 and report["skipped"] == 4 and len(calls) == 4
    assert run(data, "precompute", "--user", "ann", "--persona", "chef", "--force", "--no-progress", calls=calls) == 0
    assert calls[4:] == [("I'm feeling pretty hungry", "chef"), ("What time is it?", "chef")]
    match = index_of(data).match("I'm hungry", EVENING, [], user_id="ann", persona="butler")
    assert match.outputs == ("butler: Here are some restaurants nearby.",)
    assert index_of(data).match("I'm hungry", EVENING, [], user_id="bob", persona="butler") is None


def test_precompute_for_the_population(data, capsys):
    calls = []
    assert run(data, "precompute", "--scope", "population", "--persona", "butler", "--no-progress", calls=calls) == 0
    assert len(calls) == 3 and index_of(data).stats()["by_scope"] == {"user": 0, "population": 3}


@pytest.mark.parametrize(("argv", "message"), [
    (["precompute", "--scope", "user"], "--user"),
    (["precompute", "--scope", "population", "--user", "ann"], "--user is for --scope user"),
    (["precompute", "--user", "ann", "--persona", "pirate"], "unknown persona pirate"),
    (["review", "keep", "99"], "no index entry 99"),
    (["review", "edit", "1", "--persona", "butler"], "needs --text"),
    (["review", "edit", "1", "--persona", "butler", "--at", "0", "--text", "a", "--text", "b"], "exactly one --text"),
    (["review", "reindex", "1"], "reindex needs"),
    (["review", "reindex", "1", "--signal", "evening"], "KEY=VALUE"),
])
def test_errors_print_one_line_and_exit_2(data, capsys, argv, message):
    run(data, "precompute", "--user", "ann", "--no-progress")
    capsys.readouterr()
    assert run(data, *argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_the_main_entry_point_routes_to_personas(data, capsys):
    assert main(["personas", "precompute", "--scope", "user", "--data-dir", str(data)]) == 2
    assert capsys.readouterr().err.strip() == "error: --scope user needs --user NAME (or use --scope population)"
    assert main(["personas", "index", "stats", "--data-dir", str(data)]) == 0
    assert capsys.readouterr().out.startswith("0 entries in ")
    assert main(["personas", "review", "list", "--data-dir", str(data)]) == 0
    assert "no pending entries" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["personas", "--help"], ["personas", "precompute", "--help"], ["personas", "review", "edit", "--help"],
                                  ["personas", "review", "reindex", "--help"], ["personas", "index", "--help"]])
def test_help_describes_each_command(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 0 and "usage: python -m assistant personas" in capsys.readouterr().out


def test_review_list_keep_edit_reindex_discard_export(data, tmp_path, capsys):
    run(data, "precompute", "--user", "ann", "--no-progress")
    capsys.readouterr()
    assert run(data, "review", "list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("1  [pending, user ann]  \"I'm feeling pretty hungry\"")
    assert run(data, "review", "keep", "1") == 0 and "[kept, user ann]" in capsys.readouterr().out
    assert run(data, "review", "edit", "2", "--persona", "butler", "--at", "0", "--text", "Good evening, sir. It is seven o'clock.") == 0
    capsys.readouterr()
    index = index_of(data)
    assert index.get(2).outputs["butler"] == ("Good evening, sir. It is seven o'clock.",)
    assert index.get(2).review_status is ReviewStatus.EDITED
    assert run(data, "review", "reindex", "2", "--query", "what's the time", "--signal", "time_of_day=night", "--scope", "population") == 0
    capsys.readouterr()
    moved = index_of(data).match("what's the time", Context(time_of_day="night"), [], user_id="bob", persona="butler")
    assert moved is not None and moved.entry.id == 2
    assert run(data, "review", "list", "--status", "all", "--json") == 0
    assert [e["status"] for e in json.loads(capsys.readouterr().out)] == ["kept", "edited"]
    assert run(data, "review", "export", "--out", str(tmp_path / "curated.jsonl")) == 0
    records = [json.loads(line) for line in (tmp_path / "curated.jsonl").read_text().splitlines()]
    assert len(records) == 4 and {r["persona"] for r in records} == {"butler", "chef"}
    assert run(data, "review", "discard", "2") == 0 and "[discarded" in capsys.readouterr().out
    assert index_of(data).match("what's the time", Context(time_of_day="night"), [], user_id="bob", persona="butler") is None
    assert run(data, "review", "export") == 0 and len(capsys.readouterr().out.splitlines()) == 2  # entry 1, two personas


def test_index_stats(data, capsys):
    run(data, "precompute", "--user", "ann", "--no-progress")
    run(data, "review", "discard", "1")
    capsys.readouterr()
    assert run(data, "index", "stats") == 0
    out = capsys.readouterr().out
    assert "2 entries" in out and "pending 1" in out and "discarded 1" in out and "butler 2, chef 2" in out and "user 2" in out
    assert run(data, "index", "stats", "--json") == 0
    assert json.loads(capsys.readouterr().out)["by_persona"] == {"butler": 2, "chef": 2}
    assert run(data, "index", "reembed") == 0 and "re-embedded 2 entries" in capsys.readouterr().out
