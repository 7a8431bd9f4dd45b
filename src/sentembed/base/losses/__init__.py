"""The sentence-transformers 6 `base.losses` import paths, as re-exports."""
