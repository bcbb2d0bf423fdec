"""The ranker's naturalness and in-character classifier (spec §10), trained offline on the exemplars of personas.yaml.

The shipped weights (classifier.npz, card in classifier.json) were made with:

    python -m assistant.personas.classifier --seed 0 --out assistant/personas/classifier.npz

Features are sentence embeddings (MiniLM by default). Two logistic-regression heads in numpy sit on top:
  naturalness   natural (every persona's exemplars and examples) vs unnatural (the file's `unnatural` list plus
                seeded corruptions of natural sentences: cut off, looped, shuffled, run together, markup left in).
                Mean-pooled embeddings barely see a loop or a cut-off, so this head also gets eight surface
                statistics of the text (repetition, markup, capitals, final punctuation, length).
  in-character  one multinomial head over the personas; in_character(text, p) is the probability of p.
A stratified share of exemplars and unnatural sentences is held out; the card records accuracy on them. The weights
remember the embedder (name, dimension and the vector of a probe sentence): another embedder is refused at load.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import re
import sys
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from assistant.errors import AssistantError
from assistant.personas.registry import PersonaRegistry

log = logging.getLogger(__name__)

CLASSIFIER_FILE = Path(__file__).with_name("classifier.npz")
TRAIN_COMMAND = "python -m assistant.personas.classifier --seed 0 --out assistant/personas/classifier.npz"
FORMAT = 1
PROBE = "The quick brown fox jumps over the lazy dog at 8:30 AM."  # its vector fingerprints the embedder
_LEFTOVERS = ("<end_of_turn>", "Plain reply:", "opens:", "closes:", "</s>", "{{ plain }}", "[/INST]", "```", "<br>", "###",
              "User:", "Assistant:", "Output:", "|")
_LABEL = re.compile(r"\b(?:opens|closes|plain(?: reply)?|rewrite|user|assistant|model|input|output|response|candidate \d+)\s*:", re.I)
_MARKUP_CHARS = set("<>{}[]|_=#*`\\/~^@$")
SURFACE = ("repeated_words", "repeated_trigrams", "markup_chars", "prompt_labels", "ends_sentence", "starts_capital",
           "capital_words", "length")


class ClassifierError(AssistantError):
    """The classifier's weights are missing, unreadable or were trained with another embedder."""


def retrain_hint(path: Path) -> str:
    """The command that rebuilds the weights at `path`."""
    return TRAIN_COMMAND if Path(path).resolve() == CLASSIFIER_FILE.resolve() else TRAIN_COMMAND.replace(
        "assistant/personas/classifier.npz", str(path))


def embedder_name(embedder: Any) -> str:
    """A readable name of an embedder: 'SentenceEmbedder(sentence-transformers/all-MiniLM-L6-v2)', 'HashEmbedder(64)'."""
    detail = getattr(embedder, "model", None) or getattr(embedder, "dimensions", None) or ""
    return getattr(embedder, "name", None) or f"{type(embedder).__name__}({detail})"


def embed_texts(embedder: Any, texts: Sequence[str], *, batch: int = 64, progress: bool = False) -> np.ndarray:
    """(n, dim) float32 embeddings, in batches, with a progress bar when asked."""
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    starts = range(0, len(texts), batch)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc="embedding", unit="batch", file=sys.stderr)
    rows = [np.asarray(embedder.embed_batch(list(texts[i:i + batch])), dtype=np.float32) for i in starts]
    return np.concatenate(rows, axis=0)


def surface(text: str) -> np.ndarray:
    """The eight surface statistics of SURFACE, each in [0, 1]: what mean-pooled embeddings cannot see."""
    words = re.findall(r"[\w'’:°%.-]+", text.lower())
    lowered = [w.strip(".") for w in words if w.strip(".")]
    trigrams = [tuple(lowered[i:i + 3]) for i in range(len(lowered) - 2)]
    repeated = sum(trigrams.count(t) > 1 for t in trigrams) / len(trigrams) if trigrams else 0.0
    raw = text.split()
    stripped = text.strip().rstrip("\"')”’")
    return np.array([
        1 - len(set(lowered)) / len(lowered) if lowered else 1.0,
        repeated,
        min(1.0, 5 * sum(c in _MARKUP_CHARS for c in text) / max(1, len(text))),
        float(bool(_LABEL.search(text))),
        float(stripped[-1:] in (".", "!", "?")) if stripped else 0.0,
        float(text.strip()[:1].isupper() or text.strip()[:1].isdigit()),
        sum(w.isupper() and len(w) > 1 and w not in ("AM", "PM", "OK", "UV") for w in raw) / max(1, len(raw)),
        min(1.0, math.log1p(len(raw)) / math.log(60)),
    ], dtype=np.float32)


