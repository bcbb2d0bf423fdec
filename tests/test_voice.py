"""Text to speech: one synthesis per reply, the cache, hostile text, missing engines; real espeak-ng audio; a real
(tiny, random-weight) transformers text-to-speech model built on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import types
import wave
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest

from assistant.config import Config, TtsKind
from assistant.errors import ConfigError
from assistant.personas.types import Prosody, Segment
from assistant.voice import (
    MAX_SPOKEN_CHARS,
    EspeakEngine,
    SpokenReply,
    TransformersEngine,
    Voice,
    VoiceUnavailable,
    clean_text,
    espeak_ssml,
    speakable,
)

SURFER = Prosody(rate=190, pitch=58, pitch_range=90, pause_ms=0, sentence_pause_ms=200, voice="en-us+m3")
FORECASTER = Prosody(rate=170, pitch=50, pitch_range=60, pause_ms=10, sentence_pause_ms=350, voice="en-us+f2")
BEACH = (
    Segment("Sounds fun!", "surfer", SURFER),
    Segment("But if you're going to Half Moon Bay again, expect rain and chilly temps.", "forecaster", FORECASTER),
)
HOSTILE = '<break time="99999s"/> Tom & Jerry <audio src="/etc/passwd"/> </prosody></speak>'


class RecordingEngine:
    """A speech engine for tests: records every synthesis, writes a short WAV whose length follows the text."""

    def __init__(self, key: str = "recording", *, fail: str = "") -> None:
        self.key = key
        self.fail = fail
        self.calls: list[tuple[Segment, ...]] = []

    def synthesize(self, segments: Sequence[Segment], out: Path) -> None:
        self.calls.append(tuple(segments))
        if self.fail:
            raise VoiceUnavailable(self.fail)
        with wave.open(str(out), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(8000)
            wav.writeframes(b"\x00\x01" * 80 * sum(len(s.text) for s in segments))


@pytest.fixture
def engine() -> RecordingEngine:
    return RecordingEngine()


@pytest.fixture
def voice(engine: RecordingEngine, tmp_path: Path) -> Voice:
    return Voice(engine, cache_dir=tmp_path / "audio")


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Mono 16-bit samples as floats in [-1, 1], and the sample rate."""
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        return np.frombuffer(wav.readframes(wav.getnframes()), "<i2") / 32768.0, wav.getframerate()


def seconds(path: Path) -> float:
    samples, rate = read_wav(path)
    return len(samples) / rate


# One synthesis per reply, each segment with its own prosody, and the cache.


def test_a_mixed_reply_is_synthesised_once_with_each_segments_prosody(voice: Voice, engine: RecordingEngine) -> None:
    spoken = voice.speak(BEACH)
    assert spoken == SpokenReply(spoken.path, "", cached=False)
    assert spoken.path is not None and spoken.path.is_file() and spoken.path.parent == voice.cache_dir
    assert engine.calls == [BEACH]  # one call, both segments, each still carrying its persona's prosody
    assert [s.prosody for s in engine.calls[0]] == [SURFER, FORECASTER]
    assert voice.synth_calls == 1


def test_a_repeated_reply_reuses_the_file_without_synthesis(voice: Voice, engine: RecordingEngine) -> None:
    first = voice.speak(BEACH)
    again = voice.speak(BEACH)
    assert again == SpokenReply(first.path, "", cached=True)
    assert len(engine.calls) == 1 and voice.synth_calls == 1
    renamed = tuple(Segment(s.text, "butler", s.prosody) for s in BEACH)  # the same sound under another name
    assert voice.speak(renamed).cached


