"""`python -m assistant align ...`: wiring to the offline roles, the LLM roles and training, the summary, one-line errors."""

import json
import os
import subprocess
import sys
import types
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator, Sequence

import pytest

from assistant.alignment.pipeline import AlignSettings
from assistant.alignment.records import Metadata, read_jsonl
from assistant.backends.base import Backend
from assistant.cli import main
from tests.fakes import ScriptedRoles

ROOT = Path(__file__).resolve().parent.parent
EXPERT = [Metadata("creative writing", ["role-play", "sports"]), Metadata("chit-chat", ["small talk"])]


def wins_once_refined(instruction, response):
    return 9.0 if response.startswith("strong") and instruction.round >= 1 else 5.0


@pytest.fixture
def offline(monkeypatch):
    """A stand-in for assistant.alignment.tooluse; records what the CLI asked of it."""
    seen: dict = {"overrides": []}
    stubs = ScriptedRoles(judge=wins_once_refined)

    def offline_settings(**overrides):
        seen["overrides"].append(overrides)
        return replace(AlignSettings(on_exhausted="keep_last", n_instructions=2), **overrides)

    def offline_roles(config, settings):
        seen.update(config=config, settings=settings)
        return stubs.roles(post_export=lambda workdir: {"samples": len(read_jsonl(workdir / "dataset.jsonl"))})

    module = types.ModuleType("assistant.alignment.tooluse")
    module.offline_settings, module.offline_roles, module.expert_metadata = offline_settings, offline_roles, lambda: list(EXPERT)
    monkeypatch.setitem(sys.modules, "assistant.alignment.tooluse", module)
    seen["stubs"] = stubs
    return seen


