"""Speech to text: audio conversion, the real pocketsphinx model on committed WAVs, and a faked transformers pipeline."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import types
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from assistant.errors import ModelUnavailable
from assistant.speech import (
    Audio,
    PocketSphinxTranscriber,
    SpeechError,
    TransformersTranscriber,
    make_transcriber,
)

DATA = Path(__file__).parent / "data"  # made by tests/data/make_audio.sh


@pytest.fixture(scope="module")
def weather() -> Audio:
    """The committed recording of "what is the weather like" (16 kHz mono 16-bit)."""
    return Audio.from_gradio(DATA / "weather.wav")


@pytest.fixture(scope="module")
def sphinx() -> PocketSphinxTranscriber:
    """One real decoder shared by the module; loading it is the slow part."""
    return PocketSphinxTranscriber()


def wav_bytes(samples: np.ndarray, *, rate: int, width: int) -> bytes:
    """A WAV file holding integer `samples` shaped (n, channels), written with the stdlib."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(samples.shape[1])
        wav.setsampwidth(width)
        wav.setframerate(rate)
        if width == 3:
            wav.writeframes(samples.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes())
        else:
            wav.writeframes(samples.astype(f"<i{width}" if width > 1 else np.uint8).tobytes())
    return buffer.getvalue()


def gradio_stereo(audio: Audio, rate: int) -> tuple[int, np.ndarray]:
    """`audio` as Gradio's microphone would hand it over at `rate`: int16, shape (n, 2)."""
    count = round(len(audio.samples) * rate / audio.rate)
    mono = np.interp(np.arange(count) * audio.rate / rate, np.arange(len(audio.samples)), audio.samples)
    return rate, (np.stack([mono, 0.8 * mono], axis=1) * 32767).astype(np.int16)


def sine(rate: int, *, seconds: float = 1.0, hz: float = 440.0, level: float = 0.5) -> np.ndarray:
    """A float32 sine tone."""
    return (level * np.sin(2 * np.pi * hz * np.arange(int(rate * seconds)) / rate)).astype(np.float32)


# Real pocketsphinx on the committed recordings.


def test_pocketsphinx_hears_the_weather_question(sphinx: PocketSphinxTranscriber, weather: Audio) -> None:
    assert "weather" in sphinx.transcribe(weather)


@pytest.mark.parametrize("rate", [44_100, 48_000])
def test_gradio_int16_stereo_at_microphone_rates_still_decodes(sphinx: PocketSphinxTranscriber, weather: Audio, rate: int) -> None:
    audio = Audio.from_gradio(gradio_stereo(weather, rate))
    assert audio.rate == rate
    assert "weather" in sphinx.transcribe(audio)


def test_three_threads_at_once_share_one_decoder(weather: Audio, monkeypatch: pytest.MonkeyPatch) -> None:
    import pocketsphinx

    made = []
    real_decoder = pocketsphinx.Decoder

    def counting_decoder(**options: object) -> object:
        made.append(options)
        return real_decoder(**options)

    monkeypatch.setattr(pocketsphinx, "Decoder", counting_decoder)
    transcriber = PocketSphinxTranscriber()
    start = threading.Barrier(3)

    def transcribe(audio: Audio) -> str:
        start.wait(timeout=10)
        return transcriber.transcribe(audio)

    clips = [weather, Audio.from_gradio(gradio_stereo(weather, 48_000)), Audio.from_gradio(gradio_stereo(weather, 44_100))]
    with ThreadPoolExecutor(max_workers=3) as pool:
        transcripts = list(pool.map(transcribe, clips))
    assert all("weather" in text for text in transcripts), transcripts
    assert len(made) == 1


def test_importing_the_module_loads_no_recogniser() -> None:
    code = "import sys, assistant.speech; print(sorted({'pocketsphinx', 'transformers', 'scipy'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[1], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# Recordings that hold no words: the message tells the user what to do.


@pytest.mark.parametrize(
    ("audio", "wording"),
    [
        (Audio(np.zeros(16_000, np.float32), 16_000), "couldn't hear anything in that recording"),
        (Audio(np.full(16_000, 1e-4, np.float32), 16_000), "closer to the microphone"),
        (Audio(np.zeros(0, np.float32), 16_000), "recording was empty"),
        (Audio(sine(16_000, seconds=0.05), 16_000), "too short to hold any words"),
        (Audio(sine(16_000, seconds=31), 16_000), "longer than 30 seconds"),
    ],
    ids=["silence", "hiss-below-50dBFS", "empty", "50ms", "31s"],
)
def test_recordings_without_words_are_explained(sphinx: PocketSphinxTranscriber, audio: Audio, wording: str) -> None:
    with pytest.raises(SpeechError, match=wording):
        sphinx.transcribe(audio)


