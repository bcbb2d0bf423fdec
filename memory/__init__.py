"""Per-user long-term memory and the embeddings and Chroma clients it stands on."""