def corrupt(text: str, others: Sequence[str], rng: np.random.Generator, *, labels: Sequence[str] = ()) -> str:
    """A broken version of a natural sentence, the way a small model breaks them (the naturalness head's negatives).

    `labels` are the persona labels of the rewrite prompts ("Butler"): "Butler opens:" is a typical leftover.
    """
    words = text.split()
    leftovers = [*_LEFTOVERS, *(f"{label} {part}:" for label in labels for part in ("opens", "closes"))]
    kind = rng.choice(["cut", "loop", "markup", "shuffle", "run_on"] if len(words) >= 4 else ["loop", "markup", "run_on"])
    if kind == "cut":
        keep = max(2, int(len(words) * rng.uniform(0.35, 0.7)))
        return " ".join(words[:keep]).rstrip(".,!?;:")
    if kind == "loop":
        start = int(rng.integers(0, len(words)))
        span = " ".join(words[start:start + int(rng.integers(1, 4))]).rstrip(".,!?")
        return " ".join([*words[:start], *[span] * int(rng.integers(3, 7))])
    if kind == "markup":
        for _ in range(int(rng.integers(1, 3))):
            words.insert(int(rng.integers(0, len(words) + 1)), str(leftovers[int(rng.integers(0, len(leftovers)))]))
        return " ".join(words)
    if kind == "shuffle":
        return " ".join(words[i] for i in rng.permutation(len(words)))
    picked = [others[int(i)] for i in rng.choice(len(others), size=2, replace=False)] if len(others) >= 2 else list(others)
    return " ".join(re.sub(r"[.,!?;:]", "", t).lower() for t in [text, *picked])


def data_digest(registry: PersonaRegistry) -> str:
    """A hash of the training data in the personas file (exemplars, examples, unnatural), to see stale weights."""
    parts = [[p.name, list(registry.exemplars(p.name)), [list(e) for e in p.examples]] for p in registry.all()]
    return hashlib.sha256(json.dumps([parts, list(registry.unnatural)], ensure_ascii=False).encode()).hexdigest()[:16]


# -- the data ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Split:
    """Training and held-out texts of both heads."""

    persona_train: list[tuple[str, str]]  # (text, persona)
    persona_test: list[tuple[str, str]]
    natural_train: list[tuple[str, int, str]]  # (text, 1 natural | 0 unnatural, source)
    natural_test: list[tuple[str, int, str]]


def split_data(registry: PersonaRegistry, *, seed: int, test_fraction: float = 0.2) -> Split:
    """Hold out `test_fraction` of each persona's exemplars and of the unnatural list (at least one each); seeded."""
    if not 0 < test_fraction < 1:
        raise ValueError("test_fraction must be between 0 and 1")
    rng = np.random.default_rng(seed)

    def halves(texts: Sequence[str]) -> tuple[list[str], list[str]]:
        order = rng.permutation(len(texts))
        n_test = max(1, round(len(texts) * test_fraction))
        return [texts[i] for i in order[n_test:]], [texts[i] for i in order[:n_test]]

    persona_train, persona_test, natural_train, natural_test = [], [], [], []
    for persona in registry.all():
        exemplars = registry.exemplars(persona.name)
        if len(exemplars) < 5:
            raise ClassifierError(f"persona {persona.name!r} has {len(exemplars)} exemplars; the classifier needs at least 5")
        train, test = halves(exemplars)
        train += [rewrite for _, rewrite in persona.examples]  # examples always train: the held-out set is exemplars only
        persona_train += [(t, persona.name) for t in train]
        persona_test += [(t, persona.name) for t in test]
        natural_train += [(t, 1, "natural") for t in train + [plain for plain, _ in persona.examples]]
        natural_test += [(t, 1, "natural") for t in test]
    if len(registry.unnatural) < 5:
        raise ClassifierError(f"the personas file has {len(registry.unnatural)} unnatural sentences; the classifier needs at least 5")
    bad_train, bad_test = halves(registry.unnatural)
    labels = [p.name.capitalize() for p in registry.all()]  # as the rewriter labels them in its prompts
    for rows, bad in ((natural_train, bad_train), (natural_test, bad_test)):
        good = [t for t, label, _ in rows if label == 1]
        rows += [(corrupt(t, good, rng, labels=labels), 0, "corrupted") for t in good]  # each side corrupts its own sentences
        rows += [(t, 0, "written") for t in bad]
    return Split(persona_train, persona_test, list(dict.fromkeys(natural_train)), list(dict.fromkeys(natural_test)))


