"""Evaluators: run a model over a labelled set and return `{name}_{metric}` scores."""

from sentembed.training.evaluation.base import SentenceEvaluator
from sentembed.training.evaluation.binary_classification import BinaryClassificationEvaluator
from sentembed.training.evaluation.embedding_similarity import EmbeddingSimilarityEvaluator
from sentembed.training.evaluation.information_retrieval import InformationRetrievalEvaluator
from sentembed.training.evaluation.label_accuracy import LabelAccuracyEvaluator
from sentembed.training.evaluation.mse import MSEEvaluator
from sentembed.training.evaluation.mse_from_dataframe import MSEEvaluatorFromDataFrame
from sentembed.training.evaluation.nano_beir import NanoBEIREvaluator
from sentembed.training.evaluation.paraphrase_mining import ParaphraseMiningEvaluator
from sentembed.training.evaluation.reranking import RerankingEvaluator
from sentembed.training.evaluation.sequential import SequentialEvaluator
from sentembed.training.evaluation.translation import TranslationEvaluator
from sentembed.training.evaluation.triplet import TripletEvaluator

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
