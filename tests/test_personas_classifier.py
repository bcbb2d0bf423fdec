"""The naturalness / in-character classifier: seeded training on a fake embedder, storage, refusal of another
embedder, the embedding cache, and the shipped weights with the real MiniLM."""

from __future__ import annotations

import json

import numpy as np
import pytest

from assistant.personas.classifier import (CLASSIFIER_FILE, PROBE, SURFACE, TRAIN_COMMAND, ClassifierError, PersonaClassifier,
                                           TrainConfig, card_path, corrupt, data_digest, main, split_data, surface, train)
from assistant.personas.registry import PersonaRegistry
from tests.fakes import HashEmbedder

REGISTRY = PersonaRegistry()
QUICK = TrainConfig(l2_grid=(0.01, 0.1), steps=150)  # the fake-embedder tests check behaviour, not accuracy


class CountingEmbedder(HashEmbedder):
    """A hashing embedder that records every batch it is asked for."""

    def __init__(self, dimensions: int = 64) -> None:
        super().__init__(dimensions)
        self.batches: list[list[str]] = []

    def embed_batch(self, texts):
        self.batches.append(list(texts))
        return super().embed_batch(texts)


@pytest.fixture(scope="module")
def fake_trained():
    """A classifier trained on the shipped personas with the hashing embedder, and its card."""
    return train(REGISTRY, HashEmbedder(64), config=QUICK)


# -- the data -------------------------------------------------------------------------------------------------------
def test_the_split_holds_out_exemplars_of_every_persona_and_is_seeded():
    split = split_data(REGISTRY, seed=0)
    assert split == split_data(REGISTRY, seed=0) and split != split_data(REGISTRY, seed=1)
    held = {p for _, p in split.persona_test}
    assert held == set(REGISTRY.names())
    train_texts = {t for t, _ in split.persona_train} | {t for t, _, _ in split.natural_train}
    assert not train_texts & {t for t, _ in split.persona_test}, "a held-out exemplar leaked into training"
    assert not train_texts & {t for t, _, _ in split.natural_test}
    sources = {s for _, _, s in split.natural_test}
    assert sources == {"natural", "written", "corrupted"}


def test_corruptions_break_the_sentence_and_are_seeded():
    text, others = "Good morning, sir. I trust you slept well.", ["Whoa, dude, that's rad!", "Heads up, rain later."]
    made = [corrupt(text, others, np.random.default_rng(s), labels=["Butler"]) for s in range(12)]
    assert made == [corrupt(text, others, np.random.default_rng(s), labels=["Butler"]) for s in range(12)]
    assert text not in made and len(set(made)) > 4


def test_surface_statistics_see_loops_markup_and_cut_offs():
    clean = dict(zip(SURFACE, surface("Good morning. It's 8:30 AM. Any fun plans today?")))
    loop = dict(zip(SURFACE, surface("sounds fun sounds fun sounds fun sounds fun")))
    left = dict(zip(SURFACE, surface("Butler opens: <end_of_turn> Good morning")))
    assert loop["repeated_words"] > 0.5 > clean["repeated_words"] and loop["repeated_trigrams"] > clean["repeated_trigrams"]
    assert left["prompt_labels"] == 1 > clean["prompt_labels"] and left["markup_chars"] > clean["markup_chars"]
    assert clean["ends_sentence"] == 1 > left["ends_sentence"]


# -- training on the fake embedder ----------------------------------------------------------------------------------
def test_training_is_deterministic_for_a_seed(fake_trained):
    classifier, card = fake_trained
    again, card_again = train(REGISTRY, HashEmbedder(64), config=QUICK)
    for a, b in ((classifier.natural_head, again.natural_head), (classifier.persona_head, again.persona_head)):
        for name in ("mean", "scale", "weights", "bias"):
            assert np.array_equal(getattr(a, name), getattr(b, name))
    assert card == card_again
    other, _ = train(REGISTRY, HashEmbedder(64), config=TrainConfig(seed=1, l2_grid=QUICK.l2_grid, steps=QUICK.steps))
    assert not np.array_equal(other.persona_head.weights, classifier.persona_head.weights)


def test_the_card_reports_held_out_accuracy(fake_trained):
    _, card = fake_trained
    assert card["command"] == TRAIN_COMMAND and card["embedder"] == "HashEmbedder(64)" and card["dimensions"] == 64
    persona, natural = card["in_character"], card["naturalness"]
    assert persona["held_out"] == sum(round(len(REGISTRY.exemplars(n)) * 0.2) for n in REGISTRY.names())
    assert 0.2 < persona["held_out_accuracy"] <= 1 and 0.5 < natural["held_out_accuracy"] <= 1
    assert set(persona["held_out_accuracy_by_persona"]) == set(REGISTRY.names())
    assert sum(sum(row.values()) for row in persona["confusion (row: true, column: predicted)"].values()) == persona["held_out"]