def test_white_noise_decodes_to_no_words(sphinx: PocketSphinxTranscriber) -> None:
    noise = Audio.from_gradio(str(DATA / "noise.wav"))
    assert not noise.is_silent()
    with pytest.raises(SpeechError, match="couldn't make out any words"):
        sphinx.transcribe(noise)


def test_the_length_limit_is_configurable_and_named(weather: Audio) -> None:
    with pytest.raises(SpeechError, match="longer than 1.5 seconds"):
        PocketSphinxTranscriber(max_seconds=1.5).transcribe(weather)


# Reading what Gradio delivers.


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        (np.array([0, 16384, -32768, 32767], np.int16), [0.0, 0.5, -1.0, 32767 / 32768]),
        (np.array([0, 2**30, -(2**31)], np.int32), [0.0, 0.5, -1.0]),
        (np.array([128, 192, 0], np.uint8), [0.0, 0.5, -1.0]),
        (np.array([0.25, -2.0, np.nan], np.float64), [0.25, -1.0, 0.0]),
        (np.array([[16384, 0], [-32768, -32768]], np.int16), [0.25, -1.0]),  # (n, channels) → mean
    ],
    ids=["int16", "int32", "uint8", "float-clipped", "stereo"],
)
def test_gradio_arrays_become_mono_float32(samples: np.ndarray, expected: list[float]) -> None:
    audio = Audio.from_gradio((8_000, samples))
    assert audio.samples.dtype == np.float32 and audio.rate == 8_000
    np.testing.assert_allclose(audio.samples, expected, atol=1e-6)


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_wav_bytes_of_every_pcm_width_read_alike(width: int) -> None:
    tone = sine(22_050, seconds=0.1)
    bits = 8 * width
    ints = np.round(tone * (2 ** (bits - 1) - 1)) + (128 if width == 1 else 0)
    audio = Audio.from_wav_bytes(wav_bytes(np.stack([ints, ints], axis=1), rate=22_050, width=width))
    assert audio.rate == 22_050 and audio.duration == pytest.approx(0.1)
    np.testing.assert_allclose(audio.samples, tone, atol=2 / 2 ** (bits - 1))


def test_a_wav_path_reads_the_same_as_its_bytes(weather: Audio) -> None:
    from_bytes = Audio.from_wav_bytes((DATA / "weather.wav").read_bytes())
    np.testing.assert_array_equal(from_bytes.samples, weather.samples)
    assert weather.rate == 16_000 and weather.duration == pytest.approx(31_911 / 16_000)


@pytest.mark.parametrize(
    "data",
    [b"", b"not audio at all", b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(200), (DATA / "weather.wav").read_bytes()[:30]],
    ids=["empty", "text", "mp3-header", "truncated-header"],
)
def test_bytes_that_are_not_wav_are_refused_plainly(data: bytes) -> None:
    with pytest.raises(SpeechError, match="I can only read plain \\(PCM\\) WAV recordings"):
        Audio.from_wav_bytes(data)


def test_a_non_wav_file_path_is_refused_plainly(tmp_path: Path) -> None:
    mp3 = tmp_path / "message.mp3"
    mp3.write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(200))
    with pytest.raises(SpeechError, match="WAV recordings"):
        Audio.from_gradio(str(mp3))


@pytest.mark.parametrize("value", [None, "/no/such/recording.wav"], ids=["nothing-recorded", "missing-file"])
def test_missing_audio_asks_to_record_again(value: str | None) -> None:
    with pytest.raises(SpeechError, match="record"):
        Audio.from_gradio(value)


# Helpers.


def test_is_silent_uses_the_rms_level() -> None:
    quiet = Audio(np.full(1_000, 10 ** (-55 / 20), np.float32), 16_000)  # -55 dBFS
    assert quiet.is_silent()
    assert not quiet.is_silent(threshold_dbfs=-60)
    assert not Audio(sine(16_000), 16_000).is_silent()
    assert Audio(np.zeros(0, np.float32), 16_000).is_silent()


