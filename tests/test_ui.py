"""The web app, launched for real and driven through gradio_client."""

import copy
import json
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file

from assistant.chat import Assistant
from tests.fakes import ScriptedBackend
from tools.calc import calc
from ui import launch
from ui.chat import chat_events

DATA = Path(__file__).parent / "data"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def app(config, embedder, clock):
    """The real Gradio app on 127.0.0.1 over a scripted model; yields (client, backend, assistant)."""
    backend = ScriptedBackend()
    assistant = Assistant(config.with_(port=free_port()), backend=backend, tools=[calc], embedder=embedder, clock=clock)
    demo = launch(assistant, prevent_thread_lock=True, quiet=True)
    client = Client(f"http://127.0.0.1:{assistant.config.port}/", verbose=False)
    yield client, backend, assistant
    client.close()
    demo.close()
    assistant.close()


def test_chat_shows_tool_calls_as_collapsible_messages(app):
    client, backend, _ = app
    backend.enqueue(" <calc>17 * 23</calc>", " 17 times 23 is 391.")
    history, box = client.predict("What is 17 times 23?", [], "alice", api_name="/chat")
    assert box == ""
    assert history[0]["role"] == "user"
    tool_message = history[1]
    assert tool_message["metadata"]["title"] == "🛠️ calc: 17 * 23"
    assert tool_message["metadata"]["status"] == "done" and tool_message["metadata"]["duration"] >= 0
    assert "17 * 23 = 391" in str(tool_message["content"])
    assert "391" in str(history[-1]["content"]) and not history[-1]["metadata"]
    assert len(history) == 3


def test_markup_in_messages_is_shown_as_text_never_html(app):
    client, backend, _ = app
    backend.enqueue(" <b>bold</b> <script>alert(1)</script>")
    history, _ = client.predict("<img src=x onerror=alert(1)>", [], "alice", api_name="/chat")
    rendered = str(history)
    assert "<script>" not in rendered and "<img" not in rendered
    assert "&lt;script&gt;" in rendered and "&lt;img src=x onerror=alert(1)&gt;" in rendered


@pytest.mark.parametrize(("message", "expected"), [("", "empty"), ("x" * 50_000, "50,000")])
def test_bad_input_gets_a_message_and_the_app_keeps_serving(app, message, expected):
    client, backend, _ = app
    history, _ = client.predict(message, [], "alice", api_name="/chat")
    assert expected in str(history[-1]["content"])
    backend.enqueue(" still here")
    history, _ = client.predict("hello", [], "alice", api_name="/chat")
    assert "still here" in str(history[-1]["content"])


def test_a_missing_name_is_a_clear_error(app):
    client, _, _ = app
    with pytest.raises(Exception, match="enter your name"):
        client.predict("hello", [], "   ", api_name="/chat")


def test_concurrent_users_are_all_served(app):
    client, backend, _ = app
    backend.enqueue(*[" fine"] * 6)
    results = []

    def ask(i):
        results.append(Client(client.src, verbose=False).predict(f"hi {i}", [], f"user{i}", api_name="/chat"))

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 6 and all("fine" in str(history[-1]["content"]) for history, _ in results)


def test_voice_is_transcribed_offline(app):
    client, _, _ = app
    text = client.predict(handle_file(str(DATA / "weather.wav")), api_name="/transcribe")
    assert "weather" in text


def test_silent_recording_is_a_clear_error(app, tmp_path):
    import wave

    path = tmp_path / "silence.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(16000)
        out.writeframes(np.zeros(16000, dtype=np.int16).tobytes())
    client, _, _ = app
    with pytest.raises(Exception, match="couldn't hear anything"):
        client.predict(handle_file(str(path)), api_name="/transcribe")


def test_event_stream_renders_progressively(config, embedder, clock):
    backend = ScriptedBackend([" <calc>2+2</calc>", " It is 4."])
    assistant = Assistant(config, backend=backend, tools=[calc], embedder=embedder, clock=clock)
    frames = [copy.deepcopy(frame) for frame in chat_events(assistant, "2+2?", [], user_id="u", session_id="s")]
    assert frames[0] == [{"role": "user", "content": "2+2?"}]
    assert any(f[-1].get("metadata", {}).get("status") == "pending" for f in frames)
    assert frames[-1][-1] == {"role": "assistant", "content": "It is 4."}


