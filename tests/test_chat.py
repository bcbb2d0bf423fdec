"""The Assistant facade: input checks, sessions, memory writes after the answer, failures as messages."""

import threading

import pytest

from assistant.chat import Assistant
from assistant.errors import BackendError
from assistant.types import FinalAnswer, Outcome, ToolCall
from tests.fakes import ScriptedBackend
from tools.calc import calc


def make(config, embedder, clock, *outputs, backend=None):
    backend = backend or ScriptedBackend(outputs)
    return Assistant(config, backend=backend, embedder=embedder, clock=clock, tools=[calc]), backend


def test_acceptance_shape_of_a_calc_turn(config, embedder, clock):
    assistant, _ = make(config, embedder, clock, " <calc>17 * 23</calc>", " 17 times 23 is 391.")
    turn = assistant.chat("What is 17 times 23?", user_id="demo")
    assert turn.to_dict()["calls"][0] | {"seconds": 0} == {"tool": "calc", "query": "17 * 23", "result": "17 * 23 = 391", "seconds": 0, "ok": True}
    assert "391" in turn.text and turn.outcome is Outcome.ANSWER


@pytest.mark.parametrize("message", ["", "   ", "\n\t", None])
def test_empty_messages_are_refused_without_running_the_model(config, embedder, clock, message):
    assistant, backend = make(config, embedder, clock)
    turn = assistant.chat(message, user_id="demo")
    assert turn.outcome is Outcome.REJECTED and "empty" in turn.text
    assert backend.prompts == []


def test_huge_messages_are_refused_with_the_limit(config, embedder, clock):
    assistant, backend = make(config, embedder, clock)
    turn = assistant.chat("a" * 50_000, user_id="demo")
    assert turn.outcome is Outcome.REJECTED
    assert "50,000" in turn.text and "4,000" in turn.text
    assert backend.prompts == []


def test_emoji_and_invalid_unicode_reach_the_model_cleanly(config, embedder, clock):
    assistant, backend = make(config, embedder, clock, " Nice! 🎉")
    turn = assistant.chat("party time 🎉🎂 \udcff\x00", user_id="demo")
    assert turn.text == "Nice! 🎉"
    assert "party time 🎉🎂 ?" in backend.prompts[0]


@pytest.mark.parametrize("user", ["", "   ", "x" * 65])
def test_bad_user_ids_are_refused(config, embedder, clock, user):
    assistant, backend = make(config, embedder, clock)
    assert assistant.chat("hi", user_id=user).outcome is Outcome.REJECTED
    assert backend.prompts == []


class Broken(ScriptedBackend):
    def __init__(self, error):
        super().__init__()
        self.error = error

    def stream(self, prompt, **kwargs):
        raise self.error
        yield  # pragma: no cover


@pytest.mark.parametrize("error", [BackendError("server down"), RuntimeError("bug")])
def test_backend_failures_become_an_apology_not_a_traceback(config, embedder, clock, error):
    assistant, _ = make(config, embedder, clock, backend=Broken(error))
    events = list(assistant.stream("hi", user_id="demo"))
    assert isinstance(events[-1], FinalAnswer) and events[-1].outcome is Outcome.FAILED
    assert events[-1].text.startswith("Sorry")
    assert "Traceback" not in events[-1].text


def test_session_context_is_per_session_and_cleared_at_the_end(config, embedder, clock):
    assistant, backend = make(config, embedder, clock, " Nice to meet you, Ann.", " You are Ann.", " Who?")
    assistant.chat("My name is Ann", user_id="ann", session_id="s1")
    assistant.chat("Who am I", user_id="ann", session_id="s1")
    assert "User: My name is Ann\nAssistant: Nice to meet you, Ann." in backend.prompts[1]
    assistant.end_session("s1")
    assistant.chat("Who am I", user_id="ann", session_id="s1")
    assert "My name is Ann\nAssistant: Nice" not in backend.prompts[2]


def test_a_session_id_never_carries_another_users_context(config, embedder, clock):
    assistant, backend = make(config, embedder, clock, " ok", " ok")
    assistant.chat("my secret is 1234", user_id="alice", session_id="shared")
    assistant.chat("what did the last person say", user_id="bob", session_id="shared")
    assert "1234" not in backend.prompts[1]


def test_memories_are_written_after_the_answer_and_per_user(config, embedder, clock):
    assistant, _ = make(config, embedder, clock, " Noted!")
    assistant.chat("My dog is called Rex", user_id="alice")
    assert [(m.input, m.answer) for m in assistant.memory.rows("alice")] == [("My dog is called Rex", "Noted!")]
    assert assistant.memory.rows("bob") == []