# -- logistic regression ------------------------------------------------------------------------------------
@dataclass
class Head:
    """A softmax regression over standardised features: p = softmax(((x - mean) / scale) @ weights + bias)."""

    mean: np.ndarray  # (d,)
    scale: np.ndarray  # (d,)
    weights: np.ndarray  # (d, k)
    bias: np.ndarray  # (k,)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """(n, d) features -> (n, k) class probabilities."""
        x = np.asarray(x, dtype=np.float64)  # float64: a text scores the same alone or in a batch (to ~1e-12)
        logits = ((x - self.mean) / self.scale) @ self.weights + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)


def fit_head(x: np.ndarray, y: np.ndarray, k: int, *, l2: float, steps: int = 400) -> Head:
    """Class-balanced cross-entropy + l2/2 |W|^2, minimised by accelerated gradient descent (convex, deterministic)."""
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = np.concatenate([(x - mean) / scale, np.ones((len(x), 1))], axis=1)  # (n, d+1): the bias is the last row of W
    counts = np.bincount(y, minlength=k).astype(np.float64)
    assert (counts > 0).all(), f"every class needs training examples, got counts {counts}"
    sample_weight = (len(y) / (k * counts))[y] / len(y)  # (n,) balanced, sums to 1
    onehot = np.eye(k)[y]
    # step 1/L with L an upper bound of the loss's curvature: 0.5 * largest eigenvalue of the weighted Gram matrix + l2
    curvature = 0.5 * np.linalg.eigvalsh((z * sample_weight[:, None]).T @ z)[-1] + l2
    w = np.zeros((z.shape[1], k))
    previous, momentum = w, w
    for t in range(1, steps + 1):
        logits = z @ momentum  # (n, k)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        grad = z.T @ ((p - onehot) * sample_weight[:, None])
        grad[:-1] += l2 * momentum[:-1]  # the bias is not regularised
        w = momentum - grad / curvature
        momentum = w + (t - 1) / (t + 2) * (w - previous)
        previous = w
    return Head(mean.astype(np.float32), scale.astype(np.float32), w[:-1].astype(np.float32), w[-1].astype(np.float32))


