"""Personas: rewrite plain replies in character, rank them, add proactive follow-ups, precompute rewrites, speak them."""
