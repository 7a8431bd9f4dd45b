"""Cross-encoder losses, importable as in sentence-transformers (`from sentembed.cross_encoder.losses import ...`)."""

from sentembed.training.cross_encoder.losses import *  # noqa: F403
from sentembed.training.cross_encoder.losses import __all__  # noqa: F401
