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