def test_default_run_uses_the_offline_roles_and_prints_the_summary(tmp_path, offline, capsys):
    assert main(["align", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    workdir = tmp_path / "alignment" / "tool-use"
    summary = json.loads((workdir / "summary.json").read_text())
    assert summary["dataset"] == 4 and summary["samples"] == 4 and summary["outcomes"]["keep_strong"] == 4
    assert offline["overrides"] == [{}] and offline["settings"].on_exhausted == "keep_last"  # offline defaults kept
    assert offline["config"].data_dir == tmp_path
    for text in ("keep_strong", "dropped_exhausted", "judge_errors", "creative writing", "chit-chat", "training pairs (dataset)",
                 "samples: 4"):
        assert text in out, text
    assert "keep_strong                     4" in out


def test_explicit_flags_override_the_offline_defaults(tmp_path, offline, capsys):
    args = ["align", "--data-dir", str(tmp_path), "--json", "--theta", "2", "--n-instructions", "1", "--n-rubrics", "2",
            "--max-rounds", "1", "--on-exhausted", "drop", "--no-regularizer", "--judge-mode", "pointwise", "--seed", "3", "--limit", "1",
            "--no-refine"]
    assert main(args) == 0
    assert offline["overrides"] == [{"theta": 2.0, "n_instructions": 1, "n_rubrics": 2, "max_refine_rounds": 1, "on_exhausted": "drop",
                                     "regularizer": False, "judge_mode": "pointwise", "seed": 3, "limit": 1, "refine": False}]
    summary = json.loads(capsys.readouterr().out)
    assert summary["metadata"] == 1 and summary["instructions"] == 1 and summary["outcomes"]["dropped_exhausted"] == 1
    assert summary["settings"]["theta"] == 2.0 and offline["stubs"].called("improver") == []


def test_steps_run_one_at_a_time_and_skip_what_is_done(tmp_path, offline, capsys):
    workdir = tmp_path / "work"
    base = ["--workdir", str(workdir), "--data-dir", str(tmp_path)]
    assert main(["align", "metadata", *base]) == 0
    assert capsys.readouterr().out.strip() == f"metadata: 2 new records in {workdir}"
    assert main(["align", "instructions", *base, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"step": "instructions", "added": 4, "workdir": str(workdir)}
    for step in ("rubrics", "respond", "score", "filter", "improve"):
        assert main(["align", step, *base]) == 0
    assert [line.split(":")[0] for line in capsys.readouterr().out.splitlines()] == ["rubrics", "respond", "score", "filter", "improve"]
    assert main(["align", "instructions", *base, "--json"]) == 0 and json.loads(capsys.readouterr().out)["added"] == 0
    assert main(["align", "export", *base, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["refined_instructions"] == 4 and summary["pending"] == 4  # round 1 not answered yet
    assert main(["align", *base, "--json"]) == 0  # `run` finishes the rest
    assert json.loads(capsys.readouterr().out)["dataset"] == 4


class ScriptedServer(Backend):
    """A backend that answers each pipeline prompt by its kind (every role shares it, as with --roles llm)."""

    name = "scripted-server"

    def stream(self, prompt: str, *, stop: Sequence[str] = (), max_tokens: int = 256, temperature: float = 0.0,
               forbid: Sequence[str] = ()) -> Iterator[str]:
        if prompt.startswith("You are an instruction analyzer"):
            yield " creative writing\nSkills: role-play, sports"
        elif prompt.startswith("You are an instruction writer"):
            yield "1. Commentate a penalty shoot-out.\n2. Narrate a marathon finish."
        elif prompt.startswith("You are an instruction judge"):
            yield "1. Vividness\nActions:\n1. Add a time limit"
        elif prompt.startswith("You are an instruction improver"):
            yield " Commentate a penalty shoot-out in under a minute."
        elif prompt.startswith("Below is an instruction"):
            yield " What a moment!"
        else:
            yield " 6"


def test_llm_roles_use_the_configured_backend_for_every_role(tmp_path, monkeypatch, capsys):
    made = []
    monkeypatch.setattr("assistant.backends.make_backend", lambda config: made.append(config) or ScriptedServer())
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text('{"text": "Describe the winning goal."}\n{"text": "Narrate the last lap."}\n')
    args = ["align", "--roles", "llm", "--seeds", str(seeds), "--data-dir", str(tmp_path), "--max-rounds", "1",
            "--on-exhausted", "keep_last", "--json", "--workdir", str(tmp_path / "w")]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert len(made) == 1 and summary["metadata"] == 2 and summary["instructions"] == 4
    assert summary["outcomes"]["kept_last"] == 4 and summary["dataset"] == 4  # f_s and f_t are one model here: they tie
    assert summary["settings"]["theta"] == 3.0 and summary["settings"]["on_exhausted"] == "keep_last"


def test_llm_roles_read_plain_seed_files_and_expert_metadata_files(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("assistant.backends.make_backend", lambda config: ScriptedServer())
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("Describe the winning goal.\n\nNarrate the last lap.\n")
    base = ["align", "metadata", "--roles", "llm", "--data-dir", str(tmp_path)]
    assert main([*base, "--seeds", str(seeds), "--workdir", str(tmp_path / "a")]) == 0
    assert [r["origin"] for r in read_jsonl(tmp_path / "a" / "metadata.jsonl")] == ["encoded", "encoded"]
    expert = tmp_path / "expert.jsonl"
    expert.write_text('{"use_case": "chit-chat", "skills": ["small talk"]}\n{"use_case": "poetry", "skills": "rhyme, metre"}\n')
    assert main([*base, "--metadata", str(expert), "--workdir", str(tmp_path / "b")]) == 0
    assert [(r["use_case"], r["skills"], r["origin"]) for r in read_jsonl(tmp_path / "b" / "metadata.jsonl")] == \
        [("chit-chat", ["small talk"], "user"), ("poetry", ["rhyme", "metre"], "user")]
    capsys.readouterr()


@pytest.mark.parametrize("files, extra, message", [
    ({}, ["--roles", "llm"], "error: --roles llm needs --seeds FILE or --metadata FILE"),
    ({}, ["--roles", "llm", "--seeds", "{tmp}/missing.txt"], "missing.txt does not exist"),
    ({"meta.jsonl": '{"use_case": "x", "skills": []}\n{oops\n'}, ["--roles", "llm", "--metadata", "{tmp}/meta.jsonl"],
     "meta.jsonl:2: not a JSON line"),
    ({"meta.jsonl": '{"skills": ["a"]}\n'}, ["--roles", "llm", "--metadata", "{tmp}/meta.jsonl"], "meta.jsonl:1: a use case must be"),
    ({"seeds.jsonl": '{"prompt": "x"}\n'}, ["--roles", "llm", "--seeds", "{tmp}/seeds.jsonl"],
     'seeds.jsonl:1: a seed record needs a non-empty "text"'),
    ({}, ["train"], "no training samples at"),
    ({}, ["--theta", "nan", "--roles", "llm", "--seeds", "{tmp}/s.txt"], "theta must be a finite number"),
])
def test_errors_are_one_line_and_exit_code_2(tmp_path, monkeypatch, capsys, files, extra, message):
    monkeypatch.setattr("assistant.backends.make_backend", lambda config: ScriptedServer())
    (tmp_path / "s.txt").write_text("a seed\n")
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert main(["align", "--data-dir", str(tmp_path), *[a.replace("{tmp}", str(tmp_path)) for a in extra]]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.startswith("error: ") and "\n" not in err


def test_an_unreachable_backend_is_a_one_line_error(tmp_path, capsys):
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("Describe the winning goal.\n")
    code = main(["align", "--roles", "llm", "--seeds", str(seeds), "--data-dir", str(tmp_path), "--backend", "openai",
                 "--base-url", "http://127.0.0.1:9/v1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("error: cannot reach the model server")  # under the progress bar it was in
    assert not any("Traceback" in line for line in err)


@dataclass(frozen=True)
class FakeTrainSettings:
    epochs: float = 2.0
    batch_size: int = 8
    lr: float = 2e-4
    rank: int = 8
    max_len: int = 192
    seed: int = 0
    resume: bool = True
    threads: int = 0


@dataclass
class FakeTrainResult:
    out_dir: Path
    steps: int
    final_loss: float


def test_train_calls_the_training_engine_with_the_exported_samples(tmp_path, monkeypatch, capsys):
    calls = []
    module = types.ModuleType("assistant.alignment.train")
    module.TrainSettings = FakeTrainSettings
    module.train_from_files = lambda samples, out_dir, settings, model_path, progress=True, metadata=None: \
        calls.append((samples, out_dir, settings, model_path, progress, metadata)) or FakeTrainResult(out_dir, 12, 0.5)
    monkeypatch.setitem(sys.modules, "assistant.alignment.train", module)
    monkeypatch.setattr("assistant.backends.gguf.ensure_safetensors", lambda models_dir: models_dir / "gemma-3-270m")
    workdir = tmp_path / "alignment" / "tool-use"
    workdir.mkdir(parents=True)
    (workdir / "samples.jsonl").write_text('{"prompt": "p", "target": "t"}\n')
    args = ["align", "train", "--data-dir", str(tmp_path), "--epochs", "1", "--batch-size", "2", "--lr", "0.001", "--rank", "4",
            "--max-len", "64", "--seed", "5", "--no-resume", "--threads", "2"]
    assert main(args) == 0
    ((samples, out_dir, settings, model_path, progress, metadata),) = calls
    assert (samples, out_dir, model_path, progress) == (workdir / "samples.jsonl", tmp_path / "adapters" / "tool-use",
                                                        str(tmp_path / "models" / "gemma-3-270m"), True)
    assert settings == FakeTrainSettings(epochs=1.0, batch_size=2, lr=0.001, rank=4, max_len=64, seed=5, resume=False, threads=2)
    assert metadata["command"].startswith("python -m assistant align train --data-dir")
    out = capsys.readouterr().out
    assert "steps        12" in out and "final_loss   0.5" in out
    assert main(["align", "train", "--data-dir", str(tmp_path), "--samples", str(workdir / "samples.jsonl"), "--out", str(tmp_path / "o"),
                 "--json"]) == 0
    assert calls[-1][1] == tmp_path / "o" and calls[-1][2] == FakeTrainSettings()  # only the flags given are passed
    assert json.loads(capsys.readouterr().out)["steps"] == 12


def test_training_needs_a_local_model(tmp_path, monkeypatch, capsys):
    module = types.ModuleType("assistant.alignment.train")
    module.TrainSettings, module.train_from_files = FakeTrainSettings, lambda *a, **k: pytest.fail("must not train")
    monkeypatch.setitem(sys.modules, "assistant.alignment.train", module)
    (tmp_path / "samples.jsonl").write_text("{}\n")
    code = main(["align", "train", "--data-dir", str(tmp_path), "--samples", str(tmp_path / "samples.jsonl"), "--backend", "openai",
                 "--base-url", "http://127.0.0.1:9/v1"])
    assert code == 2 and "needs a local model" in capsys.readouterr().err


def test_the_command_line_as_a_user_runs_it(tmp_path):
    env = {**os.environ, "ASSISTANT_DATA_DIR": str(tmp_path)}
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "assistant", "align", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=120)

    helped = cli("--help")
    assert helped.returncode == 0 and "--roles" in helped.stdout and "improve" in helped.stdout and "ASSISTANT_BACKEND" in helped.stdout
    failed = cli("--roles", "llm")
    assert failed.returncode == 2 and failed.stderr.strip() == "error: --roles llm needs --seeds FILE or --metadata FILE"