def test_turns_answered_by_live_tools_are_not_memories(config, embedder, clock):
    assistant, _ = make(config, embedder, clock, " <calc>2+2</calc>", " 4")
    assistant.chat("What is 2+2", user_id="alice")
    assert assistant.memory.rows("alice") == []


def test_nothing_is_written_while_generating(config, embedder, clock):
    assistant, _ = make(config, embedder, clock, " Noted, Rex!")
    for event in assistant.stream("My dog is called Rex", user_id="alice"):
        if isinstance(event, FinalAnswer):
            assert assistant.memory.rows("alice") == []
    assert len(assistant.memory.rows("alice")) == 1


def hash_tuned(config):
    """Thresholds for the hashing embedder's similarities."""
    return config.with_(memory_threshold=0.2, memory_context_threshold=0.2, memory_novelty=0.9)


def test_memories_are_fetched_into_the_prompt_before_generation(config, embedder, clock):
    assistant, backend = make(hash_tuned(config), embedder, clock, " Noted!", " Your dog is Rex.")
    assistant.chat("My dog is called Rex", user_id="alice")
    events = list(assistant.stream("what is my dog called", user_id="alice"))
    first = next(e for e in events if isinstance(e, ToolCall))
    assert (first.tool, first.step) == ("memory", 0)
    assert backend.prompts[1].endswith(
        'Assistant: <memory>what is my dog called</memory><memory-r>On 14 May you said: "My dog is called Rex" I answered: "Noted!"</memory-r>'
    )
    assert len(assistant.memory.rows("alice")) == 1  # a question answered from memory adds nothing new
    assert "Rex" not in "".join(list(assistant.stream("what is my dog called", user_id="bob"))[-1].text)


def test_a_memory_of_a_turn_still_in_the_conversation_is_not_fetched_again(config, embedder, clock):
    """The last turns are in the prompt already; recalling them as memories too pulled the real model off the request."""
    assistant, backend = make(hash_tuned(config), embedder, clock, " Noted!", " Rex.", " Rex.")
    assistant.chat("My dog is called Rex", user_id="alice", session_id="s1")
    assistant.chat("what is my dog called", user_id="alice", session_id="s1")
    assert "<memory-r>" not in backend.prompts[1] and "User: My dog is called Rex" in backend.prompts[1]
    assistant.chat("what is my dog called", user_id="alice", session_id="s2")  # a new conversation recalls it
    assert '<memory-r>' in backend.prompts[2] and 'you said: "My dog is called Rex"' in backend.prompts[2]


def test_prefetch_can_be_turned_off(config, embedder, clock):
    assistant, backend = make(hash_tuned(config).with_(memory_prefetch=False), embedder, clock, " Noted!", " ?")
    assistant.chat("My dog is called Rex", user_id="alice")
    assistant.chat("what is my dog called", user_id="alice")
    assert "<memory-r>" not in backend.prompts[1]


def test_a_changed_fact_replaces_the_old_one(config, embedder, clock):
    assistant, _ = make(hash_tuned(config), embedder, clock, " Nice name!", " Got it.")
    assistant.chat("My dog is called Rex", user_id="alice")
    assistant.chat("Actually my dog is called Max now", user_id="alice")
    assert [m.input for m in assistant.memory.rows("alice")] == ["Actually my dog is called Max now"]
    assert [m.input for m in assistant.memory.history("alice")] == ["My dog is called Rex"]


def test_concurrent_users_get_their_own_answers(config, embedder, clock):
    backend = ScriptedBackend([" answer"] * 8)
    assistant, _ = make(config, embedder, clock, backend=backend)
    results = {}

    def ask(name):
        results[name] = assistant.chat(f"hello from {name}", user_id=name, session_id=name)

    threads = [threading.Thread(target=ask, args=(f"user{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(turn.outcome is Outcome.ANSWER for turn in results.values()) and len(results) == 8


def test_beibei_with_the_scripted_model_sees_only_the_newest_row_in_latest_mode(config, embedder, clock):
    from datetime import datetime, timezone

    aug12, aug17 = datetime(2024, 8, 12, tzinfo=timezone.utc), datetime(2024, 8, 17, tzinfo=timezone.utc)
    assistant, backend = make(hash_tuned(config).with_(memory_read_mode="latest"), embedder, clock,
                              " Going to YY Park to meet lots of friends there?")
    assistant.memory.add("u", "Want to take Beibei to a pet park soon, any tips?", "Walk to XX Land, many pet attractions.", when=aug12)
    assistant.memory.add("u", "Tomorrow going to the suburbs with Beibei for fresh air.", "YY Park is a good choice.", when=aug17)
    turn = assistant.chat("Want to take Beibei to play with a friend I met recently.", user_id="u")
    assert "YY Park is a good choice." in backend.prompts[0] and "XX Land" not in backend.prompts[0]
    assert turn.text == "Going to YY Park to meet lots of friends there?"
