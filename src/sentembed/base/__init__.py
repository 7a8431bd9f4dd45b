"""The sentence-transformers 6 `base` import paths (what both model kinds share), as re-exports."""
