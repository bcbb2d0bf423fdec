"""Personas as data (personas.yaml), checked strictly, and the choice of who speaks a turn (spec §3, §8).

`PersonaRegistry` loads the shipped file or the user's own; every mistake names the field it is in. `choose_persona`
decides the persona of a turn: a requested name wins, then the user's pin, then their schedule, then the
conversation (context rules of the file), else the default. It never raises; what it could not honour becomes a note.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import yaml

from assistant.errors import AssistantError
from assistant.personas.ranking import keeps_facts
from assistant.personas.types import ParameterSet, Persona, Prosody

PERSONAS_FILE = Path(__file__).with_name("personas.yaml")
KINDS = ("prompt", "soft_prompt", "adapter")
AUTO = "auto"
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_SLOT = re.compile(r"^\s*(\d{1,2})(?::(\d{2}))?\s*-\s*(\d{1,2})(?::(\d{2}))?\s*$")
_TOP = {"default", "context_window", "context_rules", "personas", "unnatural"}
_FIELDS = {"description", "style", "parameter_set", "vocabulary", "sub_vocabularies", "examples", "prosody", "exemplars"}
_REQUIRED = ("description", "style", "parameter_set", "vocabulary", "examples")
_PROSODY = {"rate": int, "pitch": int, "pitch_range": int, "pause_ms": int, "sentence_pause_ms": int, "voice": str}


class PersonaFileError(AssistantError):
    """The personas file is not valid; the message names the file and the field."""


class UnknownPersona(AssistantError, KeyError):
    """No persona has this name; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class ContextRule:
    """Pick `persona` when the conversation uses one of its cue words or phrases."""

    persona: str
    cues: tuple[str, ...]

    def hits(self, text: str) -> int:
        """How many of the cues occur in `text` as whole words or phrases."""
        words = _words(text)
        return sum(f" {cue} " in words for cue in self.cues)


