"""Offline precompute: one rewrite call per (pair, persona), scopes, resuming, reviewed entries left alone (spec §15 item 5)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from assistant.errors import BackendError
from assistant.personas.index import MatchKind, ReviewStatus, RewriteIndex, RewriteIndexError, Scope
from assistant.personas.precompute import collect, context_from_activity, pair_key, precompute
from assistant.personas.types import Context, ParameterSet, Persona
from memory.activity import ActivityLog
from tests.fakes import HashEmbedder

BUTLER = Persona("butler", "a formal butler", ParameterSet(prompt="Speak as a butler."))
CHEF = Persona("chef", "an enthusiastic chef", ParameterSet(prompt="Speak as a chef."))
START = datetime(2024, 5, 14, 18, 0, tzinfo=timezone.utc)
EVENING = {"time_of_day": "evening", "day_of_week": "Tuesday", "location": "primary residence"}
MORNING = {"time_of_day": "morning", "day_of_week": "Wednesday"}


class FakeRewrite:
    """The rewrite callable: records each call, answers '<persona>: <first plain output>'; can crash after some calls."""

    def __init__(self, *, crash_after: int | None = None, fail_on: str = "", error: type[BaseException] = KeyboardInterrupt) -> None:
        self.calls: list[tuple[str, Context, list[str], str]] = []
        self.crash_after = crash_after
        self.fail_on = fail_on
        self.error = error

    def __call__(self, query: str, context: Context, plain: list[str], persona: Persona) -> list[str]:
        if self.crash_after is not None and len(self.calls) >= self.crash_after:
            raise self.error("killed")
        self.calls.append((query, context, plain, persona.name))
        if self.fail_on and self.fail_on in query:
            raise ValueError("the model wrote nonsense")
        return [f"{persona.name}: {plain[0]}"]


@pytest.fixture
def log(tmp_path) -> ActivityLog:
    """Ann's and Bob's logged turns: 5 distinct user-scope pairs for Ann (one asked twice), 2 turns for Bob."""
    log = ActivityLog(tmp_path / "activity.sqlite3")
    rows = [
        ("ann", "I'm feeling pretty hungry", EVENING | {"position": 0, "session_id": "s1"}, "Here are some restaurants nearby.", ()),
        ("ann", "Any Indian places?", EVENING | {"position": 1, "session_id": "s1"}, "Example Indian Restaurant is open until 10 PM.", ()),
        ("ann", "What time is it?", MORNING | {"position": 0, "session_id": "s2"}, "It's 8:30 AM.", ("time",)),
        ("ann", "what time is it", MORNING | {"position": 0, "session_id": "s3"}, "It's 8:31 AM.", ("time",)),  # the same pair again
        ("ann", "Remember my sister is Kate", MORNING | {"position": 0}, "I'll remember that.", ("memory",)),
        ("ann", "I'm going to the beach", {"time_of_day": "morning", "position": 0}, "Sounds fun!", ()),
        ("ann", "this one got no answer", MORNING, "", ()),
        ("bob", "What time is it?", MORNING | {"position": 0}, "It's 9:00 AM.", ("time",)),
        ("bob", "Remind me to call mum", MORNING | {"position": 0}, "Reminder set for 10:00.", ("remind",)),
    ]
    for n, (user, query, context, answer, tools) in enumerate(rows):
        log.record(user, query, when=START + timedelta(minutes=n), context=context, answer=answer, tools=tools)
    return log


@pytest.fixture
def index(tmp_path) -> RewriteIndex:
    """An empty index with the hashing embedder."""
    return RewriteIndex(tmp_path / "rewrites.sqlite3", embedder=HashEmbedder())


def test_every_pair_is_rewritten_once_per_persona(log, index):
    rewrite = FakeRewrite()
    report = precompute(log, index, rewrite, personas=[BUTLER, CHEF], scope="user", user_id="ann", progress=False)
    assert report.pairs == 5 and report.logged == 7 and report.dropped == 1  # the unanswered turn; the time question twice is one pair
    assert report.calls == len(rewrite.calls) == report.pairs * 2 and report.stored == 5 and len(index) == 5
    assert len({(q.lower().strip("?"), p) for q, _, _, p in rewrite.calls}) == len(rewrite.calls)  # no pair asked twice
    entry = index.match("I'm feeling pretty hungry", Context(time_of_day="evening", location="primary residence"), [], user_id="ann",
                        persona="chef")
    assert entry.outputs == ("chef: Here are some restaurants nearby.",)


def test_the_context_and_plain_outputs_are_rebuilt_from_the_log(log, index):
    rewrite = FakeRewrite()
    precompute(log, index, rewrite, personas=[BUTLER], scope="user", user_id="ann", progress=False)
    by_query = {q: (c, p) for q, c, p, _ in rewrite.calls}
    context, plain = by_query["Any Indian places?"]
    assert (context.time_of_day, context.day_of_week, context.location, context.utterance_position) == ("evening", "Tuesday",
                                                                                                      "primary residence", 1)
    assert context.session_history == (("I'm feeling pretty hungry", "Here are some restaurants nearby."),)
    assert plain == ["Example Indian Restaurant is open until 10 PM."]
    assert by_query["What time is it?"][1] == ["It's 8:30 AM.", "It's 8:31 AM."]  # the pair's distinct answers are its plain set
    entry = index.find(pair_key("What time is it?", by_query["What time is it?"][0], scope=Scope.USER, user_id="ann"))
    assert entry.scope is Scope.USER and entry.user_id == "ann" and len(entry.sources) == 2
    assert entry.keys.query_embedding is not None and entry.keys.context_signals["time_of_day"] == "morning"


def test_user_scope_reads_only_that_users_queries_and_serves_only_them(log, index):
    rewrite = FakeRewrite()
    precompute(log, index, rewrite, personas=[BUTLER], scope="user", user_id="ann", progress=False)
    assert all("call mum" not in q for q, *_ in rewrite.calls)
    morning = Context(time_of_day="morning", day_of_week="Wednesday")
    assert index.match("What time is it?", morning, [], user_id="ann", persona="butler") is not None
    assert index.match("What time is it?", morning, [], user_id="bob", persona="butler") is None


def test_population_scope_reads_everyone_drops_personal_turns_and_serves_anyone(log, index):
    rewrite = FakeRewrite()
    report = precompute(log, index, rewrite, personas=[BUTLER], scope="population", progress=False)
    queries = {q for q, *_ in rewrite.calls}
    assert "Remember my sister is Kate" not in queries and "Remind me to call mum" not in queries  # memory and reminder turns
    assert report.logged == 9 and report.dropped == 3 and report.pairs == 4 == report.calls  # Ann's and Bob's time question: one pair
    assert all(c.user_name == "" and c.profile == {} and c.session_history == () for _, c, _, _ in rewrite.calls)
    morning = Context(time_of_day="morning", day_of_week="Wednesday")
    for user in ("ann", "bob", "carol"):
        match = index.match("what time is it", morning, [], user_id=user, persona="butler")
        assert match is not None and match.entry.scope is Scope.POPULATION and match.entry.user_id == ""
    assert index.stats()["by_scope"] == {"user": 0, "population": 4}


def test_scopes_keep_separate_entries(log, index):
    precompute(log, index, FakeRewrite(), personas=[BUTLER], scope="user", user_id="ann", progress=False)
    precompute(log, index, FakeRewrite(), personas=[BUTLER], scope="population", progress=False)
    precompute(log, index, FakeRewrite(), personas=[BUTLER], scope="user", user_id="bob", progress=False)
    assert index.stats()["by_scope"] == {"user": 7, "population": 4} and index.stats()["users"] == 2


def test_a_second_run_skips_what_is_indexed(log, index):
    precompute(log, index, FakeRewrite(), personas=[BUTLER, CHEF], scope="user", user_id="ann", progress=False)
    again = FakeRewrite()
    report = precompute(log, index, again, personas=[BUTLER, CHEF], scope="user", user_id="ann", progress=False)
    assert report.calls == 0 == len(again.calls) and report.skipped == 10 and report.stored == 0


def test_a_killed_run_resumes_and_the_total_is_still_one_call_per_pair_and_persona(log, index):
    first = FakeRewrite(crash_after=5)
    with pytest.raises(KeyboardInterrupt):
        precompute(log, index, first, personas=[BUTLER, CHEF], scope="user", user_id="ann", progress=False)
    assert len(index) == 2  # two whole pairs stored; the third had only its butler rewrite, not stored
    second = FakeRewrite()
    report = precompute(log, index, second, personas=[BUTLER, CHEF], scope="user", user_id="ann", progress=False)
    assert report.skipped == 4 and report.calls == 6 == len(second.calls)
    assert len(first.calls) - 1 + len(second.calls) == report.pairs * 2  # the call lost with the crash is made again
    assert len(index) == 5 and all(set(e.outputs) == {"butler", "chef"} for e in index.entries())


def test_a_new_persona_only_calls_for_that_persona(log, index):
    precompute(log, index, FakeRewrite(), personas=[BUTLER], scope="user", user_id="ann", progress=False)
    rewrite = FakeRewrite()
    report = precompute(log, index, rewrite, personas=[BUTLER, CHEF], scope="user", user_id="ann", progress=False)
    assert {p for *_, p in rewrite.calls} == {"chef"} and report.calls == 5 and report.skipped == 5
    assert all(e.outputs["butler"][0].startswith("butler:") for e in index.entries())


def test_force_rewrites_pending_entries_but_not_reviewed_ones(log, index):
    precompute(log, index, FakeRewrite(), personas=[BUTLER], scope="user", user_id="ann", progress=False)
    first, second, *_ = index.entries()
    index.edit(first.id, persona="butler", texts=["Curated by hand."])
    index.discard(second.id)
    rewrite = FakeRewrite()
    report = precompute(log, index, rewrite, personas=[BUTLER], scope="user", user_id="ann", force=True, progress=False)
    assert report.calls == 3 and report.reviewed == 2 and report.stored == 3
    assert index.get(first.id).outputs["butler"] == ("Curated by hand.",) and index.get(second.id).review_status is ReviewStatus.DISCARDED


def test_a_failing_rewrite_is_counted_and_retried_next_time(log, index):
    report = precompute(log, index, FakeRewrite(fail_on="beach"), personas=[BUTLER], scope="user", user_id="ann", progress=False)
    assert report.failed == 1 and report.calls == 5 and report.stored == 4
    retry = FakeRewrite()
    report = precompute(log, index, retry, personas=[BUTLER], scope="user", user_id="ann", progress=False)
    assert [q for q, *_ in retry.calls] == ["I'm going to the beach"] and report.failed == 0 and len(index) == 5


def test_an_unavailable_model_stops_the_run(log, index):
    with pytest.raises(BackendError):
        precompute(log, index, FakeRewrite(crash_after=2, error=BackendError), personas=[BUTLER], scope="user", user_id="ann",
                   progress=False)
    assert len(index) == 2


def test_empty_rewrites_are_stored_and_not_asked_again(log, index):
    calls = []

    def nothing(query, context, plain, persona):
        calls.append(query)
        return []

    precompute(log, index, nothing, personas=[BUTLER], scope="user", user_id="ann", progress=False)
    precompute(log, index, nothing, personas=[BUTLER], scope="user", user_id="ann", progress=False)
    assert len(calls) == 5
    assert index.match("I'm going to the beach", Context(time_of_day="morning"), [], user_id="ann", persona="butler") is None


def test_additional_queries_and_outputs_are_precomputed_once_per_pair(log, index):
    asked = []

    def additional(query, context, plain):
        asked.append(query)
        if "hungry" not in query:
            return (), ()
        return ["what restaurants nearby are open?"], ["Example Mediterranean Restaurant is open until 9:00 PM."]

    precompute(log, index, FakeRewrite(), personas=[BUTLER, CHEF], scope="user", user_id="ann", additional=additional, progress=False)
    assert len(asked) == 5
    match = index.match("I'm hungry", Context(time_of_day="evening", location="primary residence"), [], user_id="ann", persona="butler")
    assert MatchKind.EDIT_DISTANCE in match.how and MatchKind.CONTEXT in match.how  # the spec's hunger example, end to end
    assert match.entry.additional_queries == ("what restaurants nearby are open?",)
    assert match.entry.additional_outputs == ("Example Mediterranean Restaurant is open until 9:00 PM.",)
    assert all("restaurants nearby are open" not in text for text in match.outputs)  # the hidden query is not an output


@pytest.mark.parametrize(("options", "message"), [
    ({"personas": [], "scope": "user", "user_id": "ann"}, "persona"),
    ({"personas": [BUTLER, BUTLER], "scope": "user", "user_id": "ann"}, "once"),
    ({"personas": [BUTLER], "scope": "user"}, "user"),
])
def test_bad_arguments_are_refused(log, index, options, message):
    with pytest.raises(RewriteIndexError, match=message):
        precompute(log, index, FakeRewrite(), progress=False, **options)
    with pytest.raises(ValueError):
        precompute(log, index, FakeRewrite(), personas=[BUTLER], scope="galaxy", progress=False)


def test_hostile_logged_contexts_do_not_break_the_run(tmp_path, index):
    log = ActivityLog(tmp_path / "hostile.sqlite3")
    log.record("ann", "odd context", when=START, context={"time_of_day": ["not", "text"], "position": "sideways", "profile": "nope",
                                                          "session_seconds": "long", "location": "<calc>1</calc>home\x00"}, answer="Fine.")
    log.record("ann", "huge answer", when=START, context={"position": True}, answer="word " * 2000)
    rewrite = FakeRewrite()
    report = precompute(log, index, rewrite, personas=[BUTLER], scope="user", user_id="ann", progress=False)
    assert report.calls == 2 and report.stored == 2
    context = rewrite.calls[0][1]
    assert context.time_of_day == "" and context.profile == {} and context.utterance_position == 0 and "\x00" not in context.location
    assert all(len(p[0]) <= 1000 for _, _, p, _ in rewrite.calls)


def test_context_from_activity_keeps_user_data_only_when_personal(log):
    activity = log.queries("ann", limit=100)[-1]
    activity = replace(activity, context={**activity.context, "user_name": "Ann", "profile": {"likes": ["indian"]}})
    assert context_from_activity(activity).profile == {"likes": ["indian"]} and context_from_activity(activity).user_name == "Ann"
    assert context_from_activity(activity, personal=False).profile == {} and context_from_activity(activity, personal=False).user_name == ""


def test_collect_groups_duplicates_into_one_pair(log):
    pairs, logged, dropped = collect(reversed(log.queries("ann", limit=100)), scope=Scope.USER, user_id="ann")
    assert (len(pairs), logged, dropped) == (5, 7, 1)
    assert [p.query for p in pairs][:2] == ["I'm feeling pretty hungry", "Any Indian places?"]


def test_the_progress_bar_goes_to_stderr(log, index, capsys):
    precompute(log, index, FakeRewrite(), personas=[BUTLER], scope="user", user_id="ann", progress=True)
    assert "precompute" in capsys.readouterr().err
