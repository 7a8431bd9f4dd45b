"""`sentembed search --rerank MODEL`: the store's candidates, re-ranked by a cross-encoder."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sentembed.cli.main import main
from tests.support.paths import CROSS_ENCODER, MINILM_L3


@pytest.fixture(scope="module")
def question_and_store(tmp_path_factory, wikiqa_rows):
    """A store of the candidate sentences of the first five WikiQA test questions."""
    folder = tmp_path_factory.mktemp("cli")
    questions = list(dict.fromkeys(question for question, _, _ in wikiqa_rows))[:5]
    sentences = [sentence for question, sentence, _ in wikiqa_rows if question in questions]
    (folder / "corpus.txt").write_text("\n".join(sentences) + "\n", encoding="utf-8")
    store = folder / "store"
    arguments = ["index", str(folder / "corpus.txt"), "--store", str(store), "--model", str(MINILM_L3), "--no-progress"]
    assert main(arguments) == 0
    return questions[0], store


def test_search_with_rerank_orders_by_cross_encoder_score(question_and_store, cross_encoder, capsys):
    question, store = question_and_store
    capsys.readouterr()
    command = ["search", "--store", str(store), question, "-k", "4", "--rerank", str(CROSS_ENCODER), "--json"]
    assert main([*command, "--rerank-top-n", "8", "--device", "cpu"]) == 0
    hits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(hits) == 4
    assert all(0 <= hit["retrieval_rank"] < 8 for hit in hits)
    expected = cross_encoder.predict([(question, hit["text"]) for hit in hits])
    np.testing.assert_allclose([hit["score"] for hit in hits], expected, atol=1e-5)
    assert [hit["score"] for hit in hits] == sorted((hit["score"] for hit in hits), reverse=True)


def test_search_with_rerank_prints_both_scores(question_and_store, capsys):
    question, store = question_and_store
    capsys.readouterr()
    assert main(["search", "--store", str(store), question, "-k", "2", "--rerank", str(CROSS_ENCODER)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all("(retrieval " in line for line in lines)


def test_rerank_top_n_below_k_is_an_error(question_and_store, capsys):
    question, store = question_and_store
    command = ["search", "--store", str(store), question, "-k", "5", "--rerank", str(CROSS_ENCODER)]
    assert main([*command, "--rerank-top-n", "2"]) == 2
    assert "--rerank-top-n (2) must be at least -k (5)" in capsys.readouterr().err