@pytest.mark.parametrize(
    "changed",
    [
        (BEACH[0], Segment(BEACH[1].text, "forecaster", Prosody(rate=171))),
        (BEACH[0], Segment(BEACH[1].text, "forecaster", replace(FORECASTER, pause_ms=11))),
        (BEACH[0], Segment(BEACH[1].text + " Brr.", "forecaster", FORECASTER)),
        (BEACH[1], BEACH[0]),
    ],
    ids=["rate", "word-pause", "text", "order"],
)
def test_any_change_in_text_or_prosody_is_synthesised_anew(voice: Voice, engine: RecordingEngine, changed) -> None:
    first = voice.speak(BEACH)
    other = voice.speak(changed)
    assert not other.cached and other.path != first.path
    assert len(engine.calls) == 2


def test_another_engine_or_model_does_not_share_the_cache(tmp_path: Path) -> None:
    mms, bark = RecordingEngine("transformers:facebook/mms-tts-eng"), RecordingEngine("transformers:suno/bark-small")
    first = Voice(mms, cache_dir=tmp_path).speak(BEACH)
    second = Voice(bark, cache_dir=tmp_path).speak(BEACH)
    assert not second.cached and first.path != second.path
    assert len(mms.calls) == len(bark.calls) == 1


def test_the_cache_keeps_the_most_recently_used_files(engine: RecordingEngine, tmp_path: Path) -> None:
    voice = Voice(engine, cache_dir=tmp_path, max_files=2)
    replies = [(Segment(f"Reply number {n}.", "neutral"),) for n in range(3)]
    paths = [voice.speak(replies[0]).path, voice.speak(replies[1]).path]
    past = time.time() - 100
    os.utime(paths[0], (past, past))
    os.utime(paths[1], (past + 1, past + 1))
    assert voice.speak(replies[0]).cached  # used again: now the most recent
    paths.append(voice.speak(replies[2]).path)
    assert sorted(tmp_path.iterdir()) == sorted([paths[0], paths[2]])  # reply 1, the least recently used, went
    assert not voice.speak(replies[1]).cached
    assert len(engine.calls) == 4


def test_nothing_to_say_and_tts_off_make_no_audio(voice: Voice, engine: RecordingEngine, tmp_path: Path) -> None:
    assert voice.speak(()) == SpokenReply(None, "There was nothing to say aloud.")
    assert voice.speak((Segment(" \x00\x07 ", "neutral"),)).path is None
    off = Voice.from_config(Config(data_dir=tmp_path / "data", tts="off"))
    assert not off.enabled and off.speak(BEACH) == SpokenReply(None)
    assert engine.calls == [] and not (tmp_path / "data").exists()


# Failures are a note, never a traceback, and leave nothing behind.


def test_an_engine_failure_is_a_one_line_note(tmp_path: Path) -> None:
    engine = RecordingEngine(fail="The speech engine is busy.")
    voice = Voice(engine, cache_dir=tmp_path / "audio")
    assert voice.speak(BEACH) == SpokenReply(None, "The speech engine is busy.")
    assert list((tmp_path / "audio").iterdir()) == []  # no half-written file to be taken for a cache hit later
    engine.fail = ""
    assert voice.speak(BEACH).path is not None and len(engine.calls) == 2


def test_missing_espeak_binary_is_explained(tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path / "data", tts_binary=str(tmp_path / "no-such-espeak-ng"))
    spoken = Voice.from_config(config).speak(BEACH)
    assert spoken.path is None and "\n" not in spoken.note
    assert "espeak-ng" in spoken.note and "scripts/system-packages.sh" in spoken.note and "ASSISTANT_TTS_BINARY" in spoken.note


def test_an_espeak_that_fails_is_explained(tmp_path: Path) -> None:
    broken = tmp_path / "espeak-ng"
    broken.write_text("#!/bin/sh\nprintf 'Error: voice data not found\\nmore detail\\n' >&2\nexit 1\n")
    broken.chmod(0o755)
    spoken = Voice(EspeakEngine(str(broken)), cache_dir=tmp_path / "audio").speak(BEACH)
    assert spoken == SpokenReply(None, "espeak-ng failed: Error: voice data not found")


