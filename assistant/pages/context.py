"""The context provider (spec §6 step 2): what an AI page may know about the requesting user, read from that user only.

Previous queries come from the user's own activity log (kinds `history_kinds`, within `history_window_days`, at most
`max_previous_queries`, newest first, duplicates and the current query left out). With `previous_relevance: related`
only queries about the merchant's categories (or naming its brands, or sharing a use with the current query) count;
with `any`, every query does. Name, location, interests and preferences come from the user's profile; earlier feedback
signals from the user's own feedback events.

When no previous query is left, the `no_previous_query` setting decides: `query_only` (default) generates from the
current query alone and marks the context `fallback="query_only"`; `error` raises NoPreviousQuery. A user whose profile
has the preference `personalization: off` gets no history and no profile data (`fallback="opted_out"`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Callable, Sequence

from assistant.pages.catalog import Catalog
from assistant.pages.models import Context, NoPreviousQuery, Organization
from assistant.pages.search import parse_query
from assistant.pages.settings import PageSettings
from memory.activity import ActivityLog
from memory.profile import Profiles

OPT_OUT_VALUES = {"off", "no", "false", "none"}


def normalised(text: str) -> str:
    """A query compared case- and space-insensitively."""
    return " ".join(text.lower().split()).strip(" ?!.")


class ContextProvider:
    """Reads one user's context for one merchant and query; never reads another user's rows."""

    def __init__(self, profiles: Profiles, activity: ActivityLog, catalog: Catalog, settings: PageSettings | None = None, *,
                 clock: Callable[[], datetime], interactions: Callable[[str], Sequence[str]] | None = None) -> None:
        self.profiles = profiles
        self.activity = activity
        self.catalog = catalog
        self.settings = settings or PageSettings()
        self.clock = clock
        self.interactions = interactions  # user_id -> that user's earlier feedback signals, newest first

    def related(self, previous: str, query: str, org: Organization | None) -> bool:
        """True when an earlier query is about what this page is about (the merchant's categories, brands or the query's uses)."""
        earlier = parse_query(previous, self.catalog)
        now = parse_query(query, self.catalog)
        categories = set(org.categories) if org else {now.category} - {""}
        if earlier.category and earlier.category in categories:
            return True
        if org and (set(earlier.brands) & {p.brand for p in org.product_feed} or org.id in earlier.merchants):
            return True
        return bool(set(earlier.uses) & set(now.uses)) or (not categories and bool(earlier.category))

    def context_for(self, user_id: str, query: str, *, org: Organization | None = None, before: datetime | None = None,
                    exclude: Sequence[str] = ()) -> Context:
        """The context of `user_id` for a page about `org` and `query`; queries at or after `before` are not 'previous'."""
        s = self.settings
        profile = self.profiles.get(user_id)
        opted_out = any(v.lower() in OPT_OUT_VALUES for v in profile.preferences.get("personalization", ()))
        if opted_out:
            return Context(user_id=user_id, previous_queries=(), search_context=query, fallback="opted_out")
        now = self.clock()
        before = before or now
        skip = {normalised(query), *(normalised(e) for e in exclude)}
        found: list[tuple[str, str]] = []
        seen: set[str] = set()
        rows = []
        for kind in s.history_kinds:
            rows += self.activity.queries(user_id, kind=kind, since=now - timedelta(days=s.history_window_days), limit=200)
        for row in sorted(rows, key=lambda r: (r.when, r.id), reverse=True):
            key = normalised(row.query)
            if row.user_id != user_id or row.when > before or key in skip or key in seen:
                continue
            seen.add(key)
            if s.previous_relevance == "related" and not self.related(row.query, query, org):
                continue
            found.append((row.query, row.when.isoformat()))
            if len(found) >= s.max_previous_queries:
                break
        fallback = ""
        if not found:
            if s.no_previous_query == "error":
                raise NoPreviousQuery(f"{user_id} has no earlier search about this yet (no_previous_query=error); "
                                      "search for something first, or set no_previous_query=query_only")
            fallback = "query_only"
        interactions = tuple(self.interactions(user_id))[:10] if self.interactions else ()
        return Context(user_id=user_id, previous_queries=tuple(q for q, _ in found), user_name=profile.name, location=profile.location,
                       interests=profile.interests, preferences=dict(profile.preferences), search_context=query,
                       interactions=interactions, fallback=fallback, previous_when=tuple(w for _, w in found))
