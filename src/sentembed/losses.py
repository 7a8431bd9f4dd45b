"""Training losses, importable as in sentence-transformers (`from sentembed.losses import CoSENTLoss`).

A compatibility facade for `sentence_transformers.losses`: it only re-exports names whose canonical home is
`sentembed.training.losses`.
"""

from sentembed.training.losses import *  # noqa: F403
from sentembed.training.losses import __all__  # noqa: F401
