"""Evaluators, importable as in sentence-transformers (`from sentembed.evaluation import ...`)."""

from sentembed.training.evaluation import *  # noqa: F403
from sentembed.training.evaluation import __all__  # noqa: F401
