"""The memory bank on a real Chroma on disk, with a hashing embedder: reads, write rules, history, clean-up, isolation."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from memory.bank import MemoryBank, MemoryRow, MemorySettings, user_key
from memory.chroma import MemoryUnavailable
from memory.conflicts import FactConflicts, JudgeConflicts, facts
from tests.fakes import HashEmbedder, ScriptedBackend
from tools.registry import ToolContext

ROOT = Path(__file__).resolve().parent.parent
AUG12 = datetime(2024, 8, 12, 9, 0, tzinfo=timezone.utc)
AUG17 = datetime(2024, 8, 17, 9, 0, tzinfo=timezone.utc)
AUG20 = datetime(2024, 8, 20, 9, 0, tzinfo=timezone.utc)
HASH = MemorySettings(threshold=0.2, novelty=0.9, replace=0.5, context_threshold=0.2)  # hash-vector similarities


def bank(tmp_path, **settings) -> MemoryBank:
    return MemoryBank(tmp_path, HashEmbedder(), settings=MemorySettings(**{**HASH.__dict__, **settings}), clock=lambda: AUG20)


def beibei(memory: MemoryBank) -> None:
    """The spec's two rows about the dog Beibei."""
    memory.add("u", "Want to take Beibei to a pet park soon, any tips?", "Walk to XX Land, many pet attractions.", when=AUG12)
    memory.add("u", "Tomorrow going to the suburbs with Beibei for fresh air.", "YY Park is a good choice.", when=AUG17)


NEW = "Want to take Beibei to play with a friend I met recently."


def test_beibei_threshold_mode_passes_both_rows(tmp_path):
    memory = bank(tmp_path)
    beibei(memory)
    assert {r.timestamp for r in memory.read("u", NEW)} == {AUG12, AUG17}


def test_beibei_latest_mode_passes_only_the_newest(tmp_path):
    memory = bank(tmp_path, read_mode="latest")
    beibei(memory)
    [row] = memory.read("u", NEW)
    assert row.timestamp == AUG17 and row.answer == "YY Park is a good choice."


def test_top_k_returns_the_best_rows_whatever_their_similarity(tmp_path):
    memory = bank(tmp_path, read_mode="top_k", top_k=2, threshold=0.99)
    beibei(memory)
    memory.add("u", "I love pizza", "Me too!")
    assert len(memory.read("u", "pizza")) == 2 and memory.read("u", "pizza")[0].input == "I love pizza"


def test_topic_mode_keeps_to_the_querys_topic(tmp_path):
    memory = bank(tmp_path, read_mode="topic", threshold=0.0)
    memory.add("u", "My dog is called Rex")
    memory.add("u", "My sister is called Anna")
    assert [r.input for r in memory.read("u", "what is my dog called")] == ["My dog is called Rex"]


def test_reads_can_compare_against_input_and_answer(tmp_path):
    memory = bank(tmp_path, read_compare="input_answer")
    memory.add("u", "Any idea for dinner?", "Try the Thai place on King Street.")
    assert memory.read("u", "Thai place King Street")[0].input == "Any idea for dinner?"
    assert bank(tmp_path / "other").read("u", "Thai place King Street") == []


def test_prefetch_with_context_uses_the_fourth_threshold(tmp_path):
    memory = bank(tmp_path, threshold=0.95, context_threshold=0.1)
    beibei(memory)
    assert memory.prefetch("u", "park tips") == []
    assert memory.prefetch("u", "park tips", context=["Beibei loves the pet park"])


def test_a_new_fact_is_added_and_a_repeat_is_covered(tmp_path):
    memory = bank(tmp_path)
    assert memory.remember("u", "My dog is called Rex", "Nice!").action == "added"
    repeat = memory.remember("u", "my dog is called rex", "Yes")
    assert repeat.action == "skipped" and "already covered" in repeat.reason
    assert bank(tmp_path, gap_policy="add").remember("u", "my dog is called rex", "Yes").action == "added"


def test_a_changed_fact_replaces_the_old_row_and_keeps_it_in_history(tmp_path):
    memory = bank(tmp_path)
    old = memory.remember("u", "My dog is called Rex", "Nice!").row
    result = memory.remember("u", "Actually my dog is called Max now", "Got it, Max.")
    assert result.action == "replaced" and [r.id for r in result.replaced] == [old.id]
    assert [r.input for r in memory.rows("u")] == ["Actually my dog is called Max now"]
    [gone] = memory.history("u")
    assert gone.input == "My dog is called Rex" and gone.note == f"replaced by {result.row.id}"
    restored = memory.undo("u", gone.id)
    assert [r.input for r in memory.rows("u")] == ["My dog is called Rex"] and restored.id == old.id
    assert [r.input for r in memory.history("u")] == ["Actually my dog is called Max now"]


def test_different_subjects_do_not_conflict(tmp_path):
    memory = bank(tmp_path)
    memory.remember("u", "My sister is called Anna", "")
    assert memory.remember("u", "My brother is called Tom", "").action == "added"
    assert len(memory.rows("u")) == 2


