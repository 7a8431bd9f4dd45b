"""Cross-encoder losses, importable as in sentence-transformers (`from sentembed.cross_encoder.losses import ...`).

A compatibility facade for `sentence_transformers.cross_encoder.losses`: it only re-exports names whose canonical
home is `sentembed.training.cross_encoder.losses`.
"""

from sentembed.training.cross_encoder.losses import *  # noqa: F403
from sentembed.training.cross_encoder.losses import __all__  # noqa: F401
