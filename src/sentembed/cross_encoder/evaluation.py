"""Cross-encoder evaluators, importable as in sentence-transformers (`from sentembed.cross_encoder.evaluation import
CrossEncoderRerankingEvaluator`), with the deprecated `CE*` names.

A compatibility facade for `sentence_transformers.cross_encoder.evaluation`: it only re-exports names whose
canonical home is `sentembed.training.cross_encoder.evaluation`.
"""

from sentembed.training.cross_encoder.evaluation import *  # noqa: F403
from sentembed.training.cross_encoder.evaluation import __all__  # noqa: F401