def test_edit_delete_and_undo(tmp_path):
    memory = bank(tmp_path)
    row = memory.add("u", "I work at a bakery", "Lovely")
    edited = memory.edit("u", row.id, text="I work at a library")
    assert [r.input for r in memory.rows("u")] == ["I work at a library"] and edited.timestamp == row.timestamp
    memory.delete("u", edited.id)
    assert memory.rows("u") == []
    notes = [r.note for r in memory.history("u")]
    assert "deleted" in notes and any(n.startswith("edited into") for n in notes)
    memory.undo("u", edited.id)
    assert [r.input for r in memory.rows("u")] == ["I work at a library"]
    with pytest.raises(KeyError):
        memory.delete("u", "no-such-id")


def test_delete_all_erases_rows_and_history(tmp_path):
    memory = bank(tmp_path)
    memory.remember("u", "My dog is called Rex", "")
    memory.remember("u", "My dog is called Max", "")
    memory.add("keep", "I stay")
    assert memory.delete_all("u") == 1
    assert memory.rows("u") == [] and memory.history("u") == [] and len(memory.rows("keep")) == 1


def test_export_is_json_with_memories_and_history(tmp_path):
    memory = bank(tmp_path)
    memory.remember("u", "My dog is called Rex", "Nice")
    memory.remember("u", "My dog is called Max", "OK")
    data = json.loads(json.dumps(memory.export("u")))
    assert data["user"] == "u" and [m["input"] for m in data["memories"]] == ["My dog is called Max"]
    assert data["history"][0]["input"] == "My dog is called Rex" and data["history"][0]["note"].startswith("replaced by")


def test_cleanup_deletes_expired_and_stale_rows(tmp_path):
    memory = bank(tmp_path, retention_days=30)
    now = AUG20
    memory.add("a", "I was born in Lisbon", when=now - timedelta(days=40))
    memory.add("a", "Tomorrow I fly to Rome", when=now - timedelta(days=10))
    memory.add("b", "Tomorrow I fly to Oslo", when=now - timedelta(days=1))
    memory.add("b", "My cat is called Tom", when=now - timedelta(days=2))
    assert memory.cleanup(now=now) == {"expired": 1, "stale": 1, "history_expired": 0}
    assert memory.rows("a") == []
    assert sorted(r.input for r in memory.rows("b")) == ["My cat is called Tom", "Tomorrow I fly to Oslo"]


def test_staleness_check_is_pluggable(tmp_path):
    memory = MemoryBank(tmp_path, HashEmbedder(), settings=HASH, is_stale=lambda row, now: "pizza" in row.input)
    memory.add("u", "I love pizza")
    memory.add("u", "I love pasta")
    assert memory.cleanup(now=AUG20 + timedelta(days=1))["stale"] == 1
    assert [r.input for r in memory.rows("u")] == ["I love pasta"]


ATTACKERS = ["bob", "alice ", "ALICE", "alice\x00", "mem_alice", user_key("alice"), "alice' OR 1=1 --", "../alice", "*"]


@pytest.mark.parametrize("attacker", ATTACKERS)
def test_no_user_ever_reads_another_users_rows(tmp_path, attacker):
    memory = bank(tmp_path, threshold=-1.0)
    memory.add("alice", "My PIN is 4321", "Noted")
    ctx = ToolContext(user_id=attacker)
    for query in ("My PIN is 4321", "show me alice's memories", "alice", user_key("alice"), "*"):
        assert memory.read(attacker, query) == []
        assert "4321" not in memory.tool(query, ctx)
    assert memory.rows(attacker) == [] and memory.search(attacker, "PIN") == [] and memory.export(attacker)["memories"] == []


def test_concurrent_sessions_stay_isolated(tmp_path):
    memory = bank(tmp_path, threshold=-1.0)
    errors = []

    def session(user):
        try:
            for i in range(15):
                memory.remember(user, f"{user} secret number {i} is {user}{i}", "ok")
                assert all(user in r.input for r in memory.read(user, "secret number"))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=session, args=(u,)) for u in ("alice", "bob", "carol")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for user in ("alice", "bob", "carol"):
        assert all(r.input.startswith(user) for r in memory.rows(user)) and memory.rows(user)


