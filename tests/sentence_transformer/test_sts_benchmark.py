"""Known benchmark scores: STSb test Spearman of cosine similarity."""

from __future__ import annotations

from tests.support.retrieval import sts_spearman


def test_minilm_l6_sts_test_spearman(minilm_l6):
    """all-MiniLM-L6-v2 scores 0.82032 (MTEB results file)."""
    assert abs(sts_spearman(minilm_l6) - 0.82032) < 2e-4


def test_minilm_l3_sts_test_spearman(minilm_l3):
    """paraphrase-MiniLM-L3-v2 scores 0.8241 (the figure the training issue starts from)."""
    assert abs(sts_spearman(minilm_l3) - 0.8241) < 2e-4