def test_save_and_load_give_the_same_scores(tmp_path, fake_trained):
    classifier, _ = fake_trained
    path = classifier.save(tmp_path / "weights" / "clf.npz", extra={"seed": 0})
    loaded = PersonaClassifier.load(path, HashEmbedder(64))
    texts = ["Whoa, dude, sounds fun!", "Very good, sir.", "sounds fun sounds fun sounds fun"]
    assert loaded.score_many(texts) == classifier.score_many(texts)
    assert loaded.personas == tuple(REGISTRY.names()) and loaded.embedder_name == "HashEmbedder(64)"


def test_the_command_line_writes_weights_and_card(tmp_path, capsys):
    out = tmp_path / "clf.npz"
    assert main(["--seed", "3", "--out", str(out), "--no-progress"], embedder=HashEmbedder(32)) == 0
    card = json.loads(card_path(out).read_text(encoding="utf-8"))
    assert card["seed"] == 3 and card["command"].endswith(f"--seed 3 --out {out} --no-progress")
    assert PersonaClassifier.load(out, HashEmbedder(32)).personas == tuple(REGISTRY.names())
    printed = capsys.readouterr().out
    assert "in-character:" in printed and "held-out exemplars" in printed and "naturalness:" in printed


def test_the_command_line_trains_on_a_users_file_and_refuses_a_thin_one(tmp_path, capsys):
    thin = tmp_path / "thin.yaml"
    thin.write_text(REGISTRY.path.read_text(encoding="utf-8").replace("\nunnatural:\n", "\nunnatural: []\nignored:\n"), encoding="utf-8")
    assert main(["--personas", str(thin), "--out", str(tmp_path / "x.npz")], embedder=HashEmbedder(32)) == 2
    assert "unknown top-level key" in capsys.readouterr().err
    path = tmp_path / "mine.yaml"
    path.write_text(REGISTRY.path.read_text(encoding="utf-8").split("\nunnatural:\n")[0] + "\nunnatural: [a a a]\n", encoding="utf-8")
    assert main(["--personas", str(path), "--out", str(tmp_path / "y.npz")], embedder=HashEmbedder(32)) == 2
    assert "needs at least 5" in capsys.readouterr().err and not (tmp_path / "y.npz").exists()


# -- loading refuses what it cannot use -------------------------------------------------------------------------------
def test_missing_weights_name_the_command_to_retrain(tmp_path):
    with pytest.raises(ClassifierError, match=r"missing at .*nothing\.npz; train them with: python -m assistant\.personas\.classifier"):
        PersonaClassifier.load(tmp_path / "nothing.npz", HashEmbedder(64))
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip file")
    with pytest.raises(ClassifierError, match=r"cannot read the persona classifier weights .*train them with"):
        PersonaClassifier.load(broken, HashEmbedder(64))


def test_another_embedder_is_refused(tmp_path, fake_trained):
    path = fake_trained[0].save(tmp_path / "clf.npz")
    with pytest.raises(ClassifierError, match=r"trained with the embedder HashEmbedder\(64\) \(64 dimensions\), but it is used with "
                                              r"HashEmbedder\(32\) \(32 dimensions.*retrain"):
        PersonaClassifier.load(path, HashEmbedder(32))
    command = r"python -m assistant\.personas\.classifier --seed 0 --out assistant/personas/classifier\.npz"
    with pytest.raises(ClassifierError, match=r"SentenceEmbedder\(sentence-transformers/all-MiniLM-L6-v2\) \(384 dimensions\).*"
                                              r"HashEmbedder\(384\) \(384 dimensions, different vectors\); retrain .* " + command):
        PersonaClassifier.load(CLASSIFIER_FILE, HashEmbedder(384))  # same size, another model: caught by the probe vector


def test_an_embedder_that_cannot_load_is_a_classifier_error():
    class Missing:
        def embed_batch(self, texts):
            raise ImportError("No module named 'sentence_transformers'")

    with pytest.raises(ClassifierError, match=r"embedder of the persona classifier \(Missing\(\)\) cannot load: No module"):
        PersonaClassifier.load(CLASSIFIER_FILE, Missing())


