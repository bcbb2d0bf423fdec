"""The user profile store: per-user rows, validation, updates."""

import threading

import pytest

from memory.profile import MAX_FIELD_CHARS, Profile, Profiles


def test_an_unknown_user_has_an_empty_profile(tmp_path):
    profile = Profiles(tmp_path / "p.db").get("nobody")
    assert profile == Profile("nobody") and profile.name == "" and profile.places == {}


def test_update_stores_fields_and_reads_them_back(tmp_path):
    store = Profiles(tmp_path / "p.db")
    store.update("ann", name="Ann", places={"beach": "Half Moon Bay"}, interests="surfing, 3D modeling, surfing",
                 preferences={"cuisines": ["Mediterranean", "Indian"]}, persona_schedule={"06-12": "butler"})
    again = Profiles(tmp_path / "p.db").get("ann")
    assert again.name == "Ann" and again.places == {"beach": "Half Moon Bay"}
    assert again.interests == ("surfing", "3D modeling")
    assert again.preferences == {"cuisines": ("Mediterranean", "Indian")}
    assert again.persona_schedule == {"06-12": "butler"}
    assert store.get("bob") == Profile("bob")  # one user's profile is not another's


@pytest.mark.parametrize("changes, message", [
    ({"name": "x" * (MAX_FIELD_CHARS + 1)}, "too long"),
    ({"name": 42}, "must be text"),
    ({"interests": [str(i) for i in range(30)]}, "at most"),
    ({"places": ["beach"]}, "mapping"),
    ({"favourite": "blue"}, "unknown profile fields"),
    ({"user_id": "mallory"}, "unknown profile fields"),
])
def test_bad_values_are_refused_with_a_message(tmp_path, changes, message):
    store = Profiles(tmp_path / "p.db")
    with pytest.raises(ValueError, match=message):
        store.update("ann", **changes)
    assert store.get("ann") == Profile("ann")


def test_hostile_text_is_stored_as_text_and_whitespace_is_folded(tmp_path):
    store = Profiles(tmp_path / "p.db")
    profile = store.update("ann", name="  <script>alert(1)</script>\n Ann ", location="'; DROP TABLE profiles; --")
    assert store.get("ann") == profile and profile.name == "<script>alert(1)</script> Ann"
    assert store.get("ann").location == "'; DROP TABLE profiles; --"


def test_delete_and_concurrent_updates(tmp_path):
    store = Profiles(tmp_path / "p.db")
    workers = [threading.Thread(target=store.update, args=(f"user{i}",), kwargs={"name": f"User {i}"}) for i in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert [store.get(f"user{i}").name for i in range(8)] == [f"User {i}" for i in range(8)]
    store.delete("user3")
    assert store.get("user3").name == ""
