"""Batch samplers, importable as in sentence-transformers (`from sentembed.sampler import NoDuplicatesBatchSampler`).

A compatibility facade for `sentence_transformers.sampler`: it only re-exports names whose canonical home is
`sentembed.training.samplers`.
"""

from sentembed.training.samplers import *  # noqa: F403
from sentembed.training.samplers import __all__  # noqa: F401