# -- scoring ------------------------------------------------------------------------------------------------------------------
def test_repeated_texts_are_embedded_once_and_a_batch_in_one_call(tmp_path, fake_trained):
    path = fake_trained[0].save(tmp_path / "clf.npz")
    embedder = CountingEmbedder(64)
    classifier = PersonaClassifier.load(path, embedder, cache_size=3)
    assert embedder.batches == [[PROBE]]
    texts = ["Whoa, dude!", "Very good, sir.", "Heads up, rain.", "Whoa, dude!"]
    scores = classifier.score_many(texts)
    assert embedder.batches[1:] == [["Whoa, dude!", "Very good, sir.", "Heads up, rain."]]
    assert scores[0] == scores[3] and all(0 <= s.naturalness <= 1 for s in scores)
    assert abs(sum(scores[1].in_character.values()) - 1) < 1e-5
    assert classifier.naturalness("Heads up, rain.") == pytest.approx(scores[2].naturalness, abs=1e-9)
    assert classifier.in_character("Very good, sir.", "Butler") == pytest.approx(scores[1].in_character["butler"], abs=1e-9)
    assert len(embedder.batches) == 2  # all from the cache
    classifier.score_many(["one", "two", "three"])  # the cache holds 3: the oldest go
    classifier.naturalness("Whoa, dude!")
    assert embedder.batches[-1] == ["Whoa, dude!"] and classifier.score_many([]) == []
    calls = len(embedder.batches)
    many = classifier.score_many(["a b", "c d", "e f", "g h", "i j", "a b"])  # more texts than the cache holds: still one call
    assert len(embedder.batches) == calls + 1 and many[0] == many[5]


def test_a_persona_the_weights_do_not_know_scores_as_naturalness(fake_trained):
    classifier, _ = fake_trained
    text = "Arr, matey, the tide be turning!"
    assert classifier.in_character(text, "pirate") == classifier.naturalness(text)


# -- the shipped weights, with the real MiniLM ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shipped() -> PersonaClassifier:
    """The committed classifier on the real sentence-transformers model (its default embedder)."""
    return PersonaClassifier.load()


def test_the_shipped_weights_match_the_personas_file_and_their_card():
    with np.load(CLASSIFIER_FILE, allow_pickle=False) as data:
        digest, seed = str(data["data_digest"]), int(data["seed"])
    assert digest == data_digest(REGISTRY), f"personas.yaml changed since training; run: {TRAIN_COMMAND}"
    card = json.loads(card_path(CLASSIFIER_FILE).read_text(encoding="utf-8"))
    assert card["data_digest"] == digest and card["seed"] == seed == 0 and card["dimensions"] == 384
    assert card["command"].startswith(TRAIN_COMMAND)


def test_the_shipped_classifier_recognises_held_out_exemplars(shipped):
    split = split_data(REGISTRY, seed=0)
    texts = [t for t, _ in split.persona_test]
    scores = shipped.score_many(texts)
    predicted = [max(s.in_character, key=s.in_character.get) for s in scores]
    accuracy = np.mean([p == truth for p, (_, truth) in zip(predicted, split.persona_test)])
    card = json.loads(card_path(CLASSIFIER_FILE).read_text(encoding="utf-8"))
    assert accuracy == pytest.approx(card["in_character"]["held_out_accuracy"], abs=0.03) and accuracy >= 0.85
    for name in REGISTRY.names():  # on average each persona's own held-out lines sound most like that persona
        mine = [s.in_character for s, (_, truth) in zip(scores, split.persona_test) if truth == name]
        means = {other: np.mean([m[other] for m in mine]) for other in REGISTRY.names()}
        assert max(means, key=means.get) == name, means


def test_the_shipped_classifier_prefers_natural_text(shipped):
    split = split_data(REGISTRY, seed=0)
    rows = split.natural_test
    scores = shipped.score_many([t for t, _, _ in rows])
    natural = [s.naturalness for s, (_, label, _) in zip(scores, rows) if label == 1]
    unnatural = [s.naturalness for s, (_, label, _) in zip(scores, rows) if label == 0]
    assert np.mean(natural) - np.mean(unnatural) > 0.6
    pairs = [
        ("Good morning. It's 8:30 AM. Any fun plans today?", "Good morning. Good morning. Good morning. Good morning. Good morning."),
        ("Sounds fun! But if you're going to Half Moon Bay again, expect rain.", "Surfer opens: Surfer opens: Sounds fun! Plain reply:"),
        ("Sure thing, I set the reminder and hope the weather clears up for you.", "reminder reminder set set the the weather weather"),
        ("That sounds like fun, how long have you been surfing?", "<end_of_turn> ``` That sounds {{ plain }} like"),
        ("It's 8:30 AM.", "It's 8:30 AM. The user said: what time is it"),
    ]
    for good, bad in pairs:
        assert shipped.naturalness(good) > shipped.naturalness(bad) + 0.3, (good, bad)


@pytest.mark.parametrize("text, persona", [
    ("Good morning, sir. It's 8:30 AM. Shall I lay out your schedule?", "butler"),
    ("Whoa, dude! Sounds fun! Grab your board!", "surfer"),
    ("Ooh, I can smell the garam masala. How does Mediterranean or Indian food sound for dinner?", "chef"),
    ("Heads up: expect rain and chilly temps at Half Moon Bay, so pack a jacket.", "forecaster"),
    ("Okay, I set a reminder for 10:30 AM.", "neutral"),
])
def test_the_shipped_classifier_hears_each_persona(shipped, text, persona):
    scores = shipped.score_many([text])[0].in_character
    assert max(scores, key=scores.get) == persona, scores
    assert shipped.in_character(text, persona) > 0.5
