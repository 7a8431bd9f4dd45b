"""Cross-encoder evaluators, importable as in sentence-transformers (`from sentembed.cross_encoder.evaluation import
CrossEncoderRerankingEvaluator`), with the deprecated `CE*` names."""

from sentembed.training.cross_encoder.evaluation import *  # noqa: F403
from sentembed.training.cross_encoder.evaluation import __all__  # noqa: F401
