"""`python -m assistant align [STEP]`: build alignment data in a work directory (all steps, or one), or train on it."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from assistant.alignment.pipeline import OUTCOMES, STEPS, AlignmentPipeline, AlignSettings, run
from assistant.alignment.records import AlignmentError, Metadata
from assistant.alignment.roles import JUDGE_MODES, Roles
from assistant.config import Config, add_arguments, from_arguments
from assistant.errors import AssistantError

CONFIG_FLAGS = ("data_dir", "backend", "model", "base_url", "api_key", "openai_api", "threads")
# CLI flag dest -> AlignSettings field; only flags given on the command line override the defaults.
SETTING_FLAGS = {"seed": "seed", "theta": "theta", "n_instructions": "n_instructions", "n_rubrics": "n_rubrics",
                 "max_rounds": "max_refine_rounds", "on_exhausted": "on_exhausted", "refine": "refine",
                 "regularizer": "regularizer", "judge_mode": "judge_mode", "limit": "limit"}
TRAIN_FLAGS = ("epochs", "batch_size", "lr", "rank", "max_len", "seed", "resume", "bf16")


def add_align_parser(commands: Any) -> argparse.ArgumentParser:
    """Add the `align` command to the project's subparsers."""
    align = commands.add_parser(
        "align", help="build synthetic alignment data (metadata, instructions, rubrics, filtering) or train on it",
        description="Build synthetic alignment data in a work directory. Every step appends to JSONL files there and "
                    "skips what is done, so an interrupted run continues where it stopped. `train` trains an adapter "
                    "on the samples the run exported.")
    align.add_argument("step", nargs="?", default="run", choices=("run", *STEPS, "train"), metavar="STEP",
                       help=f"run (default: every step), one step ({', '.join(STEPS)}), or train")
    align.add_argument("--workdir", type=Path, help="work directory (default <data_dir>/alignment/tool-use)")
    align.add_argument("--roles", choices=("offline", "llm"), default="offline",
                       help="offline: expert metadata, template decoder, gold strong answers, the embedded model as target, "
                            "a programmatic judge; llm: every role on the configured backend (default offline)")
    align.add_argument("--seeds", type=Path, help="seed instructions to encode: one per line, or JSONL with \"text\"")
    align.add_argument("--metadata", dest="metadata_file", type=Path, help="expert metadata: JSONL of {use_case, skills}")
    align.add_argument("--seed", type=int, help="random seed of every draw (and of training)")
    align.add_argument("--theta", type=float, help="gap threshold θ on the 1-10 judge scale")
    align.add_argument("--n-instructions", type=int, help="instructions written per metadata pair (N)")
    align.add_argument("--n-rubrics", type=int, help="rubrics written per metadata pair (K)")
    align.add_argument("--max-rounds", type=int, help="refinement rounds before an instruction is exhausted")
    align.add_argument("--on-exhausted", choices=("drop", "keep_last", "keep-last"), help="exhausted instructions: drop or keep_last")
    align.add_argument("--refine", action=argparse.BooleanOptionalAction, default=None, help="rubrics and the improver (--no-refine: off)")
    align.add_argument("--regularizer", action=argparse.BooleanOptionalAction, default=None,
                       help="keep the target's answer when it is clearly better (--no-regularizer: refine instead)")
    align.add_argument("--judge-mode", choices=JUDGE_MODES, help="pointwise (one prompt per response) or pairwise")
    align.add_argument("--limit", type=int, help="use only the first N metadata pairs (quick runs)")
    align.add_argument("--json", action="store_true", help="print the summary as JSON")
    train = align.add_argument_group("train")
    train.add_argument("--samples", type=Path, help="training samples (default <workdir>/samples.jsonl)")
    train.add_argument("--out", type=Path, help="adapter directory (default <data_dir>/adapters/tool-use)")
    train.add_argument("--epochs", type=float, help="passes over the samples")
    train.add_argument("--batch-size", type=int, help="samples per batch")
    train.add_argument("--lr", type=float, help="peak learning rate")
    train.add_argument("--rank", type=int, help="LoRA rank")
    train.add_argument("--max-len", type=int, help="tokens per sample")
    train.add_argument("--resume", action=argparse.BooleanOptionalAction, default=None, help="continue from the last checkpoint")
    train.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                       help="bfloat16 forward passes (about 2x faster on CPUs with AVX512-BF16 or AMX, slower without)")
    add_arguments(align, only=CONFIG_FLAGS)
    return align


