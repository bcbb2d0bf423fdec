"""Text to speech: a reply's segments, each in its persona's voice, synthesised once into one WAV and cached.

espeak-ng (the default) takes the whole reply as one SSML document in one call, each segment wrapped in its own
`<voice>` and `<prosody>`. What espeak-ng 1.51 does with that markup was measured, not assumed:

- `<prosody rate="R%">` is a percentage of the `-s` base rate; with `-s 100` a segment speaks at exactly R words per
  minute (the speech spans match `espeak-ng -s R`). `pitch="P"` and `range="G"` without a sign or unit are absolute
  on espeak-ng's 0-99 scales (the same fundamental frequency as `-p P`). `<voice name="en-us+f2">` switches voice and
  variant mid-document; an unknown name silently falls back to the default voice.
- `<break time="Nms"/>` right after a segment's text, inside its `<prosody>`, makes the pause before the next segment
  max(espeak-ng's own end-of-sentence pause at that rate, N). Placed after `</prosody>` it is mis-scaled when the
  text ends with punctuation (1000 ms became 3 s at 200%; espeak-ng issue #1512), so it stays inside.
- SSML has no per-segment word gap (`-g` is one value per call) and `<break time>` between words ends a clause per
  word, which flattens the intonation. The only in-clause pauses are `<break strength="x-weak"/>` and `"weak"`
  (about 50 and 80 ms at 175 words per minute, scaled with the rate), so `pause_ms` picks the nearest of none,
  x-weak and weak: gaps under 25 ms, as the shipped personas use, are below what espeak-ng can render.
- User and model text is escaped (`&`, `<`, `>`), control characters are removed (U+0001 starts an espeak-ng embedded
  command even outside SSML) and `[[` is split (it starts raw phoneme input, which swallows the markup after it).

A transformers model synthesises every segment in one batched pipeline call; its prosody is approximated: the rate
by resampling (faster also means higher, like a tape played fast), the segment pause as silence. Pitch, range, word
gaps and the espeak voice name are not applied there.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
import unicodedata
import uuid
import wave
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Sequence
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from assistant.errors import AssistantError
from assistant.personas.types import Prosody, Segment

if TYPE_CHECKING:
    from assistant.config import Config

#: Longest reply spoken, in characters (about a minute of speech at 165 words per minute); the rest is cut at a word.
MAX_SPOKEN_CHARS = 1000
#: espeak-ng's `-s`: prosody rates are percentages of it, so 100 makes "R%" exactly R words per minute.
ESPEAK_BASE_RATE = 100
#: The speaking rate a transformers model is taken to have (the neutral persona's); other rates resample from it.
NEUTRAL_RATE = Prosody().rate
#: Part of every cache key; bump it when the rendering changes so old files are not reused.
RENDER_VERSION = 1

_VOICE_NAME = re.compile(r"[A-Za-z0-9_-]+(\+[A-Za-z0-9_-]+)?")
# Measured word pauses of espeak-ng's in-clause breaks at 175 wpm; pause_ms picks the nearest (0 adds none).
_WORD_BREAKS = ((0, ""), (50, '<break strength="x-weak"/>'), (80, '<break strength="weak"/>'))


class VoiceUnavailable(AssistantError):
    """The speech engine is missing or failed; the message is one line for the user."""


@dataclass(frozen=True)
class SpokenReply:
    """The outcome of speaking a reply: a WAV file, or None with a one-line note saying why not."""

    path: Path | None
    note: str = ""  # why there is no audio, or that it was shortened; empty when all went well
    cached: bool = False  # the file was synthesised for an earlier, identical reply


class SpeechEngine(Protocol):
    """Anything that turns a reply's segments into one WAV file in one synthesis."""

    key: str  # the engine and model, as part of the cache key

    def synthesize(self, segments: Sequence[Segment], out: Path) -> None:
        """Write all `segments` (clean, non-empty text) to the WAV file `out`; VoiceUnavailable when it cannot."""
        ...


class EspeakEngine:
    """espeak-ng with the whole reply as one SSML document: one process per reply, prosody per segment."""

    def __init__(self, binary: str = "espeak-ng", *, timeout: float = 30.0) -> None:
        self.binary = binary
        self.timeout = timeout
        self.key = "espeak-ng"  # the binary's location does not change the audio

    def available(self) -> bool:
        """Whether the espeak-ng program is there to run."""
        return shutil.which(self.binary) is not None

    def synthesize(self, segments: Sequence[Segment], out: Path) -> None:
        """Run espeak-ng once on the reply's SSML, writing `out`."""
        program = shutil.which(self.binary)
        if program is None:
            raise VoiceUnavailable(
                f"Spoken replies need espeak-ng, and {self.binary!r} was not found — install it with "
                "scripts/system-packages.sh or set ASSISTANT_TTS_BINARY."
            )
        command = [program, "-b", "1", "-m", "-s", str(ESPEAK_BASE_RATE), "-v", Prosody().voice, "-w", str(out), "--stdin"]
        try:
            done = subprocess.run(command, input=espeak_ssml(segments).encode(), capture_output=True, timeout=self.timeout)
        except subprocess.TimeoutExpired as error:
            raise VoiceUnavailable(f"espeak-ng took longer than {self.timeout:g} seconds to speak the reply.") from error
        except OSError as error:  # not executable, or vanished since `which`
            raise VoiceUnavailable(f"espeak-ng could not be started: {_one_line(error)}") from error
        if done.returncode != 0:
            raise VoiceUnavailable(f"espeak-ng failed: {_one_line(done.stderr.decode(errors='replace')) or f'exit {done.returncode}'}")
        if not out.is_file() or out.stat().st_size <= 44:  # a bare WAV header holds no audio
            raise VoiceUnavailable("espeak-ng produced no audio for the reply.")


