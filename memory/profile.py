"""The user profile: what a user tells the assistant about themselves on purpose (name, home, interests, places).

Stored per user as one JSON document in SQLite. Personas read it for the user's name and usual places ("the beach
you usually visit"), product pages for name, location and interests. Only the user's own profile is ever read.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

MAX_FIELD_CHARS = 200
MAX_ITEMS = 20


def _text(value: Any, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text")
    cleaned = " ".join(value.split())
    if len(cleaned) > MAX_FIELD_CHARS:
        raise ValueError(f"{what} is too long (at most {MAX_FIELD_CHARS} characters)")
    return cleaned


def _texts(values: Any, what: str) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        values = [v for v in values.split(",")]
    if not isinstance(values, (list, tuple)):
        raise ValueError(f"{what} must be a list of text")
    cleaned = [t for t in (_text(v, what) for v in values) if t]
    if len(cleaned) > MAX_ITEMS:
        raise ValueError(f"{what}: at most {MAX_ITEMS} items")
    return list(dict.fromkeys(cleaned))


@dataclass(frozen=True)
class Profile:
    """One user's profile; every field is optional and empty by default."""

    user_id: str
    name: str = ""  # what to call the user
    location: str = ""  # home town or area, e.g. "Pacifica, California"
    interests: tuple[str, ...] = ()  # e.g. ("surfing", "3D modeling")
    places: dict[str, str] = field(default_factory=dict)  # usual places by kind: {"beach": "Half Moon Bay"}
    preferences: dict[str, tuple[str, ...]] = field(default_factory=dict)  # {"cuisines": ("Mediterranean", "Indian")}
    persona: str = ""  # pinned persona; empty: chosen by schedule or context
    persona_schedule: dict[str, str] = field(default_factory=dict)  # {"06-12": "butler", "12-18": "surfer"} local hours

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", _text(self.name, "name"))
        object.__setattr__(self, "location", _text(self.location, "location"))
        object.__setattr__(self, "persona", _text(self.persona, "persona"))
        object.__setattr__(self, "interests", tuple(_texts(self.interests, "interests")))
        for attr in ("places", "persona_schedule"):
            value = getattr(self, attr) or {}
            if not isinstance(value, dict) or len(value) > MAX_ITEMS:
                raise ValueError(f"{attr} must be a mapping of at most {MAX_ITEMS} entries")
            object.__setattr__(self, attr, {_text(k, attr): _text(v, attr) for k, v in value.items() if _text(k, attr)})
        prefs = self.preferences or {}
        if not isinstance(prefs, dict) or len(prefs) > MAX_ITEMS:
            raise ValueError(f"preferences must be a mapping of at most {MAX_ITEMS} entries")
        object.__setattr__(self, "preferences", {_text(k, "preferences"): tuple(_texts(v, "preferences"))
                                                 for k, v in prefs.items() if _text(k, "preferences")})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (lists for tuples)."""
        data = asdict(self)
        data["interests"] = list(self.interests)
        data["preferences"] = {k: list(v) for k, v in self.preferences.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Profile":
        """A profile from JSON; unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class Profiles:
    """Profiles of every user in one SQLite file; each read and write touches one user's row only."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("CREATE TABLE IF NOT EXISTS profiles (user_id TEXT PRIMARY KEY, data TEXT NOT NULL)")

    def _connect(self) -> closing[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        conn.execute("PRAGMA synchronous=NORMAL")
        return closing(conn)

    def get(self, user_id: str) -> Profile:
        """The user's profile, or an empty one."""
        with self._connect() as conn:
            row = conn.execute("SELECT data FROM profiles WHERE user_id = ?", (user_id,)).fetchone()
        if row is None:
            return Profile(user_id)
        return Profile.from_dict({**json.loads(row[0]), "user_id": user_id})

    def save(self, profile: Profile) -> Profile:
        """Store the whole profile (replacing the old one)."""
        with self._connect() as conn:
            conn.execute("INSERT INTO profiles (user_id, data) VALUES (?, ?) ON CONFLICT(user_id) DO UPDATE SET data = excluded.data",
                         (profile.user_id, json.dumps(profile.to_dict(), ensure_ascii=False)))
        return profile

    def update(self, user_id: str, /, **changes: Any) -> Profile:
        """Change some fields of the user's profile and store it; raises ValueError for bad values or unknown fields."""
        unknown = set(changes) - {f.name for f in fields(Profile)} - {"user_id"}
        if unknown or "user_id" in changes:
            raise ValueError(f"unknown profile fields: {', '.join(sorted(unknown | ({'user_id'} & set(changes))))}")
        return self.save(replace(self.get(user_id), **changes))

    def delete(self, user_id: str) -> None:
        """Forget the user's profile."""
        with self._connect() as conn:
            conn.execute("DELETE FROM profiles WHERE user_id = ?", (user_id,))
