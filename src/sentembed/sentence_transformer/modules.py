"""Pipeline modules at their sentence-transformers 6 path (`sentembed.sentence_transformer.modules`).

A compatibility facade for `sentence_transformers.sentence_transformer.modules`: it only re-exports names whose
canonical home is `sentembed.models`.
"""

from sentembed.models import *  # noqa: F403
from sentembed.models import __all__  # noqa: F401
