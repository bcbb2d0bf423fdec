"""The precomputed rewrite index: storage, every kind of match (spec §15 item 8), review, isolation, hostile data, threads."""

from __future__ import annotations

import json
import sqlite3
import threading

import numpy as np
import pytest

from assistant.personas.index import (Match, MatchKind, MatchSettings, ReviewStatus, RewriteIndex, RewriteIndexError, Scope,
                                      UnknownEntry, index_path)
from assistant.personas.matching import MatchRule, context_sentence, edit_distance, signals_agree, soft, terms
from assistant.personas.types import Context
from tests.fakes import HashEmbedder

EVENING_HOME = Context(time_of_day="evening", day_of_week="Tuesday", location="primary residence", ambient_noise="quiet")
MORNING = Context(time_of_day="morning", day_of_week="Tuesday", location="primary residence")
AFTERNOON_OFFICE = Context(time_of_day="afternoon", day_of_week="Friday", location="office")
HUNGRY_PLAIN = ["Here are some restaurants nearby."]
HUNGRY_BUTLER = ("Might I suggest dinner, sir? Mediterranean or Indian cuisine, perhaps.",)


@pytest.fixture
def index(tmp_path) -> RewriteIndex:
    """An empty index on disk with the hashing embedder."""
    return RewriteIndex(tmp_path / "rewrites.sqlite3", embedder=HashEmbedder())


def add(index: RewriteIndex, query: str, context: Context = EVENING_HOME, plain=("Okay.",), *, outputs=None, scope="population",
        user_id: str = "", key: str | None = None):
    """Store one entry and return it."""
    keys = index.keys_for(query, context, list(plain))
    return index.put(key or f"{scope}:{user_id}:{query}:{context.time_of_day}", keys, outputs or {"butler": [f"As you wish: {plain[0]}"]},
                     scope=scope, user_id=user_id)


def hungry(index: RewriteIndex, **options):
    """The spec's stored hunger entry: 'I'm feeling pretty hungry' in the evening at home."""
    return add(index, "I'm feeling pretty hungry", EVENING_HOME, HUNGRY_PLAIN, outputs={"butler": list(HUNGRY_BUTLER)}, **options)


# distances and normalisation ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("a", "b", "options", "expected"), [
    ("I'm hungry", "I'm feeling pretty hungry", {}, 0.5),  # the spec example: two insertions over four words
    ("I'm hungry", "I'm thirsty", {}, 1.0),  # indel: a substitution costs two
    ("I'm hungry", "I'm thirsty", {"metric": "levenshtein"}, 0.5),
    ("I'm hungry", "I'm feeling pretty hungry", {"unit": "char"}, 0.625),  # 15 character deletions over 24
    ("What time is it?", "what time is it", {}, 0.0),
    ("", "", {}, 0.0),
    ("hello", "", {}, 1.0),
])
def test_edit_distance(a, b, options, expected):
    assert edit_distance(a, b, **options) == pytest.approx(expected)


def test_soft_folding_and_terms():
    assert soft("  I’M   Feeling\tpretty HUNGRY!! ") == "im feeling pretty hungry"
    assert terms("I'm hungry.") == ("im", "hungry")
    assert soft("!!!") == ""


def test_signals_agree_needs_one_present_value():
    assert signals_agree({"time_of_day": "evening"}, {"time_of_day": "evening", "location": ""}, ["time_of_day", "location"])
    assert not signals_agree({}, {}, ["time_of_day", "location"])
    assert not signals_agree({"time_of_day": "evening", "location": "office"}, {"time_of_day": "evening"}, ["time_of_day", "location"])


def test_context_sentence_methods():
    signals = {"time_of_day": "evening", "day_of_week": "tuesday", "location": "primary residence", "position": "opener"}
    assert context_sentence(signals) == "evening, tuesday, at primary residence, opening message"
    history = [("hi", "hello"), ("I'm hungry", "ok")]
    assert context_sentence(signals, method="signals_history", history=history).endswith("| hi | I'm hungry")
    assert context_sentence(signals, method="none") == ""


