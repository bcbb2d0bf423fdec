"""Settings: defaults, environment variables, flags, validation and --help."""

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.config import BackendKind, Config, add_arguments, env_name, from_arguments
from assistant.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_defaults():
    config = Config()
    assert (config.host, config.port, config.backend, config.data_dir) == ("127.0.0.1", 7860, BackendKind.EMBEDDED, Path("data"))
    assert config.max_steps == 8 and config.models_dir == Path("data/models")


def test_environment_variables_are_read_and_converted():
    config = Config.from_env({"ASSISTANT_PORT": "9000", "ASSISTANT_CONSTRAINED": "off", "ASSISTANT_BACKEND": "OpenAI",
                              "ASSISTANT_BASE_URL": "http://127.0.0.1:1/v1", "ASSISTANT_DATA_DIR": "/tmp/x"})
    assert config.port == 9000 and config.constrained is False and config.backend is BackendKind.OPENAI
    assert config.data_dir == Path("/tmp/x")


def test_flags_override_environment(monkeypatch):
    monkeypatch.setenv("ASSISTANT_PORT", "9000")
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    config = from_arguments(parser.parse_args(["--port", "9100", "--no-constrained", "--max-steps", "3"]))
    assert (config.port, config.constrained, config.max_steps) == (9100, False, 3)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"port": "http"}, "port"),
        ({"port": 0}, "port"),
        ({"backend": "gpt5"}, "expected one of embedded, transformers, openai"),
        ({"backend": "openai"}, "needs base_url"),
        ({"backend": "transformers"}, "needs model"),
        ({"timezone": "Mars/Olympus"}, "IANA timezone"),
        ({"max_steps": 0}, "max_steps"),
        ({"constrained": "maybe"}, "true or false"),
    ],
)
def test_bad_values_get_clear_errors(changes, message):
    with pytest.raises(ConfigError, match=message):
        Config(**changes)


def test_secrets_are_not_printed():
    assert "hunter2" not in repr(Config(api_key="hunter2", auth="a:hunter2"))


def test_every_setting_has_a_documented_environment_variable():
    readme = (ROOT / "README.md").read_text()
    for name in Config.__dataclass_fields__:
        assert env_name(name) in readme, f"{env_name(name)} is missing from the README's configuration table"


def test_app_help_lists_the_main_settings():
    out = subprocess.run([sys.executable, "app.py", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for flag in ("--host", "--port", "--backend", "--model", "--base-url", "--data-dir", "ASSISTANT_DATA_DIR"):
        assert flag in out.stdout


def test_app_rejects_bad_settings_without_a_traceback():
    out = subprocess.run([sys.executable, "app.py", "--port", "abc"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr and "port" in out.stderr


def test_adapter_setting_builtin_directory_or_none(tmp_path, monkeypatch):
    import assistant.config as config_module

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert from_arguments(parser.parse_args(["--no-adapter"])).adapter_dir() is None
    monkeypatch.setattr(config_module, "BUILTIN_ADAPTER", tmp_path / "missing")
    assert Config().adapter == "builtin" and Config().adapter_dir() is None  # nothing shipped: the base model
    shipped = tmp_path / "tool-use"
    shipped.mkdir()
    (shipped / "adapter_config.json").write_text("{}")
    monkeypatch.setattr(config_module, "BUILTIN_ADAPTER", shipped)
    assert Config().adapter_dir() == shipped
    assert Config(adapter=str(shipped)).adapter_dir() == shipped
    with pytest.raises(ConfigError, match="not an adapter directory"):
        Config(adapter=str(tmp_path))