def log_loss(head: Head, x: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood of the true classes."""
    p = head.probabilities(x)[np.arange(len(y)), y]
    return float(-np.log(np.clip(p, 1e-9, 1)).mean())


def pick_l2(x: np.ndarray, y: np.ndarray, k: int, *, seed: int, grid: Sequence[float], folds: int = 5) -> float:
    """The regularisation of `grid` with the lowest cross-validated log-loss on the training data (ties: stronger)."""
    order = np.random.default_rng(seed).permutation(len(y))
    fold_of = np.empty(len(y), dtype=int)
    for label in range(k):  # stratified: each class spread over the folds
        members = order[y[order] == label]
        fold_of[members] = np.arange(len(members)) % folds
    losses = []
    for l2 in grid:
        total = 0.0
        for f in range(folds):
            train, valid = fold_of != f, fold_of == f
            total += log_loss(fit_head(x[train], y[train], k, l2=l2), x[valid], y[valid]) * valid.sum()
        losses.append(total / len(y))
    best = min(losses)
    return max(l2 for l2, loss in zip(grid, losses) if loss <= best + 1e-9)


# -- the classifier -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scores:
    """What the classifier says about one text."""

    naturalness: float  # probability the text is natural, 0-1
    in_character: dict[str, float] = field(default_factory=dict)  # persona -> probability it speaks like them


class PersonaClassifier:
    """Scores how natural a text is and how much it sounds like each persona (the ranker's Classifier)."""

    def __init__(self, embedder: Any, *, naturalness: Head, persona: Head, personas: Sequence[str], embedder_name: str,
                 embedder_model: str, probe: np.ndarray, cache_size: int = 4096) -> None:
        self.embedder = embedder
        self.natural_head = naturalness
        self.persona_head = persona
        self.personas = tuple(personas)
        self.embedder_name = embedder_name
        self.embedder_model = embedder_model
        self.probe = probe
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._warned: set[str] = set()

    # -- scoring ------------------------------------------------------------------------------------------
    def _embeddings(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) embeddings; texts not in the LRU cache are embedded in one batch."""
        with self._lock:
            known = {t: self._cache[t] for t in texts if t in self._cache}
            for text in known:
                self._cache.move_to_end(text)
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        if missing:
            fresh = dict(zip(missing, np.asarray(self.embedder.embed_batch(missing), dtype=np.float32)))
            known.update(fresh)
            with self._lock:
                for text, vector in fresh.items():
                    self._cache[text] = vector
                    self._cache.move_to_end(text)
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return np.stack([known[t] for t in texts])

    def score_many(self, texts: Sequence[str]) -> list[Scores]:
        """Scores of several texts with at most one embedding call (call it before ranking to warm the cache)."""
        if not texts:
            return []
        vectors = self._embeddings(texts)
        features = np.concatenate([vectors, np.stack([surface(t) for t in texts])], axis=1)
        natural = self.natural_head.probabilities(features)[:, 1]
        personas = self.persona_head.probabilities(vectors)
        return [Scores(float(n), {name: float(p) for name, p in zip(self.personas, row)}) for n, row in zip(natural, personas)]

    def naturalness(self, text: str) -> float:
        """How natural and fluent the text is, 0-1."""
        return self.score_many([text])[0].naturalness

    def in_character(self, text: str, persona: str) -> float:
        """How much the text sounds like `persona`, 0-1; a persona the weights do not know gets the naturalness score."""
        scores = self.score_many([text])[0]
        name = persona.strip().lower()
        if name not in scores.in_character:
            if name not in self._warned:
                self._warned.add(name)
                log.warning("the persona classifier was not trained on %r (it knows %s); retrain with: %s", persona,
                            ", ".join(self.personas), TRAIN_COMMAND)
            return scores.naturalness
        return scores.in_character[name]

    # -- storing --------------------------------------------------------------------------------------------
    def save(self, path: Path, *, extra: dict[str, Any] | None = None) -> Path:
        """Write the weights to `path` (.npz); `extra` scalars (seed, data digest) are stored alongside."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, Any] = {"format": np.array(FORMAT), "embedder_name": np.array(self.embedder_name),
                                  "embedder_model": np.array(self.embedder_model), "dim": np.array(self.probe.shape[0]),
                                  "probe": self.probe, "personas": np.array(self.personas)}
        for prefix, head in (("natural", self.natural_head), ("persona", self.persona_head)):
            arrays.update({f"{prefix}_{name}": value for name, value in asdict(head).items()})
        arrays.update({k: np.array(v) for k, v in (extra or {}).items()})
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as handle:
            np.savez_compressed(handle, **arrays)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path | str = CLASSIFIER_FILE, embedder: Any = None, *, cache_size: int = 4096) -> "PersonaClassifier":
        """The classifier at `path` on `embedder` (default: the sentence-transformers model it was trained with).

        Raises ClassifierError naming the command to retrain when the file is missing or unreadable, or when the
        embedder is not the one the weights were trained with (another dimension or another vector for a probe).
        """
        path = Path(path)
        hint = f"train them with: {retrain_hint(path)}"
        if not path.is_file():
            raise ClassifierError(f"the persona classifier weights are missing at {path}; {hint}")
        try:
            with np.load(path, allow_pickle=False) as data:
                stored = {name: data[name] for name in data.files}
            heads = {prefix: Head(*(stored[f"{prefix}_{name}"] for name in ("mean", "scale", "weights", "bias")))
                     for prefix in ("natural", "persona")}
            name, model, dim = str(stored["embedder_name"]), str(stored["embedder_model"]), int(stored["dim"])
            if int(stored["format"]) != FORMAT:
                raise ClassifierError(f"{path} has format {int(stored['format'])}, this code reads {FORMAT}; {hint}")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ClassifierError(f"cannot read the persona classifier weights {path} ({exc}); {hint}") from exc
        if embedder is None:
            if not model:
                raise ClassifierError(f"{path} was trained with {name}; pass that embedder to PersonaClassifier.load")
            from memory.embeddings import SentenceEmbedder

            embedder = SentenceEmbedder(model)
        try:
            probe = np.asarray(embedder.embed_batch([PROBE])[0], dtype=np.float32)
        except (ImportError, OSError) as exc:
            raise ClassifierError(f"the embedder of the persona classifier ({embedder_name(embedder)}) cannot load: {exc}") from exc
        same = probe.shape == (dim,) and float(probe @ stored["probe"]) / (
            float(np.linalg.norm(probe) * np.linalg.norm(stored["probe"])) or 1.0) > 0.99
        if not same:
            raise ClassifierError(f"{path} was trained with the embedder {name} ({dim} dimensions), but it is used with "
                                  f"{embedder_name(embedder)} ({probe.shape[-1]} dimensions, different vectors); retrain "
                                  f"for this embedder, e.g.: {retrain_hint(path)}")
        return cls(embedder, naturalness=heads["natural"], persona=heads["persona"], personas=[str(p) for p in stored["personas"]],
                   embedder_name=name, embedder_model=model, probe=probe, cache_size=cache_size)