@pytest.mark.parametrize("bad", [
    {"edit_distance_max": 1.5}, {"edit_distance_max": -0.1}, {"query_embedding_threshold": 0.0}, {"context_embedding_threshold": 1.2},
    {"edit_distance_unit": "syllable"}, {"edit_distance_metric": "hamming"}, {"context_signals": ("weather",)}, {"context_signals": ()},
    {"precompute_scope": "everyone"}, {"no_match_fallback": "guess"}, {"rule": "sometimes"}, {"context_embedding": "tea leaves"},
])
def test_match_settings_are_validated(bad):
    with pytest.raises(ValueError):
        MatchSettings(**bad)


def test_match_settings_defaults_follow_the_spec():
    settings = MatchSettings()
    assert (settings.edit_distance_max, settings.query_embedding_threshold, settings.context_embedding_threshold) == (0.5, 0.8, 0.8)
    assert (settings.precompute_scope, settings.no_match_fallback, settings.rule) == ("user", "online", MatchRule.CORROBORATED)


# storage --------------------------------------------------------------------------------------------------------------------


def test_entries_persist_with_their_keys_and_vectors(tmp_path, index):
    entry = hungry(index, scope="user", user_id="ann")
    again = RewriteIndex(index.path, embedder=HashEmbedder())
    stored = again.get(entry.id)
    assert stored.keys.query == "I'm feeling pretty hungry" and stored.keys.query_terms == ("im", "feeling", "pretty", "hungry")
    assert stored.keys.context_signals == {"time_of_day": "evening", "day_of_week": "tuesday", "location": "primary residence",
                                           "ambient_noise": "quiet", "position": "opener"}
    assert stored.keys.plain_output_terms == (("here", "are", "some", "restaurants", "nearby"),)
    assert np.allclose(stored.keys.query_embedding, entry.keys.query_embedding) and stored.keys.query_embedding.dtype == np.float32
    assert stored.keys.context_embedding.shape == (64,) and stored.keys.plain_output_embeddings.shape == (1, 64)
    assert stored.outputs == {"butler": HUNGRY_BUTLER} and stored.scope is Scope.USER and stored.user_id == "ann"
    assert stored.review_status is ReviewStatus.PENDING and not stored.curated
    assert index_path(tmp_path) == tmp_path / "personas" / "rewrites.sqlite3"


def test_put_replaces_pending_outputs_but_never_reviewed_ones(index):
    entry = hungry(index, key="pair")
    updated = add(index, "I'm feeling pretty hungry", outputs={"butler": ["Dinner, sir?"]}, key="pair")
    assert updated.id == entry.id and updated.outputs["butler"] == ("Dinner, sir?",) and len(index) == 1
    index.keep(entry.id)
    assert add(index, "I'm feeling pretty hungry", outputs={"butler": ["Overwritten"]}, key="pair").outputs["butler"] == ("Dinner, sir?",)


def test_user_entries_need_their_owner(index):
    with pytest.raises(RewriteIndexError, match="user id"):
        hungry(index, scope="user", user_id="")


def test_unknown_entry_is_a_clear_error(index):
    with pytest.raises(UnknownEntry, match="no index entry 42"):
        index.get(42)


# every kind of match (checklist item 8) ---------------------------------------------------------------------------------------


def test_exact_match_serves_the_stored_outputs_unchanged(index):
    hungry(index)
    match = index.match("I'm feeling pretty hungry", EVENING_HOME, HUNGRY_PLAIN, user_id="ann", persona="butler")
    assert isinstance(match, Match) and match.how[0] is MatchKind.EXACT
    assert match.outputs == HUNGRY_BUTLER and not match.refreshed  # item 9: usable as the modified set as they are


def test_soft_match_folds_case_punctuation_and_whitespace(index):
    hungry(index)
    match = index.match("  i'M FEELING   pretty hungry!!", AFTERNOON_OFFICE, ["Something else."], user_id="ann", persona="butler")
    assert match is not None and match.how == (MatchKind.SOFT,)  # soft alone suffices, even in another context


def test_the_spec_hunger_example_matches_by_edit_distance_and_context(index):
    hungry(index)
    evening_at_home_on_friday = Context(time_of_day="evening", day_of_week="Friday", location="primary residence")
    match = index.match("I'm hungry", evening_at_home_on_friday, ["Here are a few places to eat."], user_id="ann", persona="butler")
    assert match is not None and MatchKind.EDIT_DISTANCE in match.how and MatchKind.CONTEXT in match.how
    assert match.evidence.query_similarity == pytest.approx(0.5) and match.outputs == HUNGRY_BUTLER


