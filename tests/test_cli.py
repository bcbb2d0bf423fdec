"""`python -m assistant chat ...` as a user runs it, with the real embedded model."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, data_dir: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "ASSISTANT_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "assistant", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.model
def test_acceptance_calc_with_the_embedded_model(model_data_dir):
    out = cli("chat", "What is 17 times 23?", "--user", "demo", "--json", data_dir=model_data_dir)
    assert out.returncode == 0, out.stderr[-2000:]
    turn = json.loads(out.stdout)
    assert set(turn) >= {"text", "calls"}
    assert [c["tool"] for c in turn["calls"]][:1] == ["calc"]
    assert set(turn["calls"][0]) >= {"tool", "query", "result"}
    assert "391" in turn["text"]


@pytest.mark.model
def test_plain_output_streams_the_reply_and_the_trace(model_data_dir):
    out = cli("chat", "What is 6 times 7?", "--user", "demo-plain", data_dir=model_data_dir)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "42" in out.stdout and "→ calc" in out.stderr


def test_bad_input_is_a_message_not_a_traceback(tmp_path):
    out = cli("chat", "", "--user", "demo", "--json", "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1", data_dir=tmp_path)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "empty" in json.loads(out.stdout)["text"]


def test_invalid_utf8_argument_is_handled(tmp_path):
    env = {**os.environ, "ASSISTANT_DATA_DIR": str(tmp_path), "ASSISTANT_BACKEND": "openai", "ASSISTANT_BASE_URL": "http://127.0.0.1:9/v1"}
    out = subprocess.run([sys.executable, "-m", "assistant", "chat", b"caf\xff", "--user", "demo", "--json"],
                         cwd=ROOT, env=env, capture_output=True, timeout=300)
    assert b"Traceback" not in out.stderr
    assert "cannot reach the model server" in json.loads(out.stdout)["text"]


def test_bad_settings_are_one_line_errors(tmp_path):
    out = cli("chat", "hi", "--user", "demo", "--backend", "openai", data_dir=tmp_path)
    assert out.returncode == 2 and out.stderr.strip() == "error: the openai backend needs base_url (ASSISTANT_BASE_URL or --base-url)"


def test_help_explains_the_command(tmp_path):
    out = cli("chat", "--help", data_dir=tmp_path)
    assert out.returncode == 0 and "--user" in out.stdout and "--json" in out.stdout and "ASSISTANT_BACKEND" in out.stdout


@pytest.fixture
def memories(tmp_path):
    """Two users' memories written with the real embedder the CLI uses."""
    from datetime import datetime, timezone

    from memory.bank import MemoryBank
    from memory.embeddings import SentenceEmbedder

    bank = MemoryBank(tmp_path, SentenceEmbedder())
    when = datetime(2024, 5, 2, 10, 0, tzinfo=timezone.utc)
    rows = [bank.add("alice", "My dog is called Rex", "Nice name!", when=when), bank.add("alice", "I work at a bakery", "Lovely", when=when)]
    bank.add("bob", "My PIN is 4321", "Noted")
    return tmp_path, rows


def test_memory_list_and_search_show_only_that_user(memories):
    data_dir, rows = memories
    out = cli("memory", "list", "--user", "alice", data_dir=data_dir)
    assert out.returncode == 0, out.stderr
    assert "My dog is called Rex  →  Nice name!" in out.stdout and "4321" not in out.stdout
    found = json.loads(cli("memory", "search", "pet dog", "--user", "alice", "--json", data_dir=data_dir).stdout)
    assert found[0]["input"] == "My dog is called Rex"
    others = json.loads(cli("memory", "search", "PIN 4321", "--user", "alice", "--json", data_dir=data_dir).stdout)
    assert all("4321" not in row["input"] for row in others)


def test_memory_export_delete_undo(memories, tmp_path):
    data_dir, rows = memories
    target = tmp_path / "alice.json"
    assert cli("memory", "export", "--user", "alice", "--out", str(target), data_dir=data_dir).returncode == 0
    exported = json.loads(target.read_text())
    assert exported["user"] == "alice" and {m["input"] for m in exported["memories"]} == {"My dog is called Rex", "I work at a bakery"}
    deleted = cli("memory", "delete", "--user", "alice", "--id", rows[0].id, data_dir=data_dir)
    assert deleted.returncode == 0 and "undo" in deleted.stdout
    assert "Rex" not in cli("memory", "list", "--user", "alice", data_dir=data_dir).stdout
    assert cli("memory", "undo", "--user", "alice", "--id", rows[0].id, data_dir=data_dir).returncode == 0
    assert "Rex" in cli("memory", "list", "--user", "alice", data_dir=data_dir).stdout


def test_memory_delete_all_needs_confirmation(memories):
    data_dir, _ = memories
    refused = cli("memory", "delete", "--all", "--user", "alice", data_dir=data_dir)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert cli("memory", "delete", "--all", "--yes", "--user", "alice", data_dir=data_dir).stdout.strip() == "deleted 2 memories of alice"
    assert "4321" in cli("memory", "list", "--user", "bob", data_dir=data_dir).stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [(("memory", "list"), "a user name is needed"), (("memory", "delete", "--user", "alice", "--id", "nope"), "no memory 'nope'"),
     (("memory", "undo", "--user", "alice"), "undo needs --id")],
)
def test_memory_command_errors_are_one_line(memories, args, message):
    data_dir, _ = memories
    out = cli(*args, data_dir=data_dir)
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr


def test_memory_cleanup_reports_counts(memories):
    data_dir, _ = memories
    out = cli("memory", "cleanup", data_dir=data_dir)
    assert out.returncode == 0 and json.loads(out.stdout) == {"expired": 2, "stale": 0, "history_expired": 0}  # alice's are from 2024
    assert "4321" in cli("memory", "list", "--user", "bob", data_dir=data_dir).stdout
