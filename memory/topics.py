"""A row's optional topic, from keywords: enough to restrict a read to same-topic memories offline."""

from __future__ import annotations

import re

TOPICS: dict[str, tuple[str, ...]] = {
    "pets": ("dog", "dogs", "cat", "cats", "puppy", "kitten", "pet", "pets", "vet", "walk the dog", "parrot", "hamster"),
    "family": ("mother", "mom", "mum", "father", "dad", "sister", "brother", "son", "daughter", "wife", "husband",
               "grandma", "grandpa", "aunt", "uncle", "cousin", "nephew", "niece", "parents", "kids", "children", "baby"),
    "work": ("work", "job", "office", "boss", "colleague", "meeting", "salary", "career", "interview", "shift"),
    "travel": ("trip", "travel", "holiday", "vacation", "flight", "hotel", "visit", "abroad", "airport", "beach", "park"),
    "health": ("doctor", "allergic", "allergy", "medicine", "pills", "sick", "ill", "hospital", "dentist", "diet", "gym"),
    "food": ("food", "eat", "restaurant", "pizza", "cook", "cooking", "recipe", "vegetarian", "vegan", "dinner", "lunch"),
    "home": ("home", "house", "flat", "apartment", "live in", "moved to", "neighbour", "neighbor", "garden", "rent"),
    "hobbies": ("music", "band", "song", "book", "read", "film", "movie", "game", "football", "piano", "guitar", "hobby"),
}
_PATTERNS = {topic: re.compile(r"\b(" + "|".join(re.escape(w) for w in words) + r")\b", re.I) for topic, words in TOPICS.items()}


def topic_of(text: str) -> str:
    """The topic whose keywords appear most often in the text, or "" when none does."""
    counts = {topic: len(pattern.findall(text)) for topic, pattern in _PATTERNS.items()}
    best = max(counts, key=lambda t: counts[t])
    return best if counts[best] else ""
