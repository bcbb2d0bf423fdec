"""Personalized product pages: the catalog, the `shop` search, landing-page scores, and AI pages gated by them."""