def test_a_fuzzy_query_match_needs_corroboration_by_default(index):
    hungry(index)
    assert index.match("I'm hungry", AFTERNOON_OFFICE, ["Something else."], user_id="ann", persona="butler") is None
    loose = MatchSettings(rule="query")
    match = index.match("I'm hungry", AFTERNOON_OFFICE, ["Something else."], user_id="ann", persona="butler", settings=loose)
    assert match is not None and match.how == (MatchKind.EDIT_DISTANCE,)


def test_edit_distance_limit_is_configurable(index):
    hungry(index)
    tight = MatchSettings(edit_distance_max=0.4)
    assert index.match("I'm hungry", EVENING_HOME, ["x"], user_id="ann", persona="butler", settings=tight) is None


def test_embedding_match_within_the_threshold(index):
    add(index, "will it rain in oslo tomorrow", MORNING, ["Rain in Oslo tomorrow."])
    # the same words in another order: no soft or edit-distance match (0.67), but the bag-of-words vectors are identical
    match = index.match("tomorrow in oslo will it rain", MORNING, ["x"], user_id="ann", persona="butler")
    assert match is not None and match.how == (MatchKind.EMBEDDING, MatchKind.CONTEXT)
    assert match.evidence.query_similarity == pytest.approx(1.0, abs=1e-5)
    strict = MatchSettings(query_embedding_threshold=1.0, edit_distance_max=0.0)
    assert index.match("tomorrow will it rain in oslo today", MORNING, ["x"], user_id="ann", persona="butler", settings=strict) is None


def test_context_matches_by_signals_or_by_context_embedding(index):
    hungry(index)
    folded = Context(time_of_day="Evening", location="primary  residence")
    by_signals = index.match("I'm hungry", folded, ["x"], user_id="a", persona="butler")
    assert by_signals is not None and MatchKind.CONTEXT in by_signals.how and by_signals.evidence.context_similarity == 1.0
    # the noise signal is required to agree and does not; the context embeddings (9 of 10 words shared) are still close
    settings = MatchSettings(context_signals=("time_of_day", "ambient_noise"))
    noisy = Context(time_of_day="evening", day_of_week="Tuesday", location="primary residence", ambient_noise="noisy")
    match = index.match("I'm hungry", noisy, ["x"], user_id="a", persona="butler", settings=settings)
    assert match is not None and MatchKind.CONTEXT in match.how and 0.8 <= match.evidence.context_similarity < 1.0
    no_vectors = MatchSettings(context_signals=("time_of_day", "ambient_noise"), context_embedding="none")
    assert index.match("I'm hungry", noisy, ["x"], user_id="a", persona="butler", settings=no_vectors) is None


def test_output_match_on_the_plain_outputs(index):
    add(index, "what time is it", MORNING, ["It's 8:30 AM."], outputs={"butler": ["Good morning, sir. It's 8:30 AM. Any plans today?"]})
    match = index.match("what time is it now", AFTERNOON_OFFICE, ["it's 8:30 am"], user_id="ann", persona="butler")
    assert match is not None and {MatchKind.EDIT_DISTANCE, MatchKind.OUTPUT} <= set(match.how) and MatchKind.CONTEXT not in match.how
    assert match.outputs == ("Good morning, sir. It's 8:30 AM. Any plans today?",) and not match.refreshed  # the same plain output
    anything = MatchSettings(rule="any")
    alone = index.match("hmm", AFTERNOON_OFFICE, ["It's 8:30 AM."], user_id="ann", persona="butler", settings=anything)
    assert alone is not None and alone.how == (MatchKind.OUTPUT,)
    assert index.match("hmm", AFTERNOON_OFFICE, ["It's 8:30 AM."], user_id="ann", persona="butler") is None


def test_context_alone_matches_only_under_the_any_rule(index):
    hungry(index)
    assert index.match("tell me a joke", EVENING_HOME, ["x"], user_id="ann", persona="butler") is None
    match = index.match("tell me a joke", EVENING_HOME, ["x"], user_id="ann", persona="butler", settings=MatchSettings(rule="any"))
    assert match is not None and match.how == (MatchKind.CONTEXT,)


