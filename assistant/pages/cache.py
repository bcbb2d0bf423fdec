"""Page reuse (spec §8): generated pages kept per user for `page_cache_ttl_hours`, and reused for later searches.

A page is found again only by the user it was made for, for the same merchant, query, previous queries, catalog and
settings; another user never gets it. With `cross_org_reuse`, a user's validated texts that name no merchant (history
cluster labels) are reused on other merchants' pages for the same query; off by default.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Hashable

from assistant.pages.models import AIPage


@dataclass(frozen=True)
class PageKey:
    """What makes two page requests the same page."""

    user_id: str
    org_id: str
    query: str  # normalised
    previous: tuple[str, ...]  # the context's previous queries
    catalog: str  # digest
    settings: str  # fingerprint of the settings that shape a page


class PageCache:
    """A bounded, thread-safe LRU of pages with a time to live; lookups by key or by (user, page id)."""

    def __init__(self, *, ttl_hours: float, max_pages: int, clock: Callable[[], datetime]) -> None:
        self.ttl = timedelta(hours=ttl_hours)
        self.max_pages = max_pages
        self.clock = clock
        self._pages: OrderedDict[PageKey, tuple[datetime, AIPage]] = OrderedDict()
        self._texts: OrderedDict[Hashable, tuple[datetime, str]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def _fresh(self, stored: datetime) -> bool:
        return self.ttl.total_seconds() > 0 and self.clock() - stored < self.ttl

    def get(self, key: PageKey) -> AIPage | None:
        """The cached page for this key, if it is still fresh."""
        with self._lock:
            found = self._pages.get(key)
            if found is None or not self._fresh(found[0]):
                self._pages.pop(key, None)
                self.misses += 1
                return None
            self._pages.move_to_end(key)
            self.hits += 1
            return found[1]

    def put(self, key: PageKey, page: AIPage) -> None:
        """Keep a page (the least recently used goes when full)."""
        with self._lock:
            self._pages[key] = (self.clock(), page)
            self._pages.move_to_end(key)
            while len(self._pages) > self.max_pages:
                self._pages.popitem(last=False)

    def by_id(self, user_id: str, page_id: str) -> AIPage | None:
        """One of this user's cached pages by its id (None for another user's page)."""
        with self._lock:
            for key, (stored, page) in reversed(self._pages.items()):
                if page.page_id == page_id and key.user_id == user_id and page.user_id == user_id and self._fresh(stored):
                    return page
        return None

    def replace(self, old: AIPage, new: AIPage) -> bool:
        """Put an updated page where the old one is kept (same key, same age); False when the old one is gone."""
        with self._lock:
            for key, (stored, page) in self._pages.items():
                if page is old:
                    self._pages[key] = (stored, new)
                    return True
        return False

    def forget_user(self, user_id: str) -> int:
        """Drop every page and text of one user; returns how many pages."""
        with self._lock:
            keys = [k for k in self._pages if k.user_id == user_id]
            for key in keys:
                del self._pages[key]
            for key in [k for k in self._texts if isinstance(k, tuple) and k and k[0] == user_id]:
                del self._texts[key]
            return len(keys)

    # -- merchant-neutral texts (cross_org_reuse) --------------------------------------------------------------
    def text(self, key: tuple) -> str | None:
        """A reusable text (key starts with the user id)."""
        with self._lock:
            found = self._texts.get(key)
            if found is None or not self._fresh(found[0]):
                return None
            return found[1]

    def put_text(self, key: tuple, text: str) -> None:
        """Keep a reusable text."""
        with self._lock:
            self._texts[key] = (self.clock(), text)
            while len(self._texts) > self.max_pages * 8:
                self._texts.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._pages)