# -- training ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainConfig:
    """How the classifier is trained."""

    seed: int = 0  # the held-out split, the corruptions and the cross-validation folds
    test_fraction: float = 0.2  # share of each persona's exemplars (and of the unnatural list) held out
    l2_grid: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1, 0.3)  # regularisation tried by 5-fold cross-validation
    steps: int = 400  # accelerated gradient steps per fit

    def __post_init__(self) -> None:
        if not 0 < self.test_fraction < 1 or not self.l2_grid or self.steps < 1:
            raise ValueError("test_fraction must be in (0, 1), l2_grid non-empty and steps positive")


def _accuracy(predicted: np.ndarray, truth: np.ndarray) -> float:
    return round(float((predicted == truth).mean()), 4) if len(truth) else float("nan")


def train(registry: PersonaRegistry, embedder: Any, *, config: TrainConfig = TrainConfig(),
          progress: bool = False) -> tuple[PersonaClassifier, dict[str, Any]]:
    """Fit both heads on the registry's exemplars and report held-out accuracy; returns the classifier and its card."""
    split = split_data(registry, seed=config.seed, test_fraction=config.test_fraction)
    names = registry.names()
    texts = list(dict.fromkeys([PROBE] + [t for t, _ in split.persona_train + split.persona_test]
                               + [t for t, _, _ in split.natural_train + split.natural_test]))
    vectors = dict(zip(texts, embed_texts(embedder, texts, progress=progress)))

    def persona_xy(rows):
        return np.stack([vectors[t] for t, _ in rows]), np.array([names.index(p) for _, p in rows])

    def natural_xy(rows, *, with_surface=True):
        x = np.stack([vectors[t] for t, _, _ in rows])
        if with_surface:
            x = np.concatenate([x, np.stack([surface(t) for t, _, _ in rows])], axis=1)
        return x, np.array([label for _, label, _ in rows])

    px, py = persona_xy(split.persona_train)
    persona_l2 = pick_l2(px, py, len(names), seed=config.seed, grid=config.l2_grid)
    persona_head = fit_head(px, py, len(names), l2=persona_l2, steps=config.steps)
    nx, ny = natural_xy(split.natural_train)
    natural_l2 = pick_l2(nx, ny, 2, seed=config.seed, grid=config.l2_grid)
    natural_head = fit_head(nx, ny, 2, l2=natural_l2, steps=config.steps)
    classifier = PersonaClassifier(embedder, naturalness=natural_head, persona=persona_head, personas=names,
                                   embedder_name=embedder_name(embedder), embedder_model=str(getattr(embedder, "model", "") or ""),
                                   probe=vectors[PROBE])

    tx, ty = persona_xy(split.persona_test)
    predicted = persona_head.probabilities(tx).argmax(axis=1)
    confusion = {names[i]: {names[j]: int(((ty == i) & (predicted == j)).sum()) for j in range(len(names))} for i in range(len(names))}
    vx, vy = natural_xy(split.natural_test)
    natural_predicted = natural_head.probabilities(vx).argmax(axis=1)
    sources = np.array([s for _, _, s in split.natural_test])
    # ablation: the same head on the embeddings alone, to show what the surface statistics add
    ex, ey = natural_xy(split.natural_train, with_surface=False)
    plain_head = fit_head(ex, ey, 2, l2=natural_l2, steps=config.steps)
    plain_predicted = plain_head.probabilities(natural_xy(split.natural_test, with_surface=False)[0]).argmax(axis=1)
    card = {
        "command": TRAIN_COMMAND,
        "seed": config.seed,
        "embedder": classifier.embedder_name,
        "dimensions": int(vectors[PROBE].shape[0]),
        "personas": names,
        "data_digest": data_digest(registry),
        "in_character": {
            "train": len(split.persona_train), "held_out": len(split.persona_test), "l2": persona_l2,
            "held_out_accuracy": _accuracy(predicted, ty),
            "held_out_accuracy_by_persona": {n: _accuracy(predicted[ty == i], ty[ty == i]) for i, n in enumerate(names)},
            "confusion (row: true, column: predicted)": confusion,
        },
        "naturalness": {
            "train": len(split.natural_train), "held_out": len(split.natural_test), "l2": natural_l2,
            "surface_features": list(SURFACE),
            "held_out_accuracy": _accuracy(natural_predicted, vy),
            "held_out_accuracy_by_source": {s: _accuracy(natural_predicted[sources == s], vy[sources == s])
                                            for s in ("natural", "written", "corrupted")},
            "held_out_accuracy_embeddings_only": _accuracy(plain_predicted, vy),
        },
    }
    return classifier, card