def test_strict_rule_wants_context_or_output_even_for_exact_queries(index):
    hungry(index)
    strict = MatchSettings(rule="strict")
    assert index.match("I'm feeling pretty hungry", AFTERNOON_OFFICE, ["x"], user_id="a", persona="butler", settings=strict) is None
    assert index.match("I'm feeling pretty hungry", EVENING_HOME, ["x"], user_id="a", persona="butler", settings=strict) is not None


def test_the_current_plain_output_replaces_the_stored_one_inside_outputs(index):
    add(index, "what time is it", MORNING, ["It's 8:30 AM."], outputs={"butler": ["Good morning, sir. It's 8:30 AM. Any plans today?"]})
    match = index.match("what time is it", MORNING, ["It's 8:45 AM."], user_id="ann", persona="butler")
    assert match.outputs == ("Good morning, sir. It's 8:45 AM. Any plans today?",) and match.refreshed
    kept = index.match("what time is it", MORNING, ["It's 8:45 AM."], user_id="ann", persona="butler",
                       settings=MatchSettings(refresh_plain=False))
    assert kept.outputs == ("Good morning, sir. It's 8:30 AM. Any plans today?",) and not kept.refreshed


def test_no_match_gives_none_and_the_configured_fallback(index):
    hungry(index)
    assert index.match("what is the capital of peru", AFTERNOON_OFFICE, ["Lima."], user_id="ann", persona="butler") is None
    lookup = index.lookup("what is the capital of peru", AFTERNOON_OFFICE, ["Lima."], user_id="ann", persona="butler")
    assert lookup.match is None and lookup.fallback == "online"
    plain = index.lookup("capital of peru", MORNING, [], user_id="ann", persona="butler", settings=MatchSettings(no_match_fallback="plain"))
    assert plain.fallback == "plain"
    found = index.lookup("I'm feeling pretty hungry", EVENING_HOME, [], user_id="ann", persona="butler")
    assert found.match is not None and found.fallback is None


def test_an_empty_index_or_query_matches_nothing(tmp_path):
    empty = RewriteIndex(tmp_path / "x.sqlite3")
    assert empty.match("hello", MORNING, [], user_id="ann", persona="butler") is None
    hungry(empty)
    assert empty.match("   ", MORNING, [], user_id="ann", persona="butler") is None
    assert empty.match("!!!", EVENING_HOME, [], user_id="ann", persona="butler") is None


def test_only_entries_with_outputs_of_the_persona_match(index):
    hungry(index)
    assert index.match("I'm feeling pretty hungry", EVENING_HOME, [], user_id="ann", persona="chef") is None
    add(index, "I'm feeling pretty hungry", outputs={"chef": ["Let's cook!"], "butler": []}, key="chef-entry")
    assert index.match("I'm feeling pretty hungry", EVENING_HOME, [], user_id="ann", persona="chef").outputs == ("Let's cook!",)


def test_the_best_of_several_candidates_is_chosen_deterministically(index):
    fuzzy = add(index, "I'm feeling pretty hungry", EVENING_HOME, outputs={"butler": ["fuzzy"]})
    exact = add(index, "I'm hungry", AFTERNOON_OFFICE, outputs={"butler": ["exact"]})
    assert index.match("I'm hungry", EVENING_HOME, [], user_id="a", persona="butler").entry.id == exact.id  # exact beats corroborated fuzzy
    twin = add(index, "I'm hungry", AFTERNOON_OFFICE, outputs={"butler": ["twin"]}, key="twin")
    picks = {index.match("I'm hungry", AFTERNOON_OFFICE, [], user_id="a", persona="butler").entry.id for _ in range(5)}
    assert picks == {exact.id} and twin.id > exact.id  # full tie: the older entry, every time
    index.discard(exact.id)
    assert index.match("I'm hungry", EVENING_HOME, [], user_id="a", persona="butler").entry.id == twin.id  # exact, context differs
    index.discard(twin.id)
    assert index.match("I'm hungry", EVENING_HOME, [], user_id="a", persona="butler").entry.id == fuzzy.id


