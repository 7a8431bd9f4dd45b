"""Pipeline modules at their sentence-transformers 6 path (`sentembed.sentence_transformer.modules`)."""

from sentembed.models import *  # noqa: F403
from sentembed.models import __all__  # noqa: F401
