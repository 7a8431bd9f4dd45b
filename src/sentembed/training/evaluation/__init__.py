"""Evaluators: run a model over a labelled set and return `{name}_{metric}` scores."""

from sentembed.training.evaluation._base import SentenceEvaluator
from sentembed.training.evaluation._binary_classification import BinaryClassificationEvaluator
from sentembed.training.evaluation._embedding_similarity import EmbeddingSimilarityEvaluator
from sentembed.training.evaluation._information_retrieval import InformationRetrievalEvaluator
from sentembed.training.evaluation._label_accuracy import LabelAccuracyEvaluator
from sentembed.training.evaluation._mse import MSEEvaluator
from sentembed.training.evaluation._mse_from_dataframe import MSEEvaluatorFromDataFrame
from sentembed.training.evaluation._nano_beir import NanoBEIREvaluator
from sentembed.training.evaluation._paraphrase_mining import ParaphraseMiningEvaluator
from sentembed.training.evaluation._reranking import RerankingEvaluator
from sentembed.training.evaluation._sequential import SequentialEvaluator
from sentembed.training.evaluation._translation import TranslationEvaluator
from sentembed.training.evaluation._triplet import TripletEvaluator

__all__ = [
    "BinaryClassificationEvaluator",
    "EmbeddingSimilarityEvaluator",
    "InformationRetrievalEvaluator",
    "LabelAccuracyEvaluator",
    "MSEEvaluator",
    "MSEEvaluatorFromDataFrame",
    "NanoBEIREvaluator",
    "ParaphraseMiningEvaluator",
    "RerankingEvaluator",
    "SentenceEvaluator",
    "SequentialEvaluator",
    "TranslationEvaluator",
    "TripletEvaluator",
]