def align_main(args: argparse.Namespace, *, argv: list[str] | None = None) -> int:
    """Run the `align` command (`argv`: the command line, recorded with a trained adapter); errors exit with 2."""
    try:
        config = from_arguments(args)
        workdir = args.workdir or config.data_dir / "alignment" / "tool-use"
        if args.step == "train":
            return _train(args, config, workdir, argv=sys.argv[1:] if argv is None else argv)
        return _pipeline(args, config, workdir)
    except (AssistantError, ValueError, OSError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyError as exc:  # e.g. metadata the offline decoder has no templates for
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _pipeline(args: argparse.Namespace, config: Config, workdir: Path) -> int:
    overrides = {field: getattr(args, flag) for flag, field in SETTING_FLAGS.items() if getattr(args, flag) is not None}
    seeds = read_seeds(args.seeds) if args.seeds else None
    metadata = read_metadata(args.metadata_file) if args.metadata_file else None
    if args.roles == "offline":
        from assistant.alignment.tooluse import expert_metadata, offline_roles, offline_settings

        settings = offline_settings(**overrides)
        if seeds is None and metadata is None:
            metadata = expert_metadata()
        roles = offline_roles(config, settings)
    else:
        from assistant.backends import make_backend

        settings = AlignSettings(**overrides)
        needs_source = args.step in ("run", "metadata") and not (workdir / "metadata.jsonl").exists()
        if needs_source and seeds is None and metadata is None:
            raise AlignmentError("--roles llm needs --seeds FILE or --metadata FILE")
        roles = Roles.from_backend(make_backend(config), judge_mode=settings.judge_mode, judge_scale=settings.judge_scale,
                                   vocab=settings.vocab)
    if args.step == "run":
        summary = run(workdir, roles, settings, seeds=seeds, metadata=metadata)
    else:
        pipeline = AlignmentPipeline(workdir, roles, settings)
        if args.step != "export":
            added = pipeline.metadata(seeds=seeds, metadata=metadata) if args.step == "metadata" else getattr(pipeline, args.step)()
            print(json.dumps({"step": args.step, "added": added, "workdir": str(workdir)}) if args.json
                  else f"{args.step}: {added} new records in {workdir}")
            return 0
        summary = pipeline.export()
    print(json.dumps(summary, ensure_ascii=False, indent=2) if args.json else format_summary(summary))
    return 0


def _train(args: argparse.Namespace, config: Config, workdir: Path, *, argv: list[str]) -> int:
    from assistant.alignment.samples import PROMPT
    from assistant.alignment.train import TrainSettings, train_from_files

    samples = args.samples or workdir / "samples.jsonl"
    if not samples.is_file():
        raise AlignmentError(f"no training samples at {samples}: run `python -m assistant align` first, or give --samples")
    given = {name: getattr(args, name) for name in TRAIN_FLAGS if getattr(args, name) is not None}
    if config.threads:
        given["threads"] = config.threads
    settings = TrainSettings(**given)
    result = train_from_files(samples, args.out or config.data_dir / "adapters" / "tool-use", settings, _model_path(config),
                              progress=True, metadata={"command": shlex.join(["python", "-m", "assistant", *argv]),
                                                       "data_command": _data_command(samples), "prompt": PROMPT})
    data = dataclasses.asdict(result) if dataclasses.is_dataclass(result) else result
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    else:
        print("\n".join(f"{key:<12} {value}" for key, value in data.items()) if isinstance(data, dict) else str(data))
    return 0


def _data_command(samples: Path) -> str:
    """The pipeline command that wrote these samples, from the summary next to them."""
    try:
        seed = json.loads((samples.parent / "summary.json").read_text(encoding="utf-8"))["settings"]["seed"]
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    return f"python -m assistant align run --seed {seed}"


def _model_path(config: Config) -> str:
    from assistant.config import BackendKind

    if config.backend is BackendKind.EMBEDDED:
        from assistant.backends.gguf import ensure_safetensors

        return str(ensure_safetensors(config.models_dir))
    if config.backend is BackendKind.TRANSFORMERS:
        return config.model
    raise AlignmentError("training needs a local model: use --backend embedded or transformers")


def read_seeds(path: Path) -> list[str]:
    """Seed instructions: one per line, or JSONL records with a "text"."""
    lines = _read_lines(path)
    if not any(line.lstrip().startswith("{") for _, line in lines):
        return [line.strip() for _, line in lines]
    seeds = []
    for number, line in lines:
        text = _json_line(path, number, line).get("text")
        if not isinstance(text, str) or not text.strip():
            raise AlignmentError(f"{path}:{number}: a seed record needs a non-empty \"text\"")
        seeds.append(text.strip())
    return seeds


def read_metadata(path: Path) -> list[Metadata]:
    """Expert metadata: JSONL records {use_case, skills} (skills a list, or one comma-separated string)."""
    found = []
    for number, line in _read_lines(path):
        record = _json_line(path, number, line)
        skills = record.get("skills", [])
        if isinstance(skills, str):
            skills = [s.strip() for s in skills.split(",") if s.strip()]
        try:
            found.append(Metadata(record.get("use_case", ""), skills, origin="user"))
        except ValueError as exc:
            raise AlignmentError(f"{path}:{number}: {exc}") from None
    return found


def _read_lines(path: Path) -> list[tuple[int, str]]:
    if not Path(path).is_file():
        raise AlignmentError(f"{path} does not exist")
    lines = [(n, line) for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1) if line.strip()]
    if not lines:
        raise AlignmentError(f"{path} is empty")
    return lines


