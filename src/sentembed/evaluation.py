"""Evaluators, importable as in sentence-transformers (`from sentembed.evaluation import ...`).

A compatibility facade for `sentence_transformers.evaluation`: it only re-exports names whose canonical home is
`sentembed.training.evaluation`.
"""

from sentembed.training.evaluation import *  # noqa: F403
from sentembed.training.evaluation import __all__  # noqa: F401