@pytest.mark.model
def test_launched_app_answers_with_the_embedded_model(model_data_dir, embedded, tmp_path):
    from assistant.config import Config
    from memory.embeddings import SentenceEmbedder

    config = Config(data_dir=model_data_dir, port=free_port())
    assistant = Assistant(config, backend=embedded, embedder=SentenceEmbedder())
    demo = launch(assistant, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{config.port}/", verbose=False)
        history, _ = client.predict("What is 17 times 23?", [], "ui-real-model", api_name="/chat")
        titles = [(m.get("metadata") or {}).get("title", "") for m in history]
        assert any(t.startswith("🛠️ calc") for t in titles)
        assert "391" in str(history[-1]["content"])
    finally:
        demo.close()


def rows_of(table) -> list[list[str]]:
    return table["data"] if isinstance(table, dict) else table


def test_memory_tab_lists_edits_deletes_and_undoes_only_your_own(app):
    client, _, assistant = app
    mine = assistant.memory.add("alice", "My dog is called Rex", "Nice name!")
    assistant.memory.add("bob", "My PIN is 4321", "Noted")
    rows, history = client.predict("", "alice", api_name="/memory_list")
    assert [r[2] for r in rows_of(rows)] == ["My dog is called Rex"] and rows_of(history) == []
    rows, _ = client.predict("", "bob", api_name="/memory_list")
    assert "4321" in str(rows) and "Rex" not in str(rows)

    rows, history = client.predict(mine.id, "My dog is called Rex the Third", "Grand!", "", "alice", api_name="/memory_edit")
    assert [r[2] for r in rows_of(rows)] == ["My dog is called Rex the Third"] and rows_of(history)[0][2] == "My dog is called Rex"
    new_id = rows_of(rows)[0][0]

    with pytest.raises(Exception, match="That memory is gone"):
        client.predict(new_id, "", "bob", api_name="/memory_delete")  # bob cannot touch alice's row
    assert len(assistant.memory.rows("alice")) == 1

    rows, history = client.predict(new_id, "", "alice", api_name="/memory_delete")
    assert rows_of(rows) == []
    rows, _ = client.predict(new_id, "", "alice", api_name="/memory_undo")
    assert [r[2] for r in rows_of(rows)] == ["My dog is called Rex the Third"]


def test_memory_export_and_delete_all(app):
    client, _, assistant = app
    assistant.memory.add("alice", "I work at a bakery <script>alert(1)</script>", "Lovely")
    assistant.memory.add("bob", "My PIN is 4321", "Noted")
    path = client.predict("alice", api_name="/memory_export")
    data = json.loads(Path(path).read_text())
    assert data["user"] == "alice" and [m["input"] for m in data["memories"]] == ["I work at a bakery <script>alert(1)</script>"]
    with pytest.raises(Exception, match="Tick the box"):
        client.predict(False, "alice", api_name="/memory_delete_all")
    rows, history, confirm = client.predict(True, "alice", api_name="/memory_delete_all")
    assert rows_of(rows) == [] and assistant.memory.rows("alice") == [] and len(assistant.memory.rows("bob")) == 1


def test_memory_search_in_the_tab(app):
    client, _, assistant = app
    assistant.memory.add("alice", "My dog is called Rex", "Nice")
    assistant.memory.add("alice", "I work at a bakery", "Lovely")
    rows, _ = client.predict("bakery", "alice", api_name="/memory_list")
    assert rows_of(rows)[0][2] == "I work at a bakery"


def test_the_persona_picker_and_who_spoke(config, embedder, clock):
    from assistant.personas.registry import PersonaRegistry
    from assistant.personas.reply import PersonaStage

    class Plain:
        def naturalness(self, text):
            return 0.9

        def in_character(self, text, persona):
            return 0.9

    backend = ScriptedBackend([" Hello!", " Good evening.", " How may I help?"])
    auto = config.with_(port=free_port(), persona="auto")
    assistant = Assistant(auto, backend=backend, tools=[calc], embedder=embedder, clock=clock,
                          persona_stage=PersonaStage(backend, PersonaRegistry(), Plain()))
    demo = launch(assistant, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{auto.port}/", verbose=False)
        history, _ = client.predict("hello there", [], "alice", "butler", api_name="/chat")
        assert "How may I help?\\n\\n*— butler*" in str(history[-1]["content"])
        history, _ = client.predict("hello again", [], "alice", "off", api_name="/chat")
        assert "— " not in str(history[-1]["content"])
    finally:
        demo.close()
        assistant.close()


def test_mixed_persona_replies_show_each_speaker_and_escape_their_text():
    from assistant.personas.types import Segment
    from assistant.types import FinalAnswer
    from ui.chat import in_character

    final = FinalAnswer(text="Sounds fun! <b>Rain</b>", persona="surfer",
                        segments=(Segment("Sounds fun!", "surfer"), Segment("<b>Rain</b> at the bay.", "forecaster")))
    assert in_character(final) == "**Surfer:** Sounds fun!\n\n**Forecaster:** &lt;b&gt;Rain&lt;/b&gt; at the bay."
    assert in_character(FinalAnswer(text="It is 4.")) == "It is 4."