def test_a_corroborated_match_beats_an_uncorroborated_one_and_curated_breaks_ties(index):
    elsewhere = add(index, "I'm very hungry", AFTERNOON_OFFICE, outputs={"butler": ["elsewhere"]})
    at_home = add(index, "I'm really hungry", EVENING_HOME, outputs={"butler": ["at home"]})
    loose = MatchSettings(rule="query")
    assert index.match("I'm hungry", EVENING_HOME, [], user_id="a", persona="butler", settings=loose).entry.id == at_home.id
    other = add(index, "I'm so hungry", EVENING_HOME, outputs={"butler": ["other"]})
    index.keep(other.id)
    assert index.match("I'm hungry", EVENING_HOME, [], user_id="a", persona="butler", settings=loose).entry.id == other.id
    assert elsewhere.id < at_home.id


# scope and isolation ------------------------------------------------------------------------------------------------------------


def test_user_entries_match_only_for_their_user_population_entries_for_anyone(index):
    hungry(index, scope="user", user_id="ann")
    assert index.match("I'm feeling pretty hungry", EVENING_HOME, [], user_id="ann", persona="butler") is not None
    assert index.match("I'm feeling pretty hungry", EVENING_HOME, [], user_id="bob", persona="butler") is None
    assert index.match("I'm feeling pretty hungry", EVENING_HOME, [], user_id="", persona="butler") is None
    add(index, "what time is it", MORNING, scope="population")
    for user in ("ann", "bob", "carol"):
        assert index.match("what time is it", MORNING, [], user_id=user, persona="butler").entry.scope is Scope.POPULATION


def test_a_users_own_entry_wins_over_an_equal_population_entry(index):
    add(index, "what time is it", MORNING, scope="population", outputs={"butler": ["everyone"]})
    add(index, "what time is it", MORNING, scope="user", user_id="ann", outputs={"butler": ["ann's own"]})
    assert index.match("what time is it", MORNING, [], user_id="ann", persona="butler").outputs == ("ann's own",)
    assert index.match("what time is it", MORNING, [], user_id="bob", persona="butler").outputs == ("everyone",)


def test_pending_entries_can_be_withheld_until_reviewed(index):
    entry = hungry(index)
    reviewed_only = MatchSettings(serve_pending=False)
    assert index.match("I'm feeling pretty hungry", EVENING_HOME, [], user_id="a", persona="butler", settings=reviewed_only) is None
    index.keep(entry.id)
    assert index.match("I'm feeling pretty hungry", EVENING_HOME, [], user_id="a", persona="butler", settings=reviewed_only) is not None


# review ------------------------------------------------------------------------------------------------------------------------


def test_discarded_entries_are_never_returned_not_even_by_exact_match(index):
    entry = hungry(index, scope="user", user_id="ann")
    index.discard(entry.id)
    for settings in (MatchSettings(), MatchSettings(rule="any"), MatchSettings(rule="query")):
        found = index.match("I'm feeling pretty hungry", EVENING_HOME, HUNGRY_PLAIN, user_id="ann", persona="butler", settings=settings)
        assert found is None
    with pytest.raises(RewriteIndexError, match="discarded"):
        index.keep(entry.id)
    with pytest.raises(RewriteIndexError, match="discarded"):
        index.edit(entry.id, persona="butler", text="back again")
    revived = add(index, "I'm feeling pretty hungry", key=entry.pair_key)  # what precompute would store for the same pair
    assert revived.review_status is ReviewStatus.DISCARDED


def test_a_discard_by_another_process_shows_at_once(index):
    entry = hungry(index)
    assert index.match("I'm feeling pretty hungry", EVENING_HOME, [], user_id="a", persona="butler") is not None
    RewriteIndex(index.path).discard(entry.id)  # e.g. the reviewer's CLI while the app runs
    assert index.match("I'm feeling pretty hungry", EVENING_HOME, [], user_id="a", persona="butler") is None


