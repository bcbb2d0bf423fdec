"""The memory bank as a client of a real Chroma server (`chroma run`) on 127.0.0.1, started by the test."""

import shutil
import socket
import subprocess
import time

import httpx
import pytest

from memory import chroma
from memory.bank import MemoryBank, MemorySettings
from memory.chroma import MemoryUnavailable
from tests.fakes import HashEmbedder

pytestmark = pytest.mark.server
SETTINGS = MemorySettings(threshold=0.2, novelty=0.9, replace=0.5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def chroma_server(tmp_path):
    """`chroma run` (shipped with the chromadb package) on a free port; yields (url, process)."""
    executable = shutil.which("chroma")
    if executable is None:
        pytest.fail("the `chroma` command from the chromadb package is not on PATH")
    port = free_port()
    log = open(tmp_path / "chroma.log", "w")
    process = subprocess.Popen([executable, "run", "--path", str(tmp_path / "server-data"), "--host", "127.0.0.1", "--port", str(port)],
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            pytest.fail((tmp_path / "chroma.log").read_text()[-2000:])
        time.sleep(0.3)
    else:
        process.kill()
        pytest.fail("chroma server did not start within 60 s")
    yield url, process
    process.kill()
    process.wait()
    log.close()
    chroma._clients.pop(url, None)


def test_memory_bank_on_a_chroma_server(chroma_server, tmp_path):
    url, _ = chroma_server
    bank = MemoryBank(tmp_path / "unused", HashEmbedder(), settings=SETTINGS, chroma_url=url)
    bank.remember("alice", "My dog is called Rex", "Nice!")
    bank.remember("bob", "My PIN is 4321", "Noted")
    assert bank.remember("alice", "Actually my dog is called Max now", "OK").action == "replaced"
    assert [r.input for r in bank.read("alice", "what is my dog called")] == ["Actually my dog is called Max now"]
    assert [r.input for r in bank.history("alice")] == ["My dog is called Rex"]
    assert all("4321" not in r.input for r in bank.read("alice", "My PIN is 4321", mode="top_k"))
    assert not (tmp_path / "unused").exists()  # nothing was written locally
    # a second client (another app server) sees the same rows
    chroma._clients.pop(url, None)
    again = MemoryBank(tmp_path / "other", HashEmbedder(), settings=SETTINGS, chroma_url=url)
    assert [r.input for r in again.rows("bob")] == ["My PIN is 4321"]


def test_a_server_that_goes_away_is_a_clear_error(chroma_server, tmp_path):
    url, process = chroma_server
    bank = MemoryBank(tmp_path, HashEmbedder(), settings=SETTINGS, chroma_url=url)
    bank.add("alice", "first")
    process.kill()
    process.wait()
    with pytest.raises(MemoryUnavailable, match=f"the memory store at {url} cannot be used"):
        bank.add("alice", "second")