class TransformersEngine:
    """A Hugging Face text-to-speech model through `transformers.pipeline`, loaded on first use."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.key = f"transformers:{model}"
        self._pipeline: Any = None
        self._lock = threading.Lock()  # loads the model once; one inference at a time

    def synthesize(self, segments: Sequence[Segment], out: Path) -> None:
        """All segments in one batched pipeline call, each resampled to its rate and followed by its pause."""
        with self._lock:
            pipe = self._load()
            try:
                results = pipe([segment.text for segment in segments])
            except (RuntimeError, ValueError, TypeError, IndexError) as error:
                raise VoiceUnavailable(f"The speech model {self.model!r} failed: {_one_line(error)}") from error
        results = [results] if isinstance(results, dict) else list(results)
        if len(results) != len(segments):
            raise VoiceUnavailable(f"The speech model {self.model!r} returned {len(results)} clips for {len(segments)} segments.")
        rate = int(results[0]["sampling_rate"])
        pieces = []
        for segment, result in zip(segments, results):
            pieces.append(_at_speed(_mono(result["audio"]), segment.prosody.rate / NEUTRAL_RATE))
            pieces.append(np.zeros(round(rate * segment.prosody.sentence_pause_ms / 1000), np.float32))
        _write_wav(out, np.concatenate(pieces), rate)

    def _load(self) -> Any:
        if self._pipeline is None:
            try:
                from transformers import pipeline
            except ImportError as error:
                raise VoiceUnavailable("Spoken replies with tts=transformers need the transformers package.") from error
            try:
                self._pipeline = pipeline("text-to-speech", model=self.model)
            except (OSError, ValueError, KeyError, RuntimeError, ImportError) as error:  # offline, not a TTS model, extras missing
                offline = " (HF_HUB_OFFLINE=1: only models already on disk load)" if os.environ.get("HF_HUB_OFFLINE") == "1" else ""
                raise VoiceUnavailable(f"Couldn't load the speech model {self.model!r}{offline}: {_one_line(error)}") from error
        return self._pipeline


class Voice:
    """Speaks replies through one engine, once per reply, keeping recent audio under `cache_dir`."""

    def __init__(self, engine: SpeechEngine | None, *, cache_dir: Path, max_files: int = 200) -> None:
        if max_files < 1:
            raise ValueError(f"max_files must be at least 1, got {max_files}")
        self.engine = engine
        self.cache_dir = cache_dir
        self.max_files = max_files
        self.synth_calls = 0  # syntheses run (cache hits excluded)
        self._lock = threading.Lock()  # one check-synthesise-store at a time, so a reply is never made twice

    @classmethod
    def from_config(cls, config: Config) -> Voice:
        """The voice the settings ask for (tts, tts_model, tts_binary, tts_cache_files); audio goes to data_dir/audio."""
        from assistant.config import TtsKind

        engine: SpeechEngine | None
        if config.tts is TtsKind.OFF:
            engine = None
        elif config.tts is TtsKind.TRANSFORMERS:
            engine = TransformersEngine(config.tts_model)
        else:
            engine = EspeakEngine(config.tts_binary)
        return cls(engine, cache_dir=config.data_dir / "audio", max_files=config.tts_cache_files)

    @property
    def enabled(self) -> bool:
        """False when spoken replies are switched off."""
        return self.engine is not None

    def speak(self, segments: Sequence[Segment]) -> SpokenReply:
        """One WAV for the whole reply, each segment in its own prosody; a cached file when the reply was spoken before."""
        if self.engine is None:
            return SpokenReply(None)
        spoken, shortened = speakable(segments)
        if not spoken:
            return SpokenReply(None, "There was nothing to say aloud.")
        note = f"Only the first {MAX_SPOKEN_CHARS} characters are spoken." if shortened else ""
        path = self.cache_dir / f"{cache_key(self.engine.key, spoken)}.wav"
        with self._lock:
            try:
                if path.is_file():
                    os.utime(path)  # most recently used: the last to be pruned
                    return SpokenReply(path, note, cached=True)
                self.cache_dir.mkdir(parents=True, exist_ok=True)
                partial = path.with_name(f"{path.stem}.{uuid.uuid4().hex}.part")
                try:
                    self.synth_calls += 1
                    self.engine.synthesize(spoken, partial)
                    os.replace(partial, path)
                finally:
                    partial.unlink(missing_ok=True)
                self._prune()
            except VoiceUnavailable as error:
                return SpokenReply(None, str(error))
            except OSError as error:  # the data dir is not writable, the disk is full
                return SpokenReply(None, f"Couldn't store the spoken reply: {_one_line(error)}")
        return SpokenReply(path, note)

    def _prune(self) -> None:
        """Delete the least recently used files beyond max_files."""
        files = []
        for file in self.cache_dir.glob("*.wav"):
            try:
                files.append((file.stat().st_mtime, file))
            except FileNotFoundError:
                continue
        files.sort()
        for _, file in files[: max(0, len(files) - self.max_files)]:
            file.unlink(missing_ok=True)


def speakable(segments: Sequence[Segment], *, limit: int = MAX_SPOKEN_CHARS) -> tuple[tuple[Segment, ...], bool]:
    """The segments with clean text, empty ones dropped, cut at a word to `limit` characters; and whether it was cut."""
    kept: list[Segment] = []
    budget = limit
    for segment in segments:
        text = clean_text(segment.text)
        if not text:
            continue
        if len(text) > budget:
            head = text[: max(budget, 0) + 1]  # one more: a space there means the word before it fits
            if " " in head:
                cut = head.rsplit(" ", 1)[0]
            else:  # not even the first word fits: drop it, unless it is all there is (one enormous "word")
                cut = "" if kept else text[:limit]
            if cut.strip():
                kept.append(replace(segment, text=cut.strip()))
            return tuple(kept), True
        kept.append(replace(segment, text=text))
        budget -= len(text) + 1  # the space that joins it to the next segment
    return tuple(kept), False


def clean_text(text: str) -> str:
    """`text` safe to hand to a speech engine: control and format characters removed, `[[` split, spaces collapsed."""
    text = unicodedata.normalize("NFC", text)
    text = "".join(" " if unicodedata.category(c).startswith("C") else c for c in text)  # Cc, Cf, Co, Cs, Cn
    text = re.sub(r"\[(?=\[)", "[ ", text)  # "[[" would start espeak-ng's raw phoneme input
    text = re.sub(r"\](?=\])", "] ", text)
    return " ".join(text.split())


def espeak_ssml(segments: Sequence[Segment]) -> str:
    """The SSML document espeak-ng speaks: each segment in its voice, rate, pitch and range, then its pause."""
    parts = []
    for segment in segments:
        prosody = segment.prosody
        gap = min(_WORD_BREAKS, key=lambda option: abs(option[0] - prosody.pause_ms))[1]
        words = (f" {gap} " if gap else " ").join(escape(word) for word in segment.text.split())
        body = (
            f'<prosody rate="{round(prosody.rate * 100 / ESPEAK_BASE_RATE)}%" pitch="{prosody.pitch}" '
            f'range="{prosody.pitch_range}">{words}<break time="{prosody.sentence_pause_ms}ms"/></prosody>'
        )
        if _VOICE_NAME.fullmatch(prosody.voice):
            body = f"<voice name={quoteattr(prosody.voice)}>{body}</voice>"
        parts.append(body)
    return "<speak>" + "".join(parts) + "</speak>"


def cache_key(engine: str, segments: Sequence[Segment]) -> str:
    """A hash of the engine, the model and each segment's text and prosody (not the persona's name)."""
    payload = {"version": RENDER_VERSION, "engine": engine,
               "segments": [[segment.text, asdict(segment.prosody)] for segment in segments]}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def _mono(audio: Any) -> np.ndarray:
    """A pipeline's audio, shaped (n,), (1, n) or (channels, n), as mono float32."""
    samples = np.asarray(audio, dtype=np.float32)
    if samples.ndim == 2:
        samples = samples.mean(axis=0) if samples.shape[0] < samples.shape[1] else samples.mean(axis=1)
    return np.nan_to_num(samples.reshape(-1))


def _at_speed(samples: np.ndarray, factor: float) -> np.ndarray:
    """`samples` played `factor` times as fast (linear interpolation; the pitch moves with the speed)."""
    if len(samples) < 2 or abs(factor - 1.0) < 1e-3:
        return samples
    count = max(1, round(len(samples) / factor))
    return np.interp(np.arange(count) * factor, np.arange(len(samples)), samples).astype(np.float32)


def _write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    """16-bit mono PCM WAV of float samples in [-1, 1]."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes((np.clip(samples, -1.0, 1.0) * 32767).round().astype("<i2").tobytes())


def _one_line(error: BaseException | str) -> str:
    """The first non-empty line of an error, for a note."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__ if isinstance(error, BaseException) else ""