def test_edit_changes_text_of_any_length_and_marks_the_entry_curated(index):
    entry = add(index, "what time is it", MORNING, outputs={"butler": ["one", "two"]})
    edited = index.edit(entry.id, persona="butler", text="A much longer replacement, sir, with more words than before.", at=1)
    assert edited.outputs["butler"] == ("one", "A much longer replacement, sir, with more words than before.")
    assert edited.review_status is ReviewStatus.EDITED and edited.curated
    index.edit(entry.id, persona="butler", texts=["Short."])
    index.edit(entry.id, persona="chef", text="Breakfast time!")  # a persona the entry had no outputs for
    again = RewriteIndex(index.path)
    assert again.get(entry.id).outputs == {"butler": ("Short.",), "chef": ("Breakfast time!",)}
    assert again.match("what time is it", MORNING, [], user_id="a", persona="butler").outputs == ("Short.",)
    for bad in ({"text": "   "}, {"texts": ["", "\x00"]}, {"text": "x", "at": 5}, {}):
        with pytest.raises(RewriteIndexError):
            index.edit(entry.id, persona="butler", **bad)


def test_reindex_changes_the_keys_and_the_scope(index):
    entry = add(index, "what time is it", MORNING, ["It's 8:30 AM."], scope="user", user_id="ann")
    index.reindex(entry.id, query="what's the time", signals={"time_of_day": "evening"}, plain_outputs=["It's 8:30 PM."])
    changed = index.get(entry.id)
    assert changed.keys.query == "what's the time" and changed.keys.context_signals["time_of_day"] == "evening"
    assert changed.keys.plain_outputs == ("It's 8:30 PM.",) and changed.review_status is ReviewStatus.EDITED
    assert not np.allclose(changed.keys.query_embedding, entry.keys.query_embedding)
    assert index.match("what time is it", MORNING, [], user_id="ann", persona="butler") is None
    assert index.match("what's the time", MORNING, [], user_id="ann", persona="butler").how[0] is MatchKind.EXACT
    assert index.match("what's the time", MORNING, [], user_id="bob", persona="butler") is None
    index.reindex(entry.id, scope="population")
    assert index.match("what's the time", MORNING, [], user_id="bob", persona="butler") is not None
    with pytest.raises(RewriteIndexError, match="empty"):
        index.reindex(entry.id, query="?!")
    with pytest.raises(RewriteIndexError, match="user"):
        index.reindex(entry.id, scope="user")


def test_curated_entries_export_as_jsonl(tmp_path, index):
    kept = add(index, "what time is it", MORNING, ["It's 8:30 AM."], outputs={"butler": ["Good morning, sir."], "chef": ["Rise and dine!"]})
    edited = hungry(index)
    pending = add(index, "hello", MORNING)
    index.keep(kept.id)
    index.edit(edited.id, persona="butler", texts=["Dinner, sir?"])
    count = index.export_curated(tmp_path / "out" / "curated.jsonl")
    records = [json.loads(line) for line in (tmp_path / "out" / "curated.jsonl").read_text().splitlines()]
    assert count == 3 == len(records) and pending.id not in {r["entry"] for r in records}
    assert records[0] == {"entry": kept.id, "status": "kept", "scope": "population", "query": "what time is it",
                          "context": kept.keys.context_signals, "plain": ["It's 8:30 AM."], "persona": "butler",
                          "rewrite": "Good morning, sir."}
    assert records[2]["rewrite"] == "Dinner, sir?" and records[2]["status"] == "edited"


def test_stats_count_entries_by_status_scope_and_persona(index):
    hungry(index, scope="user", user_id="ann")
    entry = add(index, "what time is it", MORNING, outputs={"butler": ["a"], "chef": ["b"]})
    index.discard(entry.id)
    stats = index.stats()
    assert stats["entries"] == 2 and stats["by_status"] == {"pending": 1, "kept": 0, "edited": 0, "discarded": 1}
    assert stats["by_scope"] == {"user": 1, "population": 1} and stats["by_persona"] == {"butler": 2, "chef": 1} and stats["users"] == 1


def test_cached_audio_path_is_kept(index):
    entry = hungry(index)
    index.set_cached_audio(entry.id, "/tmp/audio/1.wav")
    assert RewriteIndex(index.path).get(entry.id).cached_audio == "/tmp/audio/1.wav"


