"""The sentence-transformers 6 import paths: each names the same objects as our flat paths."""

from __future__ import annotations

import importlib

import pytest

pytest.importorskip("datasets")

PATHS = {
    "sentembed.sentence_transformer.losses": (
        "sentembed.losses",
        ["MultipleNegativesRankingLoss", "AdaptiveLayerLoss"],
    ),
    "sentembed.sentence_transformer.evaluation": ("sentembed.evaluation", ["EmbeddingSimilarityEvaluator"]),
    "sentembed.sentence_transformer.modules": ("sentembed.models", ["Pooling", "Router", "StaticEmbedding"]),
    "sentembed.sentence_transformer.trainer": ("sentembed", ["SentenceTransformerTrainer"]),
    "sentembed.sentence_transformer.training_args": ("sentembed", ["SentenceTransformerTrainingArguments"]),
    "sentembed.cross_encoder.trainer": ("sentembed", ["CrossEncoderTrainer"]),
    "sentembed.cross_encoder.training_args": ("sentembed", ["CrossEncoderTrainingArguments"]),
}


@pytest.mark.parametrize("path", sorted(PATHS))
def test_v6_paths_name_the_same_objects(path):
    flat, names = PATHS[path]
    module, flat_module = importlib.import_module(path), importlib.import_module(flat)
    for name in names:
        assert getattr(module, name) is getattr(flat_module, name)
