"""The minimal memory: one real Chroma collection per user, on disk."""

from datetime import datetime, timezone

import pytest

from memory.store import MemoryStore, collection_for
from tools.registry import ToolContext

WHEN = datetime(2024, 5, 2, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
def store(tmp_path, embedder):
    return MemoryStore(tmp_path, embedder, threshold=0.3)


def test_remember_then_recall(store):
    assert store.remember("ann", "My dog is called Rex", "Nice name!", when=WHEN)
    found = store.recall("ann", "what is my dog called")
    assert [(m.text, m.answer, m.when) for m in found] == [("My dog is called Rex", "Nice name!", WHEN)]


def test_near_duplicates_are_not_stored_twice(store):
    assert store.remember("ann", "My dog is called Rex")
    assert not store.remember("ann", "my dog is called rex")
    assert len(store.recall("ann", "dog called Rex")) == 1


@pytest.mark.parametrize("attacker", ["bob", "ann ", "ANN", "mem_ann", collection_for("ann"), "ann' OR 1=1", "../ann", ""])
def test_no_user_reads_another_users_memories(store, attacker):
    store.remember("ann", "My PIN is 4321")
    if attacker != "ann":
        assert store.recall(attacker, "My PIN is 4321") == []


def test_collection_names_are_digests(tmp_path):
    names = {collection_for(u) for u in ["ann", "Ann", "ann ", "bob", "x" * 1000, "😀", "\udcff"]}
    assert len(names) == 7
    assert all(n.startswith("mem_") and len(n) == 44 and n[4:].isalnum() for n in names)


def test_empty_and_huge_texts(store):
    assert not store.remember("ann", "   ")
    assert store.remember("ann", "x " * 10_000)
    assert len(store.recall("ann", "x x x")[0].text) <= 2000


def test_the_tool_answers_in_the_users_timezone(store):
    store.remember("ann", "I work at a bakery in Leeds", when=WHEN)
    ctx = ToolContext(user_id="ann", timezone="Asia/Tokyo", clock=lambda: WHEN)
    assert store.tool("where do I work", ctx) == 'On 2 May you said: "I work at a bakery in Leeds"'
    assert store.tool("where do I work", ToolContext(user_id="bob")) == "Nothing about that in this user's memories."


def test_memories_survive_a_new_store_object(tmp_path, embedder):
    MemoryStore(tmp_path, embedder).remember("ann", "I like tea")
    assert MemoryStore(tmp_path, embedder, threshold=0.3).recall("ann", "I like tea")[0].text == "I like tea"