@pytest.mark.parametrize("scipy_installed", [True, False])
@pytest.mark.parametrize("rate", [8_000, 44_100, 48_000])
def test_to_mono_16k_keeps_the_tone(rate: int, scipy_installed: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not scipy_installed:
        monkeypatch.setitem(sys.modules, "scipy.signal", None)  # import fails: the numpy fallback runs
    else:
        pytest.importorskip("scipy.signal")
    resampled = Audio(sine(rate), rate).to_mono_16k()
    assert resampled.rate == 16_000 and len(resampled.samples) == 16_000
    middle = slice(200, -200)  # filter edges ring
    np.testing.assert_allclose(resampled.samples[middle], sine(16_000)[middle], atol=0.02)


def test_audio_refuses_arrays_it_does_not_describe() -> None:
    with pytest.raises(ValueError, match="1-D float32"):
        Audio(np.zeros(10, np.int16), 16_000)


# Hugging Face models, through a fake `transformers.pipeline`.


class FakeSpeechPipeline:
    """Stands in for `transformers.pipeline`: records each load and input, returns a scripted transcript."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.loads: list[tuple[tuple, dict]] = []
        self.inputs: list[dict] = []

    def load(self, *args: object, **kwargs: object) -> Callable[[dict], dict]:
        self.loads.append((args, kwargs))
        return self.transcribe

    def transcribe(self, inputs: dict) -> dict:
        self.inputs.append(inputs)
        return {"text": self.text}


@pytest.fixture
def fake_pipeline(monkeypatch: pytest.MonkeyPatch) -> FakeSpeechPipeline:
    """A fake `transformers` module whose `pipeline` is a FakeSpeechPipeline."""
    fake = FakeSpeechPipeline(" What is the weather like? ")
    monkeypatch.setitem(sys.modules, "transformers", types.SimpleNamespace(pipeline=fake.load))
    return fake


def test_transformers_model_loads_once_and_gets_16k_float_audio(fake_pipeline: FakeSpeechPipeline, weather: Audio) -> None:
    transcriber = TransformersTranscriber("openai/whisper-tiny.en")
    audio = Audio.from_gradio(gradio_stereo(weather, 48_000))
    assert transcriber.transcribe(audio) == "What is the weather like?"
    assert transcriber.transcribe(weather) == "What is the weather like?"
    assert fake_pipeline.loads == [(("automatic-speech-recognition",), {"model": "openai/whisper-tiny.en"})]
    first = fake_pipeline.inputs[0]
    assert first["sampling_rate"] == 16_000 and first["raw"].dtype == np.float32
    assert len(first["raw"]) == pytest.approx(len(weather.samples), abs=2)


def test_transformers_silence_is_refused_before_the_model_loads(fake_pipeline: FakeSpeechPipeline) -> None:
    transcriber = TransformersTranscriber("openai/whisper-tiny.en")
    with pytest.raises(SpeechError, match="couldn't hear anything"):
        transcriber.transcribe(Audio(np.zeros(16_000, np.float32), 16_000))
    with pytest.raises(SpeechError, match="recording was empty"):
        transcriber.transcribe(Audio(np.zeros(0, np.float32), 16_000))
    assert fake_pipeline.loads == []


def test_transformers_blank_transcript_means_no_words(fake_pipeline: FakeSpeechPipeline, weather: Audio) -> None:
    fake_pipeline.text = "  "
    with pytest.raises(SpeechError, match="couldn't make out any words"):
        TransformersTranscriber("facebook/wav2vec2-base-960h").transcribe(weather)


def test_transformers_model_that_cannot_load_is_unavailable(monkeypatch: pytest.MonkeyPatch, weather: Audio) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("We couldn't connect to 'https://huggingface.co' and HF_HUB_OFFLINE=1")

    monkeypatch.setitem(sys.modules, "transformers", types.SimpleNamespace(pipeline=offline))
    with pytest.raises(ModelUnavailable, match="openai/whisper-tiny"):
        TransformersTranscriber("openai/whisper-tiny").transcribe(weather)


@pytest.mark.parametrize(
    ("model", "kind"),
    [(None, PocketSphinxTranscriber), ("", PocketSphinxTranscriber), (" PocketSphinx ", PocketSphinxTranscriber), ("openai/whisper-base", TransformersTranscriber)],
)
def test_make_transcriber_picks_by_model_name(model: str | None, kind: type) -> None:
    transcriber = make_transcriber(model)
    assert isinstance(transcriber, kind)
    if isinstance(transcriber, TransformersTranscriber):
        assert transcriber.model == "openai/whisper-base"
