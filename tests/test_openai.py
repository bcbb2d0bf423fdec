"""The OpenAI-compatible backend: protocol details on a mock transport, then a real llama.cpp server."""

import json
import socket
import subprocess
import sys
import time

import httpx
import pytest

from assistant.backends.openai import SERVER_STOPS, OpenAIBackend
from assistant.chat import Assistant
from assistant.config import Config
from assistant.errors import BackendError
from assistant.types import Outcome


def sse(*chunks: dict) -> bytes:
    return "".join(f"data: {json.dumps(c)}\n\n" for c in chunks).encode() + b"data: [DONE]\n\n"


def mock_backend(handler, **kwargs) -> OpenAIBackend:
    return OpenAIBackend("http://model.test/v1", "m", client=httpx.Client(transport=httpx.MockTransport(handler)), **kwargs)


def test_completion_stream_is_parsed_and_cut_at_stop_strings():
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["url"], seen["body"] = str(request.url), json.loads(request.content)
        parts = [{"choices": [{"text": t}]} for t in [" <ca", "lc>17 * 23</c", "alc>", " more"]]
        return httpx.Response(200, content=sse(*parts), headers={"content-type": "text/event-stream"})

    stops = ["\n", "</calc>", "</time>", "</weather>", "</search>", "</memory>"]
    text = mock_backend(handler).complete("User: hi\nAssistant:", stop=stops, max_tokens=20)
    assert text == " <calc>17 * 23"  # the 5th and 6th stops were applied on our side
    assert seen["url"] == "http://model.test/v1/completions"
    assert seen["body"]["stop"] == stops[:SERVER_STOPS] and seen["body"]["stream"] is True and seen["body"]["model"] == "m"


def test_chat_api_reads_deltas():
    def handler(request):
        body = json.loads(request.content)
        assert body["messages"][-1]["content"] == "User: hi\nAssistant:"
        return httpx.Response(200, content=sse({"choices": [{"delta": {"role": "assistant"}}]}, {"choices": [{"delta": {"content": " Hello"}}]}))

    assert mock_backend(handler, api="chat").complete("User: hi\nAssistant:") == " Hello"


@pytest.mark.parametrize(
    ("response", "message"),
    [(httpx.Response(500, text="model crashed"), "answered 500: model crashed"), (httpx.Response(401, text="bad key"), "401")],
)
def test_server_errors_become_backend_errors(response, message):
    with pytest.raises(BackendError, match=message):
        mock_backend(lambda request: response).complete("x")


def test_unreachable_server_is_a_clear_error():
    with pytest.raises(BackendError, match="cannot reach the model server at http://127.0.0.1:9/v1"):
        OpenAIBackend("http://127.0.0.1:9/v1", timeout=2).complete("x")


def test_unknown_api_style_is_refused():
    with pytest.raises(ValueError):
        OpenAIBackend("http://x", api="assistants")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(model_data_dir, tmp_path_factory):
    """A real llama.cpp server (llama-cpp-python[server]) serving the same GGUF on 127.0.0.1."""
    pytest.importorskip("llama_cpp.server", reason="needs `pip install llama-cpp-python[server]` (requirements-dev.txt)")
    from assistant.backends.gguf import gguf_path

    port = _free_port()
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    log = open(log_path, "w")  # a file, not a pipe: llama.cpp logs enough to fill a pipe and block
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path(model_data_dir / "models")), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "4096", "--n_threads", "2", "--model_alias", "gemma-3-270m"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 120
    while time.time() < deadline:
        if process.poll() is not None:
            pytest.fail(f"llama.cpp server exited: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    else:
        process.kill()
        pytest.fail("llama.cpp server did not start within 120 s")
    try:  # one token first: a llama.cpp that crashes on this CPU should say so, not look like a network error
        httpx.post(f"{url}/completions", json={"prompt": "Hello", "max_tokens": 1}, timeout=60)
    except httpx.HTTPError:
        pass
    time.sleep(0.2)
    if process.poll() is not None:
        pytest.fail(f"llama.cpp server crashed on its first token (exit code {process.returncode}); scripts/dev-setup.sh rebuilds "
                    f"it as portable code. Log: {log_path.read_text()[-1500:]}")
    yield url
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.mark.server
@pytest.mark.model
def test_real_llama_cpp_server_streams_and_stops(llama_server):
    backend = OpenAIBackend(llama_server, "gemma-3-270m")
    backend.load()
    pieces = list(backend.stream("User: What is the capital of France?\nAssistant:", stop=["\n", "User:"], max_tokens=24))
    text = "".join(pieces)
    assert len(pieces) > 1 and "\n" not in text and "User:" not in text
    assert "Paris" in text


@pytest.mark.server
@pytest.mark.model
def test_agent_loop_runs_against_a_real_llama_cpp_server(llama_server, tmp_path, embedder):
    config = Config(backend="openai", base_url=llama_server, model="gemma-3-270m", data_dir=tmp_path / "data")
    from tools.calc import calc
    from tools.clock import current_time

    assistant = Assistant(config, tools=[calc, current_time], embedder=embedder)
    turn = assistant.chat("What is 12 times 12?", user_id="server-test")
    assert turn.outcome in (Outcome.ANSWER, Outcome.STEP_LIMIT)
    assert turn.text.strip()
    assert all(call.tool in ("calc", "time") for call in turn.calls)
    assert "<calc>" not in turn.text and "</" not in turn.text


def test_assistant_on_a_dead_server_apologises(tmp_path, embedder):
    config = Config(backend="openai", base_url="http://127.0.0.1:9/v1", data_dir=tmp_path / "data")
    turn = Assistant(config, tools=[], embedder=embedder).chat("hello", user_id="u")
    assert turn.outcome is Outcome.FAILED and "cannot reach the model server" in turn.text
