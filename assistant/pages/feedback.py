"""The feedback and learning loop (spec §8): every signal on every page component logged as a training signal.

Events go to one JSONL file (`<data_dir>/pages/feedback.jsonl`), one object per line, appended under a lock and
flushed, so a crash loses at most the line being written. `training_signals()` turns them into (page, component,
text, reward) rows for a reinforcement- or active-learning hook; reads for a user return that user's events only.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterator

from assistant.pages.models import FeedbackEvent

log = logging.getLogger(__name__)

# Reward per signal: approvals and clicks are positive, edits mildly negative (the text needed work), rejections negative;
# dwell is scaled by seconds (capped) in `reward`.
REWARDS = {"approve": 1.0, "click": 0.5, "edit": -0.25, "reject": -1.0, "dwell": 0.0}
DWELL_FULL_SECONDS = 30.0


def reward(event: FeedbackEvent) -> float:
    """The reward of one event (dwell: up to 0.5 for DWELL_FULL_SECONDS or more)."""
    if event.signal == "dwell":
        try:
            seconds = float(event.value or 0)
        except ValueError:
            seconds = 0.0
        return round(0.5 * min(1.0, max(0.0, seconds) / DWELL_FULL_SECONDS), 4)
    return REWARDS[event.signal]


class FeedbackLog:
    """Append-only JSONL of feedback events; safe across threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def record(self, event: FeedbackEvent, *, text: str = "") -> None:
        """Append one event, with the text of the component it was about (what a learner trains on)."""
        row = {**asdict(event), "reward": reward(event), "text": text}
        line = json.dumps(row, ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(line)
                out.flush()
                os.fsync(out.fileno())

    def _rows(self) -> Iterator[dict[str, Any]]:
        if not self.path.is_file():
            return
        with self._lock, self.path.open(encoding="utf-8") as source:
            lines = source.readlines()
        for number, line in enumerate(lines, 1):
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                log.warning("%s line %d is not JSON; skipped", self.path, number)
                continue
            if isinstance(row, dict):
                yield row

    def events(self, *, user_id: str | None = None, page_id: str | None = None) -> list[dict[str, Any]]:
        """Logged events, oldest first (only this user's, when a user is given)."""
        return [r for r in self._rows() if (user_id is None or r.get("user_id") == user_id)
                and (page_id is None or r.get("page_id") == page_id)]

    def training_signals(self, *, user_id: str | None = None) -> list[dict[str, Any]]:
        """(page_id, component_id, signal, actor, text, reward) rows for a learning hook."""
        keys = ("page_id", "org_id", "component_id", "signal", "actor", "text", "reward", "when")
        return [{k: r.get(k) for k in keys} for r in self.events(user_id=user_id)]

    def interactions(self, user_id: str) -> list[str]:
        """This user's earlier signals as short phrases, newest first ('clicked headline on northpeak')."""
        verbs = {"approve": "approved", "reject": "rejected", "edit": "edited", "click": "clicked", "dwell": "read"}
        rows = self.events(user_id=user_id)
        return [f"{verbs.get(r.get('signal'), r.get('signal'))} {r.get('component_id')} on {r.get('org_id')}" for r in reversed(rows)]