@pytest.mark.parametrize(("text", "message"), [("", "needs some text"), ("   ", "needs some text"), ("x" * 5000, "at most 4,000")])
def test_bad_memory_text_is_refused_clearly(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        bank(tmp_path).add("u", text)


def test_binary_text_is_cleaned_not_lost(tmp_path):
    memory = bank(tmp_path)
    memory.add("u", "caf\udce9 \x00\x07 bar")
    assert memory.rows("u")[0].input == "caf? bar"


def test_a_corrupted_store_is_a_clear_error_and_is_left_untouched(tmp_path):
    bank(tmp_path).add("u", "precious memory")
    from memory import chroma

    chroma._clients.clear()  # a new process
    database = tmp_path / "chroma" / "chroma.sqlite3"
    damaged = b"garbage!" * 64 + database.read_bytes()[512:]
    database.write_bytes(damaged)
    with pytest.raises(MemoryUnavailable, match="Nothing in it was changed or deleted"):
        bank(tmp_path).rows("u")
    assert database.read_bytes() == damaged


def test_a_store_folder_removed_while_running_is_a_clear_error(tmp_path):
    import shutil

    memory = bank(tmp_path / "data")
    memory.add("u", "first")
    shutil.rmtree(tmp_path / "data")
    with pytest.raises(MemoryUnavailable, match="cannot be used"):
        memory.add("u", "second")


WRITER = """
import sys
from datetime import datetime, timezone
from memory.bank import MemoryBank
from tests.fakes import HashEmbedder
bank = MemoryBank(sys.argv[1], HashEmbedder())
for i in range(100000):
    row = bank.add("writer", f"memory number {i}", "ok")
    print(row.id, flush=True)
"""


def test_every_acknowledged_write_survives_sigkill(tmp_path):
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
    acknowledged = []
    deadline = time.time() + 60
    while len(acknowledged) < 40 and time.time() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        acknowledged.append(line.strip())
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert len(acknowledged) >= 40, "the writer did not get going"
    reopened = MemoryBank(tmp_path, HashEmbedder())
    stored = {r.id for r in reopened.rows("writer")}
    assert set(acknowledged) <= stored
    assert reopened.read("writer", f"memory number {acknowledged[-1].split('-')[0]}", mode="top_k")  # the index answers too


def test_the_tool_reads_dates_and_answers(tmp_path):
    memory = bank(tmp_path)
    beibei(memory)
    result = memory.tool("Beibei park", ToolContext(user_id="u", clock=lambda: AUG20))
    assert 'On 17 Aug you said: "Tomorrow going to the suburbs with Beibei for fresh air." I answered: "YY Park is a good choice."' in result
    assert memory.tool("quantum physics", ToolContext(user_id="nobody")) == "Nothing about that in this user's memories."


@pytest.mark.parametrize(
    ("text", "expected"),
    [("My dog is called Rex", {"my dog": "rex"}), ("My dog's name is Rex.", {"my dog": "rex"}),
     ("I moved to Porto last month", {"i live": "porto"}), ("I'm 34 years old", {"my age": "34"}), ("Nice weather!", {})],
)
def test_facts_are_read_from_statements(text, expected):
    assert facts(text) == expected


@pytest.mark.parametrize(
    ("new", "old", "expected"),
    [("My dog is called Max now", "My dog is called Rex", True), ("I live in Porto", "I live in Leeds", True),
     ("My brother is called Tom", "My sister is called Anna", False), ("My dog's name is Rex", "my dog is called Rex", False),
     ("I love pizza", "I live in Leeds", False)],
)
def test_rule_conflicts(new, old, expected):
    assert FactConflicts().conflicts(new, old) is expected


def test_llm_judge_reads_yes_or_no_from_the_model():
    class Judge(ScriptedBackend):
        def score(self, prompt, continuations, *, otherwise=False):
            self.prompts.append(prompt)
            return [0.0, -3.0] if "Max" in prompt.rsplit("Statement 1:", 1)[1] else [-3.0, 0.0]

    judge = Judge()
    judge.can_score = True
    assert JudgeConflicts(judge).conflicts("My dog is called Max <calc>1</calc>", "My dog is called Rex")
    assert not JudgeConflicts(judge).conflicts("I like tea", "I live in Leeds")
    assert "<calc>" not in judge.prompts[0]
    assert JudgeConflicts(ScriptedBackend([" yes"])).conflicts("a", "b")


def test_settings_are_validated():
    with pytest.raises(ValueError, match="read_mode must be one of threshold, latest, top_k, topic"):
        MemorySettings(read_mode="sometimes")
    with pytest.raises(ValueError):
        MemorySettings(threshold=2.0)


def test_rows_round_trip_through_export_shape():
    row = MemoryRow("1", "a", "b", AUG12, "pets")
    assert row.to_dict() == {"id": "1", "input": "a", "answer": "b", "timestamp": AUG12.isoformat(), "topic": "pets"}


def test_an_answer_that_contradicts_the_users_statement_is_not_kept(tmp_path):
    from memory.bank import as_said_by_user

    assert as_said_by_user("Noted, your dog is called Rex and you live in Leeds") == "Noted, my dog is called Rex and I live in Leeds"
    memory = bank(tmp_path)
    row = memory.remember("u", "Actually my dog is called Max now", "Noted, your dog is called Rex.").row
    assert (row.input, row.answer) == ("Actually my dog is called Max now", "")
    assert memory.remember("u", "I live in Porto", "Got it, you live in Porto.").row.answer == "Got it, you live in Porto."


def test_collections_deleted_by_another_process_are_reopened(tmp_path):
    app, cli = bank(tmp_path), bank(tmp_path)
    app.add("u", "I like tea")
    assert cli.delete_all("u") == 1  # e.g. `python -m assistant memory delete --all` while the app runs
    app.add("u", "I like coffee")
    assert [r.input for r in app.rows("u")] == ["I like coffee"]
