"""Bi-encoder losses at their sentence-transformers 6 path (`sentembed.sentence_transformer.losses`).

A compatibility facade for `sentence_transformers.sentence_transformer.losses`: it only re-exports names whose
canonical home is `sentembed.training.losses`.
"""

from sentembed.training.losses import *  # noqa: F403
from sentembed.training.losses import __all__  # noqa: F401
