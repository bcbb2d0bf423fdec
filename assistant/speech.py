"""Speech to text: recordings as Gradio hands them over, and the recognisers that turn them into words."""

from __future__ import annotations

import io
import math
import threading
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from assistant.errors import AssistantError, ModelUnavailable

#: pocketsphinx's acoustic model and most Hugging Face ASR models listen at 16 kHz.
SPEECH_RATE = 16_000
#: Shorter than this cannot hold a word.
MIN_SECONDS = 0.2

_NOT_WAV = "I can only read plain (PCM) WAV recordings, and that file isn't one — please record again or upload a .wav file."
_NOT_AUDIO = "That recording isn't audio I understand — please record your message again."


class SpeechError(AssistantError):
    """A recording could not be turned into text; the message is written for the user."""


@dataclass(frozen=True, eq=False)  # arrays have no single truth value to compare by
class Audio:
    """A mono recording: float32 `samples` in [-1, 1] at `rate` samples per second."""

    samples: np.ndarray
    rate: int

    def __post_init__(self) -> None:
        if self.samples.ndim != 1 or self.samples.dtype != np.float32:
            raise ValueError(f"samples must be 1-D float32, got {self.samples.ndim}-D {self.samples.dtype}")
        if self.rate <= 0:
            raise ValueError(f"rate must be positive, got {self.rate}")

    @classmethod
    def from_gradio(cls, value: tuple[int, np.ndarray] | str | Path | None) -> Audio:
        """Audio from a `gr.Audio` value: a `(rate, array)` tuple (type="numpy") or a WAV path (type="filepath")."""
        if value is None:
            raise SpeechError("I didn't receive any audio — please record your message again.")
        if isinstance(value, (str, Path)):
            try:
                return cls.from_wav_bytes(Path(value).read_bytes())
            except OSError as error:
                raise SpeechError("I couldn't open that recording — please record it again.") from error
        rate, samples = value
        return cls(_as_mono_float(np.asarray(samples)), int(rate))

    @classmethod
    def from_wav_bytes(cls, data: bytes) -> Audio:
        """Audio from the bytes of a PCM WAV file (8, 16, 24 or 32 bit, any channel count)."""
        try:
            with wave.open(io.BytesIO(data)) as wav:
                width, channels, rate = wav.getsampwidth(), wav.getnchannels(), wav.getframerate()
                frames = wav.readframes(wav.getnframes())
        except (wave.Error, EOFError, RuntimeError) as error:  # `wave` raises RuntimeError on bad chunk sizes
            raise SpeechError(_NOT_WAV) from error
        frames = frames[: len(frames) - len(frames) % (width * channels)]  # a truncated file ends mid-frame
        if width == 1:
            samples = np.frombuffer(frames, np.uint8)  # 8-bit WAV is unsigned
        elif width == 3:
            # Put each little-endian 24-bit sample in the top of an int32 so the sign comes out right.
            padded = np.zeros((len(frames) // 3, 4), np.uint8)
            padded[:, 1:] = np.frombuffer(frames, np.uint8).reshape(-1, 3)
            samples = padded.view("<i4").ravel()
        elif width in (2, 4):
            samples = np.frombuffer(frames, f"<i{width}")
        else:
            raise SpeechError(_NOT_WAV)
        return cls(_as_mono_float(samples.reshape(-1, channels)), rate)

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.rate

    def is_silent(self, *, threshold_dbfs: float = -50.0) -> bool:
        """True when the RMS level is below `threshold_dbfs` (decibels relative to full scale)."""
        rms = float(np.sqrt(np.mean(np.square(self.samples, dtype=np.float64)))) if len(self.samples) else 0.0
        return 20 * math.log10(max(rms, 1e-10)) < threshold_dbfs

    def to_mono_16k(self) -> Audio:
        """The same recording at 16 kHz, the rate speech recognisers expect."""
        if self.rate == SPEECH_RATE:
            return self
        return Audio(_resample(self.samples, self.rate, SPEECH_RATE), SPEECH_RATE)


class Transcriber(Protocol):
    """Anything that turns a recording into text."""

    def transcribe(self, audio: Audio) -> str:
        """The words spoken in `audio`; raises SpeechError with a message for the user when there are none."""
        ...


class PocketSphinxTranscriber:
    """Offline English recognition with the model bundled in the `pocketsphinx` package; loads on first use."""

    def __init__(self, *, max_seconds: float = 30.0) -> None:
        self.max_seconds = max_seconds
        self._decoder: Any = None
        self._lock = threading.Lock()  # one decoder, and decoders are not thread-safe

    def transcribe(self, audio: Audio) -> str:
        """The words spoken in `audio`."""
        pcm = (_speech_16k(audio, max_seconds=self.max_seconds) * 32767).round().astype("<i2").tobytes()
        with self._lock:
            if self._decoder is None:
                try:
                    from pocketsphinx import Decoder
                except ImportError as error:
                    raise ModelUnavailable("Speech input needs pocketsphinx: pip install pocketsphinx") from error
                self._decoder = Decoder(loglevel="ERROR")
            self._decoder.start_utt()
            try:
                self._decoder.process_raw(pcm, full_utt=True)  # full_utt: normalise over the whole clip
            finally:
                self._decoder.end_utt()
            hypothesis = self._decoder.hyp()
        return _words(hypothesis.hypstr if hypothesis else "")


class TransformersTranscriber:
    """Recognition with a Hugging Face ASR model (Whisper, wav2vec2…) through `transformers.pipeline`."""

    def __init__(self, model: str, *, max_seconds: float = 30.0) -> None:
        self.model = model
        self.max_seconds = max_seconds
        self._pipeline: Any = None
        self._lock = threading.Lock()  # loads the model once; one inference at a time

    def transcribe(self, audio: Audio) -> str:
        """The words spoken in `audio`."""
        samples = _speech_16k(audio, max_seconds=self.max_seconds)
        with self._lock:
            if self._pipeline is None:
                from transformers import pipeline

                try:
                    self._pipeline = pipeline("automatic-speech-recognition", model=self.model)
                except OSError as error:  # not downloaded and offline, or no such model
                    raise ModelUnavailable(f"Couldn't load the speech model {self.model!r}: {error}") from error
            result = self._pipeline({"raw": samples, "sampling_rate": SPEECH_RATE})
        return _words(result["text"])


def make_transcriber(model: str | None, *, max_seconds: float = 30.0) -> Transcriber:
    """PocketSphinx for no model or "pocketsphinx", otherwise the named Hugging Face ASR model."""
    name = (model or "").strip()
    if name.lower() in ("", "pocketsphinx"):
        return PocketSphinxTranscriber(max_seconds=max_seconds)
    return TransformersTranscriber(name, max_seconds=max_seconds)


def _as_mono_float(samples: np.ndarray) -> np.ndarray:
    """Integer or float samples shaped (n,) or (n, channels) as mono float32 in [-1, 1]."""
    if np.issubdtype(samples.dtype, np.unsignedinteger):
        half = 2.0 ** (8 * samples.dtype.itemsize - 1)
        scaled = (samples.astype(np.float64) - half) / half
    elif np.issubdtype(samples.dtype, np.signedinteger):
        scaled = samples / -float(np.iinfo(samples.dtype).min)
    elif np.issubdtype(samples.dtype, np.floating):
        scaled = np.nan_to_num(samples.astype(np.float64))
    else:
        raise SpeechError(_NOT_AUDIO)
    if scaled.ndim == 2:
        scaled = scaled.mean(axis=1)
    if scaled.ndim != 1:
        raise SpeechError(_NOT_AUDIO)
    return np.clip(scaled, -1.0, 1.0).astype(np.float32)


def _resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """`samples` at `rate` re-sampled to `target`: polyphase filtering with scipy, else linear interpolation."""
    try:
        from scipy.signal import resample_poly
    except ImportError:  # scipy is optional; linear interpolation is good enough for speech
        count = round(len(samples) * target / rate)
        return np.interp(np.arange(count) * (rate / target), np.arange(len(samples)), samples).astype(np.float32)
    divisor = math.gcd(rate, target)
    return np.clip(resample_poly(samples, target // divisor, rate // divisor), -1.0, 1.0).astype(np.float32)


def _speech_16k(audio: Audio, *, max_seconds: float) -> np.ndarray:
    """16 kHz samples of `audio`, or SpeechError when it is empty, too short, too long or silent."""
    if len(audio.samples) == 0:
        raise SpeechError("That recording was empty — please record your message again.")
    if audio.duration < MIN_SECONDS:
        raise SpeechError("That recording was too short to hold any words — please speak a little longer.")
    if audio.duration > max_seconds:
        raise SpeechError(
            f"That recording is longer than {max_seconds:g} seconds, the most I can listen to at once "
            "— please say it in a shorter message."
        )
    if audio.is_silent():
        raise SpeechError("I couldn't hear anything in that recording — please try again closer to the microphone.")
    return audio.to_mono_16k().samples


def _words(text: str) -> str:
    """The recognised text, or SpeechError when the recogniser heard no words."""
    if not text.strip():
        raise SpeechError("I couldn't make out any words in that recording — please speak clearly and try again.")
    return text.strip()