def _json_line(path: Path, number: int, line: str) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise AlignmentError(f"{path}:{number}: not a JSON line ({exc.msg})") from None
    if not isinstance(record, dict):
        raise AlignmentError(f"{path}:{number}: expected a JSON object")
    return record


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as tables: outcomes, then counts per use case, then what post_export added."""
    lines = [f"work directory: {summary['workdir']}",
             f"metadata pairs: {summary['metadata']}   instructions: {summary['instructions']} "
             f"(+{summary['refined_instructions']} refined)   pending: {summary['pending']}", "",
             f"{'outcome':<26}{'count':>7}"]
    lines += [f"{name:<26}{summary['outcomes'][name]:>7}" for name in OUTCOMES]
    lines += [f"{'training pairs (dataset)':<26}{summary['dataset']:>7}"]
    lines += [f"{'skipped (' + step + ')':<26}{count:>7}" for step, count in summary["skipped"].items()]
    columns = ("metadata", "instructions", "keep_strong", "keep_target", "kept_last", "refine", "dropped", "judge_errors", "dataset")
    width = max([len("use case"), *map(len, summary["use_cases"])]) + 2
    lines += ["", f"{'use case':<{width}}" + "".join(f"{c:>14}" for c in columns)]
    for use_case, counts in sorted(summary["use_cases"].items()):
        counts = {**counts, "dropped": counts["dropped_exhausted"] + counts["dropped_regularizer_off"]}
        lines.append(f"{use_case:<{width}}" + "".join(f"{counts[c]:>14}" for c in columns))
    extra = {k: v for k, v in summary.items() if k not in _SUMMARY_KEYS}
    if extra:
        lines += [""] + [f"{key}: {json.dumps(value, ensure_ascii=False, default=str)}" for key, value in extra.items()]
    return "\n".join(lines)


_SUMMARY_KEYS = {"workdir", "metadata", "instructions", "refined_instructions", "dataset", "outcomes", "pending", "skipped",
                 "use_cases", "settings"}
