"""Training losses, importable as in sentence-transformers (`from sentembed.losses import CoSENTLoss`)."""

from sentembed.training.losses import *  # noqa: F403
from sentembed.training.losses import __all__  # noqa: F401
