"""The shipped tool-use adapter: the default of the embedded backend, with its own prompt, and it calls tools."""

import json

import pytest

from assistant.backends import make_backend
from assistant.chat import Assistant
from assistant.config import BUILTIN_ADAPTER, Config
from tools.calc import calc
from tools.clock import current_time


def test_the_adapter_is_shipped_with_the_command_that_made_it():
    training = json.loads((BUILTIN_ADAPTER / "training.json").read_text())
    assert training["metadata"]["command"].startswith("python -m assistant align train")
    assert training["metadata"]["prompt"] == "agent_tuned"
    assert (BUILTIN_ADAPTER / "adapter_model.safetensors").stat().st_size < 20_000_000
    assert (BUILTIN_ADAPTER / "loss.png").stat().st_size > 0
    assert "python -m assistant align run" in (BUILTIN_ADAPTER / "README.md").read_text()


def test_embedded_uses_the_adapter_and_its_prompt_unless_told_not_to(tmp_path):
    assert make_backend(Config(data_dir=tmp_path)).adapter == BUILTIN_ADAPTER
    assert make_backend(Config(data_dir=tmp_path)).prompt == "agent_tuned"
    base = make_backend(Config(data_dir=tmp_path, adapter=""))
    assert base.adapter is None and base.prompt == "agent"


@pytest.mark.model
def test_the_adapted_model_calls_calc_for_arithmetic(adapted, model_data_dir, embedder):
    assistant = Assistant(Config(data_dir=model_data_dir), backend=adapted, tools=[calc, current_time], embedder=embedder)
    turn = assistant.chat("What is 17 times 23?", user_id="adapter-test")
    assert [c.tool for c in turn.calls][:1] == ["calc"] and "391" in turn.text


@pytest.mark.model
def test_the_adapted_model_answers_small_talk_without_tools(adapted, model_data_dir, embedder):
    assistant = Assistant(Config(data_dir=model_data_dir, memory_prefetch=False), backend=adapted, tools=[calc, current_time],
                          embedder=embedder)
    turn = assistant.chat("Good morning!", user_id="adapter-test")
    assert not turn.calls and turn.text.strip() and "<" not in turn.text