def test_an_unwritable_cache_is_a_note(engine: RecordingEngine, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    spoken = Voice(engine, cache_dir=tmp_path / "file" / "audio").speak(BEACH)
    assert spoken.path is None and spoken.note.startswith("Couldn't store the spoken reply:")


# Text is cleaned, escaped and bounded before any engine sees it.


def test_ssml_escapes_hostile_text_so_it_is_read_not_obeyed() -> None:
    ssml = espeak_ssml((Segment(HOSTILE, "neutral", Prosody(sentence_pause_ms=300)),))
    root = ET.fromstring(ssml)  # well formed: the text could not close or open an element
    assert "".join(root.itertext()) == HOSTILE  # every character is still there, as text
    assert [b.attrib for b in root.iter("break")] == [{"time": "300ms"}]  # only the segment's own pause
    assert [e.tag for e in root.iter()] == ["speak", "voice", "prosody", "break"]
    assert "&amp;" in ssml and "&lt;break" in ssml


def test_ssml_carries_each_segments_prosody() -> None:
    root = ET.fromstring(espeak_ssml(BEACH))
    voices = root.findall("voice")
    assert [v.get("name") for v in voices] == ["en-us+m3", "en-us+f2"]
    prosodies = [v.find("prosody").attrib for v in voices]
    assert prosodies == [{"rate": "190%", "pitch": "58", "range": "90"}, {"rate": "170%", "pitch": "50", "range": "60"}]
    assert [v.find("prosody/break[@time]").get("time") for v in voices] == ["200ms", "350ms"]


@pytest.mark.parametrize(("pause_ms", "between_words"), [(0, []), (20, []), (40, ["x-weak"]), (80, ["weak"]), (400, ["weak"])])
def test_word_pauses_become_the_nearest_in_clause_break(pause_ms: int, between_words: list[str]) -> None:
    root = ET.fromstring(espeak_ssml((Segment("one two three", "p", Prosody(pause_ms=pause_ms)),)))
    strengths = [b.get("strength") for b in root.iter("break") if b.get("strength")]
    assert strengths == between_words * 2  # two gaps between three words


def test_a_bad_voice_name_is_left_out_of_the_markup() -> None:
    root = ET.fromstring(espeak_ssml((Segment("hi", "p", Prosody(voice='en"><audio src="x')),)))
    assert root.find("voice") is None and root.find("prosody") is not None


@pytest.mark.parametrize(
    ("text", "clean"),
    [
        ("a\x01200S b", "a 200S b"),  # U+0001 starts an espeak-ng embedded command
        ("bell\x07 zero\u200bwidth", "bell zero width"),
        ("[[h@'loU]] world", "[ [h@'loU] ] world"),  # raw phoneme input would swallow the markup after it
        ("private \ue03c use", "private use"),
        ("  lines\n\tand   spaces ", "lines and spaces"),
        ("Café, naïve — “quoted”", "Café, naïve — “quoted”"),
    ],
)
def test_clean_text(text: str, clean: str) -> None:
    assert clean_text(text) == clean


def test_long_replies_are_cut_at_a_word_with_a_note(voice: Voice, engine: RecordingEngine) -> None:
    long = (Segment("Sounds fun!", "surfer", SURFER), Segment("rain " * 400, "forecaster", FORECASTER), Segment("Bye.", "surfer"))
    spoken = voice.speak(long)
    assert spoken.path is not None and spoken.note == f"Only the first {MAX_SPOKEN_CHARS} characters are spoken."
    (surfer, forecaster), = engine.calls
    assert surfer.text == "Sounds fun!" and forecaster.prosody == FORECASTER
    assert set(forecaster.text.split()) == {"rain"}
    assert len(surfer.text) + 1 + len(forecaster.text) <= MAX_SPOKEN_CHARS


def test_speakable_drops_a_word_that_does_not_fit_and_cuts_one_enormous_word() -> None:
    segments, cut = speakable((Segment("x" * 998, "a"), Segment("hello world", "b")))
    assert [s.text for s in segments] == ["x" * 998] and cut
    segments, cut = speakable((Segment("y" * 5000, "a"),))
    assert [len(s.text) for s in segments] == [MAX_SPOKEN_CHARS] and cut
    segments, cut = speakable(BEACH)
    assert segments == BEACH and not cut


# Settings.


def test_settings_choose_the_engine(tmp_path: Path) -> None:
    config = Config.from_env({"ASSISTANT_TTS": "Transformers", "ASSISTANT_TTS_MODEL": "facebook/mms-tts-eng",
                              "ASSISTANT_TTS_CACHE_FILES": "5"}, data_dir=tmp_path)
    voice = Voice.from_config(config)
    assert config.tts is TtsKind.TRANSFORMERS and isinstance(voice.engine, TransformersEngine)
    assert voice.engine.model == "facebook/mms-tts-eng" and voice.max_files == 5 and voice.cache_dir == tmp_path / "audio"
    default = Voice.from_config(Config(data_dir=tmp_path))
    assert isinstance(default.engine, EspeakEngine) and default.engine.binary == "espeak-ng" and default.max_files == 200


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"tts": "festival"}, "tts: expected one of espeak, transformers, off"), ({"tts": "transformers"}, "needs tts_model"),
     ({"tts_cache_files": 0}, "tts_cache_files must be at least 1")],
)
def test_bad_tts_settings_are_refused(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Config(**changes)


def test_importing_the_module_loads_no_model() -> None:
    code = "import sys, assistant.voice; print(sorted({'transformers', 'torch'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[1], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# The transformers engine, through a fake `transformers.pipeline`.


class FakeTtsPipeline:
    """Stands in for `transformers.pipeline("text-to-speech")`: one second of tone per text, shaped (1, n) like VITS."""

    rate = 16_000

    def __init__(self) -> None:
        self.loads: list[tuple[tuple, dict]] = []
        self.inputs: list[list[str]] = []

    def load(self, *args: object, **kwargs: object) -> FakeTtsPipeline:
        self.loads.append((args, kwargs))
        return self

    def __call__(self, texts: list[str]) -> list[dict]:
        self.inputs.append(texts)
        tone = 0.5 * np.sin(2 * np.pi * 220 * np.arange(self.rate) / self.rate, dtype=np.float32)
        return [{"audio": tone[None, :], "sampling_rate": self.rate} for _ in texts]


@pytest.fixture
def fake_tts(monkeypatch: pytest.MonkeyPatch) -> FakeTtsPipeline:
    fake = FakeTtsPipeline()
    monkeypatch.setitem(sys.modules, "transformers", types.SimpleNamespace(pipeline=fake.load))
    return fake


def test_transformers_speaks_a_reply_in_one_batched_call(fake_tts: FakeTtsPipeline, tmp_path: Path) -> None:
    engine = TransformersEngine("facebook/mms-tts-eng")
    assert fake_tts.loads == []  # loaded on first use
    slow, fast = Prosody(rate=165, sentence_pause_ms=500), Prosody(rate=330, sentence_pause_ms=250)
    voice = Voice(engine, cache_dir=tmp_path)
    spoken = voice.speak((Segment("Good morning.", "butler", slow), Segment("Surf's up!", "surfer", fast)))
    assert fake_tts.loads == [(("text-to-speech",), {"model": "facebook/mms-tts-eng"})]
    assert fake_tts.inputs == [["Good morning.", "Surf's up!"]]
    samples, rate = read_wav(spoken.path)
    assert rate == 16_000
    # 1 s at the neutral rate, 0.5 s of silence, 0.5 s played twice as fast, 0.25 s of silence
    assert len(samples) == pytest.approx(16_000 * 2.25, abs=2)
    loud = np.abs(samples) > 0.01
    assert loud[:15_900].mean() > 0.9 and not loud[16_100:23_900].any() and loud[24_100:31_900].mean() > 0.9
    assert not loud[32_100:].any()
    voice.speak((Segment("Again.", "neutral"),))
    assert len(fake_tts.loads) == 1


def test_transformers_model_that_cannot_load_is_a_note(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("We couldn't connect to 'https://huggingface.co' to load this model.\nCheck your connection.")

    monkeypatch.setitem(sys.modules, "transformers", types.SimpleNamespace(pipeline=offline))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spoken = Voice(TransformersEngine("facebook/mms-tts-eng"), cache_dir=tmp_path).speak(BEACH)
    assert spoken == SpokenReply(None, "Couldn't load the speech model 'facebook/mms-tts-eng' (HF_HUB_OFFLINE=1: only models "
                                       "already on disk load): We couldn't connect to 'https://huggingface.co' to load this model.")


def test_transformers_not_installed_is_a_note(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)  # import fails
    spoken = Voice(TransformersEngine("facebook/mms-tts-eng"), cache_dir=tmp_path).speak(BEACH)
    assert spoken == SpokenReply(None, "Spoken replies with tts=transformers need the transformers package.")


# Real espeak-ng (installed by scripts/system-packages.sh): audio properties, not timings.


@pytest.fixture
def espeak(tmp_path: Path) -> Voice:
    """A voice on the real espeak-ng."""
    if not EspeakEngine().available():
        pytest.fail("espeak-ng is not installed: run scripts/system-packages.sh")
    return Voice(EspeakEngine(), cache_dir=tmp_path / "audio")


def median_pitch(samples: np.ndarray, rate: int) -> float:
    """Median fundamental frequency (Hz) of the voiced 40 ms frames, by autocorrelation."""
    frame, found = int(0.04 * rate), []
    for start in range(0, len(samples) - frame, frame):
        chunk = samples[start:start + frame] - samples[start:start + frame].mean()
        if np.abs(chunk).max() < 0.06:
            continue
        corr = np.correlate(chunk, chunk, "full")[frame - 1:]
        low, high = rate // 400, rate // 60
        lag = low + int(np.argmax(corr[low:high]))
        if corr[lag] > 0.3 * corr[0]:
            found.append(rate / lag)
    assert found, "no voiced frames"
    return float(np.median(found))


def test_espeak_writes_a_valid_wav_and_reuses_it(espeak: Voice) -> None:
    spoken = espeak.speak(BEACH)
    samples, rate = read_wav(spoken.path)
    assert rate == 22_050 and 2.0 < len(samples) / rate < 15.0
    assert np.sqrt(np.mean(samples ** 2)) > 0.01  # speech, not silence
    content = spoken.path.read_bytes()
    again = espeak.speak(BEACH)
    assert again.cached and again.path == spoken.path and again.path.read_bytes() == content and espeak.synth_calls == 1


def test_espeak_faster_persona_gives_shorter_audio(espeak: Voice) -> None:
    text = "The weather at Half Moon Bay will be rainy and chilly all day, so bring a warm jacket."
    slow = seconds(espeak.speak((Segment(text, "butler", Prosody(rate=120)),)).path)
    fast = seconds(espeak.speak((Segment(text, "surfer", Prosody(rate=240)),)).path)
    assert fast < 0.7 * slow, (slow, fast)


def test_espeak_keeps_each_segments_pitch_in_one_call(espeak: Voice) -> None:
    low = Prosody(pitch=15, sentence_pause_ms=800)
    high = Prosody(pitch=85, sentence_pause_ms=300)
    text = "Heads up, showers are moving in from the west this afternoon."
    samples, rate = read_wav(espeak.speak((Segment(text, "a", low), Segment(text, "b", high))).path)
    assert espeak.synth_calls == 1
    half = len(samples) // 2
    first, second = median_pitch(samples[:half], rate), median_pitch(samples[half:], rate)
    assert second > 1.3 * first, (first, second)


def test_espeak_segment_pause_lengthens_the_reply(espeak: Voice) -> None:
    def reply(pause_ms: int) -> float:
        first = Segment("Sounds fun!", "surfer", Prosody(rate=190, sentence_pause_ms=pause_ms))
        return seconds(espeak.speak((first, Segment("Bring a jacket.", "forecaster", Prosody(rate=170)))).path)

    assert reply(2500) - reply(0) > 1.8


def test_espeak_reads_hostile_markup_as_words(espeak: Voice) -> None:
    hostile = seconds(espeak.speak((Segment(HOSTILE, "neutral"), Segment("[[ Bye now.", "neutral"))).path)
    assert 1.0 < hostile < 30.0  # the 99999 s break was read out as text, and nothing was swallowed into silence
    # Unescaped, "[[" makes espeak-ng read the markup after it raw: the slow second segment would come out fast
    # (1.5 s instead of 8.5 s when this test was written).
    fast, slow = Prosody(rate=450), Prosody(rate=80)
    count = Segment("one two three four five six seven eight nine ten", "b", slow)
    bracketed = seconds(espeak.speak((Segment("Hello [[", "a", fast), count)).path)
    plain = seconds(espeak.speak((Segment("Hello", "a", fast), count)).path)
    assert bracketed == pytest.approx(plain, abs=0.5)


# A real transformers text-to-speech model: a tiny VITS with random weights, built on disk (no download).


@pytest.fixture(scope="module")
def tiny_vits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A VITS model directory of about 20k random parameters that `pipeline("text-to-speech")` loads offline."""
    import torch
    from transformers import VitsConfig, VitsModel, VitsTokenizer

    folder = tmp_path_factory.mktemp("tiny-vits")
    vocab = {c: i for i, c in enumerate(["<pad>", *" abcdefghijklmnopqrstuvwxyz'.,!?"])}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    VitsTokenizer(str(folder / "vocab.json"), pad_token="<pad>", unk_token="<pad>", phonemize=False).save_pretrained(folder)
    torch.manual_seed(0)
    config = VitsConfig(
        vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, ffn_dim=32, flow_size=8,
        spectrogram_bins=33, upsample_initial_channel=16, upsample_rates=[8, 8, 2, 2], upsample_kernel_sizes=[16, 16, 4, 4],
        resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3, 5]], prior_encoder_num_flows=1,
        prior_encoder_num_wavenet_layers=1, posterior_encoder_num_wavenet_layers=1, duration_predictor_num_flows=1,
        duration_predictor_filter_channels=16, depth_separable_num_layers=1, sampling_rate=16_000,
    )
    VitsModel(config).save_pretrained(folder)
    return folder


def test_a_real_transformers_model_speaks_one_wav_per_reply(tiny_vits: Path, tmp_path: Path) -> None:
    voice = Voice.from_config(Config(data_dir=tmp_path, tts="transformers", tts_model=str(tiny_vits)))
    spoken = voice.speak(BEACH)
    assert spoken.path is not None, spoken.note
    samples, rate = read_wav(spoken.path)
    pauses = (SURFER.sentence_pause_ms + FORECASTER.sentence_pause_ms) / 1000
    assert rate == 16_000 and len(samples) / rate > pauses
    assert voice.speak(BEACH).cached and voice.synth_calls == 1


def test_a_directory_that_is_no_model_is_a_note(tmp_path: Path) -> None:
    (tmp_path / "empty-model").mkdir()
    spoken = Voice(TransformersEngine(str(tmp_path / "empty-model")), cache_dir=tmp_path / "audio").speak(BEACH)
    assert spoken.path is None and spoken.note.startswith(f"Couldn't load the speech model '{tmp_path / 'empty-model'}'")
    assert "\n" not in spoken.note
