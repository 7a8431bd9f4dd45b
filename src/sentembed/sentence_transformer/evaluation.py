"""Bi-encoder evaluators at their sentence-transformers 6 path (`sentembed.sentence_transformer.evaluation`).

A compatibility facade for `sentence_transformers.sentence_transformer.evaluation`: it only re-exports names whose
canonical home is `sentembed.training.evaluation`.
"""

from sentembed.training.evaluation import *  # noqa: F403
from sentembed.training.evaluation import __all__  # noqa: F401