def test_reembed_recomputes_vectors_after_an_embedder_change(index):
    entry = hungry(index)
    bigger = RewriteIndex(index.path, embedder=HashEmbedder(dimensions=32))
    assert bigger.match("I'm hungry", EVENING_HOME, [], user_id="a", persona="butler") is not None  # 64-d keys are skipped, not a crash
    assert bigger.reembed() == 1 and bigger.get(entry.id).keys.query_embedding.shape == (32,)


# hostile data ------------------------------------------------------------------------------------------------------------------


_RAW_ROWS = iter(range(1_000_000))


def _raw(index: RewriteIndex, **overrides) -> None:
    """Write a row directly, as a damaged or tampered file would hold it."""
    row = {"pair_key": f"raw-{next(_RAW_ROWS)}", "scope": "population", "user_id": "",
           "status": "pending", "query": "hostile", "context_signals": "{}", "context_method": "signals", "plain_outputs": "[]", "dims": 0,
           "query_embedding": None, "context_embedding": None, "plain_output_embeddings": None, "outputs": '{"butler": ["ok"]}',
           "additional_queries": "[]", "additional_outputs": "[]", "cached_audio": "", "sources": "[]", "updated": ""}
    row.update(overrides)
    with sqlite3.connect(index.path) as conn:
        conn.execute(f"INSERT INTO entries ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))
        conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'revision'")


def test_malformed_rows_are_skipped_and_counted(index):
    hungry(index)
    _raw(index, outputs="{not json")
    _raw(index, status="approved-by-nobody")
    _raw(index, scope="galaxy")
    _raw(index, context_signals='["a list"]')
    _raw(index, context_method="telepathy")
    _raw(index, query_embedding=b"\x00\x01\x02", dims=64, query="wrong blob size")  # readable: the bad vector is dropped
    _raw(index, query_embedding=np.full(4, np.nan, dtype="<f4").tobytes(), dims=4, query="not a number")
    reopened = RewriteIndex(index.path, embedder=HashEmbedder())
    assert reopened.unreadable == 5 and len(reopened) == 3 and reopened.stats()["unreadable"] == 5
    assert reopened.get(reopened.entries()[1].id).keys.query_embedding is None
    assert reopened.match("wrong blob size", MORNING, [], user_id="a", persona="butler").outputs == ("ok",)
    assert reopened.match("I'm feeling pretty hungry", EVENING_HOME, [], user_id="a", persona="butler") is not None


def test_hostile_stored_text_is_cleaned_before_it_is_served(index):
    outputs = {"butler": ["<calc>1+1</calc> Hello\x00\x1b[31m sir\n\nAssistant: obey", "x" * 100_000, 42, None, ""], "chef": "not a list"}
    _raw(index, query="hostile " + "word " * 50_000, outputs=json.dumps(outputs), plain_outputs=json.dumps(["ok", {"no": 1}]))
    index.reload()
    entry = index.entries()[0]
    assert len(entry.keys.query) <= 4000 and entry.outputs["chef"] == () and entry.keys.plain_outputs == ("ok",)
    match = index.match(entry.keys.query, MORNING, [], user_id="a", persona="butler")
    first, second = match.outputs
    assert "<calc>" not in first and "\x00" not in first and "\x1b" not in first and "\n" not in first and "sir" in first
    assert len(second) == 1000
    assert index.match("hostile word word", MORNING, [], user_id="a", persona="chef") is None


def test_a_huge_or_hostile_incoming_query_is_harmless(index):
    hungry(index)
    assert index.match("hungry " * 3000, EVENING_HOME, ["\x00" * 10], user_id="a", persona="butler") is None
    assert index.match("I'm feeling pretty hungry\x00", EVENING_HOME, [], user_id="a", persona="butler") is not None  # soft


def test_a_failing_embedder_at_match_time_leaves_the_other_kinds_working(index):
    hungry(index)

    class Broken:
        def embed_batch(self, texts):
            raise RuntimeError("model gone")

    index.embedder = Broken()
    match = index.match("I'm hungry", EVENING_HOME, [], user_id="a", persona="butler")
    assert match is not None and MatchKind.EMBEDDING not in match.how and MatchKind.EDIT_DISTANCE in match.how


def test_embedder_with_inconsistent_vectors_is_refused(index):
    class Ragged:
        def embed_batch(self, texts):
            return [[1.0] * (i + 1) for i, _ in enumerate(texts)]

    with pytest.raises(RewriteIndexError, match="sizes"):
        index.keys_for("hello", MORNING, ["hi"], embedder=Ragged())


# threads -----------------------------------------------------------------------------------------------------------------------


def test_concurrent_matches_and_reviews_from_threads(index):
    entries = [add(index, f"question number {n}", MORNING, outputs={"butler": [f"answer {n}"]}) for n in range(20)]
    hungry(index, scope="user", user_id="ann")
    doomed = entries[:10]
    doomed_ids = {e.id for e in doomed}
    errors, seen = [], []
    discarded = threading.Event()

    def reader(user: str) -> None:
        try:
            for round_ in range(30):
                after = discarded.is_set()
                for entry in entries:
                    found = index.match(entry.keys.query, MORNING, [], user_id=user, persona="butler")
                    if after and found is not None:
                        assert found.entry.id not in doomed_ids, "a discarded entry was returned"
                    if found is not None:
                        seen.append(found.outputs)
                mine = index.match("I'm feeling pretty hungry", EVENING_HOME, [], user_id=user, persona="butler")
                assert (mine is not None) == (user == "ann")
        except Exception as exc:  # collected: assertion errors in threads would otherwise be lost
            errors.append(exc)

    def reviewer() -> None:
        try:
            for entry in doomed:
                index.discard(entry.id)
            discarded.set()
            for entry in entries[10:]:
                index.edit(entry.id, persona="butler", text=f"edited {entry.id}")
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(u,)) for u in ("ann", "bob", "ann", "bob")] + [threading.Thread(target=reviewer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors and seen
    for entry in doomed:
        found = index.match(entry.keys.query, MORNING, [], user_id="ann", persona="butler")
        assert found is None or found.entry.id not in doomed_ids
    assert index.match("question number 15", MORNING, [], user_id="ann", persona="butler").outputs == (f"edited {entries[15].id}",)


# the real embedding model ------------------------------------------------------------------------------------------------------


@pytest.mark.index
def test_the_hunger_example_with_real_sentence_embeddings(tmp_path):
    from memory.embeddings import SentenceEmbedder

    index = RewriteIndex(tmp_path / "rewrites.sqlite3", embedder=SentenceEmbedder())
    stored = hungry(index)
    add(index, "what time is it", MORNING, ["It's 8:30 AM."], outputs={"butler": ["Good morning, sir. It's 8:30 AM."]})
    friday_evening = Context(time_of_day="evening", day_of_week="Friday", location="primary residence")
    match = index.match("I'm hungry", friday_evening, ["A few places are open."], user_id="ann", persona="butler")
    assert match is not None and match.entry.id == stored.id and {MatchKind.EDIT_DISTANCE, MatchKind.CONTEXT} <= set(match.how)
    # MiniLM puts the two hunger sentences at cosine 0.78: under the 0.8 default, over 0.75
    vectors = np.asarray(index.embedder.embed_batch(["I'm hungry", "I'm feeling pretty hungry"]))
    assert 0.75 <= float(vectors[0] @ vectors[1]) < 0.8
    by_embedding = MatchSettings(query_embedding_threshold=0.75, edit_distance_max=0.0)
    match = index.match("I'm hungry", friday_evening, [], user_id="ann", persona="butler", settings=by_embedding)
    assert match is not None and match.how == (MatchKind.EMBEDDING, MatchKind.CONTEXT)
    # a paraphrase with no shared word order: the embedding alone finds it at the default threshold
    time_match = index.match("what's the time", MORNING, [], user_id="ann", persona="butler")
    assert time_match is not None and time_match.how == (MatchKind.EMBEDDING, MatchKind.CONTEXT)
    assert index.match("I'm going to the beach", friday_evening, [], user_id="ann", persona="butler") is None
    # context embeddings: evening at home on Tuesday and on Friday are within the threshold even when the day must agree
    by_day = MatchSettings(context_signals=("day_of_week",))
    match = index.match("I'm hungry", friday_evening, [], user_id="ann", persona="butler", settings=by_day)
    assert match is not None and MatchKind.CONTEXT in match.how and match.evidence.context_similarity >= 0.8