def card_path(weights: Path) -> Path:
    """The JSON card next to the weights: classifier.npz -> classifier.json."""
    return Path(weights).with_suffix(".json")


def main(argv: Sequence[str] | None = None, *, embedder: Any = None) -> int:
    """Train the classifier from a personas file and write the weights and the card (`embedder` is for tests)."""
    parser = argparse.ArgumentParser(prog="python -m assistant.personas.classifier", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=TrainConfig.seed, help="seed of the split, corruptions and folds (default %(default)s)")
    parser.add_argument("--out", type=Path, default=CLASSIFIER_FILE, help="where to write the .npz weights (card: same name, .json)")
    parser.add_argument("--personas", type=Path, default=None, help="the personas YAML to train on (default: the shipped personas.yaml)")
    parser.add_argument("--model", default="", help="sentence-transformers model (default: the offline MiniLM)")
    parser.add_argument("--test-fraction", type=float, default=TrainConfig.test_fraction, help="held-out share (default %(default)s)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    args = parser.parse_args(argv)
    from memory.embeddings import DEFAULT_MODEL, SentenceEmbedder

    try:
        registry = PersonaRegistry(args.personas)
        embedder = embedder if embedder is not None else SentenceEmbedder(args.model or DEFAULT_MODEL)
        classifier, card = train(registry, embedder, config=TrainConfig(seed=args.seed, test_fraction=args.test_fraction),
                                 progress=args.progress)
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    card["command"] = " ".join(["python -m assistant.personas.classifier", *(argv if argv is not None else sys.argv[1:])])
    classifier.save(args.out, extra={"seed": args.seed, "data_digest": card["data_digest"]})
    card_path(args.out).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    persona, natural = card["in_character"], card["naturalness"]
    print(f"in-character: {persona['held_out_accuracy']:.1%} of {persona['held_out']} held-out exemplars "
          f"({', '.join(f'{n} {a:.0%}' for n, a in persona['held_out_accuracy_by_persona'].items())})")
    print(f"naturalness: {natural['held_out_accuracy']:.1%} of {natural['held_out']} held-out sentences "
          f"({', '.join(f'{s} {a:.0%}' for s, a in natural['held_out_accuracy_by_source'].items())}; "
          f"embeddings only {natural['held_out_accuracy_embeddings_only']:.1%})")
    print(f"wrote {args.out} and {card_path(args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
