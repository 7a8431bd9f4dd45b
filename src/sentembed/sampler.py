"""Batch samplers, importable as in sentence-transformers (`from sentembed.sampler import NoDuplicatesBatchSampler`)."""

from sentembed.training.samplers import *  # noqa: F403
from sentembed.training.samplers import __all__  # noqa: F401