class _StrictLoader(yaml.SafeLoader):
    """YAML with duplicate keys as an error instead of the last one silently winning."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise PersonaFileError(f"duplicate key {key!r} (line {key_node.start_mark.line + 1})")
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _words(text: str) -> str:
    """Lower-case words separated by single spaces, padded, for whole-word cue matching."""
    table = str.maketrans({c: " " for c in string.punctuation + "…’" if c != "'"})
    return " " + " ".join(text.lower().replace("’", "'").translate(table).split()) + " "


class PersonaRegistry:
    """The personas of a YAML file by name (case-insensitive), with the data the choice and the classifier need."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else PERSONAS_FILE
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError as exc:
            raise PersonaFileError(f"cannot read the personas file {self.path}: {exc.strerror or exc}") from exc
        try:
            data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
        except PersonaFileError as exc:
            raise PersonaFileError(f"{self.path}: {exc}") from None
        except yaml.YAMLError as exc:
            raise PersonaFileError(f"{self.path} is not valid YAML: {exc}") from exc
        self._load(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "<personas>") -> "PersonaRegistry":
        """A registry from already-parsed data (relative adapter paths resolve against the working directory)."""
        registry = cls.__new__(cls)
        registry.path = Path(source)
        registry._load(data)
        return registry

    # -- reading ------------------------------------------------------------------------------------------
    def get(self, name: str) -> Persona:
        """The persona called `name` (any case); raises UnknownPersona listing the known names."""
        found = self._personas.get(str(name).strip().lower())
        if found is None:
            raise UnknownPersona(f"unknown persona {name!r}; known personas: {', '.join(self.names())}")
        return found

    def all(self) -> tuple[Persona, ...]:
        """Every persona, in file order."""
        return tuple(self._personas.values())

    def names(self) -> list[str]:
        """Every persona name, in file order."""
        return list(self._personas)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.strip().lower() in self._personas

    def __iter__(self) -> Iterator[Persona]:
        return iter(self._personas.values())

    def __len__(self) -> int:
        return len(self._personas)

    @property
    def default(self) -> Persona:
        """Who speaks when nothing else decides."""
        return self._personas[self._default]

    @property
    def context_rules(self) -> tuple[ContextRule, ...]:
        """The rules that pick a persona from the conversation, in priority order."""
        return self._rules

    @property
    def context_window(self) -> int:
        """How many earlier turns the context rules look back when the message itself has no cue."""
        return self._window

    def exemplars(self, name: str) -> tuple[str, ...]:
        """Things this persona would say: the classifier's training data for it."""
        return self._exemplars[self.get(name).name]

    @property
    def unnatural(self) -> tuple[str, ...]:
        """Things no persona should say: the classifier's negative examples."""
        return self._unnatural

    # -- checking -----------------------------------------------------------------------------------------
    def _fail(self, where: str, problem: str) -> PersonaFileError:
        return PersonaFileError(f"{self.path.name}: {where}: {problem}")

    def _load(self, data: Any) -> None:
        if not isinstance(data, Mapping):
            raise self._fail("top level", "must be a mapping with `personas:`")
        unknown = sorted(set(map(str, data)) - _TOP)
        if unknown:
            raise self._fail(unknown[0], f"unknown top-level key (known: {', '.join(sorted(_TOP))})")
        personas = data.get("personas")
        if not isinstance(personas, Mapping) or not personas:
            raise self._fail("personas", "must be a non-empty mapping of name -> persona")
        self._personas: dict[str, Persona] = {}
        self._exemplars: dict[str, tuple[str, ...]] = {}
        for name, spec in personas.items():
            if not isinstance(name, str) or not _NAME.match(name):
                raise self._fail(f"personas.{name}", "a persona name is lower-case letters, digits, - or _ (at most 32)")
            self._personas[name] = self._persona(name, spec)
        self._default = self._known(data.get("default", "neutral"), "default")
        self._window = data.get("context_window", 3)
        if not isinstance(self._window, int) or isinstance(self._window, bool) or not 0 <= self._window <= 20:
            raise self._fail("context_window", f"must be a whole number of turns 0-20, got {self._window!r}")
        self._rules = tuple(self._rule(i, rule) for i, rule in enumerate(data.get("context_rules") or ()))
        self._unnatural = self._texts(data.get("unnatural") or [], "unnatural")

    def _known(self, name: Any, where: str) -> str:
        if not isinstance(name, str) or name.strip().lower() not in self._personas:
            raise self._fail(where, f"{name!r} is not a persona of this file (known: {', '.join(self._personas)})")
        return name.strip().lower()

    def _text(self, value: Any, where: str, *, empty: bool = False) -> str:
        if not isinstance(value, str) or (not empty and not value.strip()):
            raise self._fail(where, f"must be {'' if empty else 'non-empty '}text, got {value!r}")
        return " ".join(value.split())

    def _texts(self, value: Any, where: str, *, minimum: int = 0) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self._fail(where, f"must be a list of text, got {type(value).__name__}")
        texts = tuple(self._text(v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(texts) < minimum:
            raise self._fail(where, f"needs at least {minimum} entries, got {len(texts)}")
        return texts

    def _persona(self, name: str, spec: Any) -> Persona:
        where = f"personas.{name}"
        if not isinstance(spec, Mapping):
            raise self._fail(where, "must be a mapping of persona fields")
        unknown = sorted(set(map(str, spec)) - _FIELDS)
        if unknown:
            raise self._fail(f"{where}.{unknown[0]}", f"unknown field (known: {', '.join(sorted(_FIELDS))})")
        missing = [f for f in _REQUIRED if f not in spec]
        if missing:
            raise self._fail(f"{where}.{missing[0]}", "required field is missing")
        subs = spec.get("sub_vocabularies") or {}
        if not isinstance(subs, Mapping):
            raise self._fail(f"{where}.sub_vocabularies", "must be a mapping of name -> list of words")
        self._exemplars[name] = self._texts(spec.get("exemplars") or [], f"{where}.exemplars")
        return Persona(
            name=name,
            description=self._text(spec["description"], f"{where}.description"),
            parameter_set=self._parameter_set(spec["parameter_set"], f"{where}.parameter_set"),
            vocabulary=self._texts(spec["vocabulary"], f"{where}.vocabulary", minimum=1),
            sub_vocabularies={str(k): self._texts(v, f"{where}.sub_vocabularies.{k}", minimum=1) for k, v in subs.items()},
            style=self._text(spec["style"], f"{where}.style"),
            examples=self._examples(spec["examples"], f"{where}.examples"),
            prosody=self._prosody(spec.get("prosody") or {}, f"{where}.prosody"),
        )

    def _parameter_set(self, spec: Any, where: str) -> ParameterSet:
        if not isinstance(spec, Mapping):
            raise self._fail(where, "must be a mapping with kind and prompt")
        unknown = sorted(set(map(str, spec)) - {"kind", "prompt", "path"})
        if unknown:
            raise self._fail(f"{where}.{unknown[0]}", "unknown field (known: kind, path, prompt)")
        kind = spec.get("kind", "prompt")
        if kind not in KINDS:
            raise self._fail(f"{where}.kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")
        prompt = self._text(spec.get("prompt"), f"{where}.prompt")  # every kind keeps a prompt: backends without weights use it
        path = ""
        if kind != "prompt":
            raw = self._text(spec.get("path"), f"{where}.path")
            resolved = Path(raw).expanduser()
            resolved = resolved if resolved.is_absolute() else self.path.parent / resolved
            if not resolved.exists():
                raise self._fail(f"{where}.path", f"{kind} weights not found at {resolved}")
            path = str(resolved)
        elif spec.get("path"):
            raise self._fail(f"{where}.path", "only a soft_prompt or an adapter has a path")
        return ParameterSet(kind=kind, prompt=prompt, path=path)

    def _examples(self, value: Any, where: str) -> tuple[tuple[str, str], ...]:
        if not isinstance(value, list) or not value:
            raise self._fail(where, "must be a non-empty list of {plain, rewrite}")
        pairs = []
        for i, item in enumerate(value):
            here = f"{where}[{i}]"
            if not isinstance(item, Mapping) or set(item) != {"plain", "rewrite"}:
                raise self._fail(here, "must have exactly the fields plain and rewrite")
            plain, rewrite = self._text(item["plain"], f"{here}.plain"), self._text(item["rewrite"], f"{here}.rewrite")
            if not keeps_facts(plain, rewrite):
                raise self._fail(f"{here}.rewrite", f"drops a number, name or time of the plain reply {plain!r}")
            pairs.append((plain, rewrite))
        return tuple(pairs)

    def _prosody(self, spec: Any, where: str) -> Prosody:
        if not isinstance(spec, Mapping):
            raise self._fail(where, "must be a mapping (rate, pitch, pitch_range, pause_ms, sentence_pause_ms, voice)")
        for key, value in spec.items():
            kind = _PROSODY.get(str(key))
            if kind is None:
                raise self._fail(f"{where}.{key}", f"unknown field (known: {', '.join(_PROSODY)})")
            if not isinstance(value, kind) or isinstance(value, bool):
                raise self._fail(f"{where}.{key}", f"must be {'a whole number' if kind is int else 'text'}, got {value!r}")
        try:
            return Prosody(**spec)
        except ValueError as exc:
            raise self._fail(where, str(exc)) from None

    def _rule(self, i: int, spec: Any) -> ContextRule:
        where = f"context_rules[{i}]"
        if not isinstance(spec, Mapping) or set(spec) != {"persona", "cues"}:
            raise self._fail(where, "must have exactly the fields persona and cues")
        cues = self._texts(spec["cues"], f"{where}.cues", minimum=1)
        return ContextRule(self._known(spec["persona"], f"{where}.persona"), tuple(_words(c).strip() for c in cues))


# -- choosing who speaks ----------------------------------------------------------------------------------------
class How(str, Enum):
    """Why a persona speaks this turn."""

    REQUESTED = "requested"  # named for this turn (`--persona NAME`, Assistant.chat(persona=...))
    PINNED = "pinned"  # the user's profile pins it
    SCHEDULED = "scheduled"  # the user's schedule names it for this hour
    CONTEXT = "context"  # the conversation's cue words chose it
    DEFAULT = "default"  # nothing else decided


@dataclass(frozen=True)
class Choice:
    """The persona of a turn; `pinned` means it speaks every part of the reply (no mixing)."""

    persona: Persona
    pinned: bool
    how: How
    detail: str = ""  # e.g. "schedule 06-12", "cue 'beach'"
    notes: tuple[str, ...] = ()  # what could not be honoured (an unknown persona name…), for the user

    def __post_init__(self) -> None:
        assert self.pinned == (self.how in (How.REQUESTED, How.PINNED, How.SCHEDULED)), "only a user's own choice pins"

    @property
    def note(self) -> str:
        """The notes as one line (empty when everything was honoured)."""
        return " ".join(self.notes)


def schedule_slot(key: str) -> tuple[int, int]:
    """'06-12' or '22:30-06' -> (start, end) in minutes after midnight; end may be before start (wraps midnight)."""
    match = _SLOT.match(str(key))
    if not match:
        raise ValueError(f"a schedule slot is HH-HH or HH:MM-HH:MM in local time, got {key!r}")
    start_h, start_m, end_h, end_m = (int(g or 0) for g in match.groups())
    start, end = start_h * 60 + start_m, end_h * 60 + end_m
    if start_h > 23 or end_h > 24 or start_m > 59 or end_m > 59 or end > 24 * 60:
        raise ValueError(f"schedule slot {key!r} is not a time of day (00:00-24:00)")
    if start == end % (24 * 60) and not (start == 0 and end == 24 * 60):
        raise ValueError(f"schedule slot {key!r} starts and ends at the same time; use 00-24 for all day")
    return start, end


def in_slot(key: str, when: datetime) -> bool:
    """True when the local time `when` falls in the slot (start included, end excluded)."""
    start, end = schedule_slot(key)
    minute = when.hour * 60 + when.minute
    return start <= minute < end if start < end else minute >= start or minute < end


def _field(profile: Any, name: str) -> Any:
    if profile is None:
        return None
    return profile.get(name) if isinstance(profile, Mapping) else getattr(profile, name, None)


def choose_persona(registry: PersonaRegistry, *, wanted: str | None = AUTO, profile: Any = None, local_time: datetime,
                   session: Sequence[tuple[str, str]] = (), message: str = "", default: str | None = None) -> Choice:
    """Who speaks this turn: requested name, else the profile's pin, schedule, the conversation, else the default.

    `wanted` is "auto" (or empty) or a persona name; `profile` a memory.profile.Profile or its dict; `session` the
    (user, answer) turns so far; `default` overrides the file's default persona. Never raises for bad names or
    slots: they are skipped and explained in `notes`.
    """
    notes: list[str] = []

    def lookup(name: str, what: str) -> Persona | None:
        try:
            return registry.get(name)
        except UnknownPersona as exc:
            notes.append(f"{what}: {exc}.")
            return None

    wanted = (wanted or AUTO).strip()
    if wanted.lower() != AUTO:
        found = lookup(wanted, "Ignored the requested persona")
        if found is not None:
            return Choice(found, True, How.REQUESTED, f"asked for {found.name}")
    pin = str(_field(profile, "persona") or "").strip()
    if pin and pin.lower() != AUTO:
        found = lookup(pin, "Ignored the pinned persona")
        if found is not None:
            return Choice(found, True, How.PINNED, f"pinned {found.name}", tuple(notes))
    schedule = _field(profile, "persona_schedule") or {}
    for slot, name in (schedule.items() if isinstance(schedule, Mapping) else ()):
        try:
            hit = in_slot(slot, local_time)
        except ValueError as exc:
            notes.append(f"Ignored a schedule entry: {exc}.")
            continue
        if hit:
            found = lookup(str(name), f"Ignored schedule {slot}")
            if found is not None:
                return Choice(found, True, How.SCHEDULED, f"schedule {slot}", tuple(notes))
    rule, cue = context_persona(registry, message, session)
    if rule is not None:
        return Choice(registry.get(rule.persona), False, How.CONTEXT, cue, tuple(notes))
    fallback = registry.default
    if default:
        fallback = lookup(default, "Ignored the default persona") or fallback
    return Choice(fallback, False, How.DEFAULT, "", tuple(notes))


def context_persona(registry: PersonaRegistry, message: str, session: Sequence[tuple[str, str]] = ()) -> tuple[ContextRule | None, str]:
    """The context rule the conversation triggers and a note of why: the message first, then the latest earlier turns."""
    texts = [("message", message)]
    for user, answer in reversed(list(session)[-registry.context_window:] if registry.context_window else []):
        texts += [("an earlier message", user), ("an earlier reply", answer)]
    for where, text in texts:
        scored = [(rule.hits(text), -i, rule) for i, rule in enumerate(registry.context_rules)]
        best = max(scored, key=lambda s: s[:2], default=(0, 0, None))
        if best[0]:
            rule = best[2]
            cue = next(c for c in rule.cues if f" {c} " in _words(text))
            return rule, f"cue {cue!r} in {where}"
    return None, ""
