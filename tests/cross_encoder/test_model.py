"""CrossEncoder's sentence-transformers 6 arguments: prompts, inputs=, processor_kwargs, classifier_dropout, device."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest
import torch

from sentembed import CrossEncoder
from tests.support.paths import CROSS_ENCODER

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from sentence_transformers import CrossEncoder as Reference

PAIRS = [
    ("what is a cat", "a cat is a small domesticated animal"),
    ("what is a cat", "paris is the capital of france"),
    ("who wrote hamlet", "hamlet is a tragedy by william shakespeare"),
]
PROMPTS = {"web": "query: ", "qa": "question: "}
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def prompted() -> tuple[CrossEncoder, Reference]:
    ours = CrossEncoder(str(CROSS_ENCODER), device="cpu", prompts=PROMPTS)
    return ours, Reference(str(CROSS_ENCODER), device="cpu", prompts=PROMPTS)


@pytest.mark.parametrize("choice", [{}, {"prompt_name": "web"}, {"prompt_name": "qa"}, {"prompt": "find: "}])
def test_prompts_score_as_in_the_reference(prompted, choice):
    ours, theirs = prompted
    np.testing.assert_allclose(ours.predict(PAIRS, **choice), theirs.predict(PAIRS, **choice), atol=TOLERANCE)
    ranked = ours.rank(PAIRS[0][0], [second for _, second in PAIRS], **choice)
    expected = theirs.rank(PAIRS[0][0], [second for _, second in PAIRS], **choice)
    assert [hit["corpus_id"] for hit in ranked] == [hit["corpus_id"] for hit in expected]
    np.testing.assert_allclose([hit["score"] for hit in ranked], [hit["score"] for hit in expected], atol=TOLERANCE)


def test_a_prompt_goes_before_the_first_text(prompted):
    ours, _ = prompted
    by_hand = ours.predict([("query: " + first, second) for first, second in PAIRS])
    np.testing.assert_allclose(ours.predict(PAIRS, prompt_name="web"), by_hand, atol=1e-6)
    assert not np.allclose(ours.predict(PAIRS), by_hand, atol=1e-4), "the prompt must change the scores"


def test_prompts_and_the_default_round_trip_both_ways(tmp_path):
    ours = CrossEncoder(str(CROSS_ENCODER), device="cpu", prompts=PROMPTS, default_prompt_name="web")
    ours.save(str(tmp_path / "ours"))
    theirs = Reference(str(tmp_path / "ours"), device="cpu")
    assert theirs.prompts == PROMPTS and theirs.default_prompt_name == "web"
    np.testing.assert_allclose(theirs.predict(PAIRS), ours.predict(PAIRS), atol=TOLERANCE)
    theirs.save(str(tmp_path / "theirs"))
    again = CrossEncoder(str(tmp_path / "theirs"), device="cpu")
    assert again.prompts == PROMPTS and again.default_prompt_name == "web"
    np.testing.assert_allclose(again.predict(PAIRS), ours.predict(PAIRS), atol=TOLERANCE)


def test_inputs_by_its_v6_name_and_its_old_name():
    model = CrossEncoder(str(CROSS_ENCODER), device="cpu")
    expected = model.predict(PAIRS)
    np.testing.assert_array_equal(model.predict(inputs=PAIRS), expected)
    np.testing.assert_array_equal(model.predict(sentences=PAIRS), expected)
    with pytest.raises(TypeError, match="both"):
        model.predict(PAIRS, sentences=PAIRS)
    with pytest.raises(TypeError, match="unexpected"):
        model.predict(PAIRS, normalize=True)


def test_bad_prompt_arguments_are_named():
    with pytest.raises(ValueError, match="Default prompt name 'nope' not found"):
        CrossEncoder(str(CROSS_ENCODER), prompts=PROMPTS, default_prompt_name="nope")
    with pytest.raises(TypeError, match="prompts"):
        CrossEncoder(str(CROSS_ENCODER), prompts=["query: "])
    model = CrossEncoder(str(CROSS_ENCODER), prompts=PROMPTS)
    with pytest.raises(ValueError, match="Prompt name 'nope' not found in the configured prompts"):
        model.predict(PAIRS, prompt_name="nope")


def test_processor_kwargs_classifier_dropout_and_device():
    model = CrossEncoder(
        str(CROSS_ENCODER), processor_kwargs={"model_max_length": 64}, classifier_dropout=0.3, device="cpu"
    )
    assert model.config.classifier_dropout == 0.3
    assert model.tokenizer.model_max_length == 64
    np.testing.assert_allclose(model.predict(PAIRS, device="cpu"), model.predict(PAIRS), atol=1e-6)
    with pytest.raises(TypeError, match="got both 'processor_kwargs' and its deprecated name 'tokenizer_kwargs'"):
        CrossEncoder(str(CROSS_ENCODER), processor_kwargs={}, tokenizer_kwargs={})
    with pytest.raises(ValueError, match="one device"):
        model.predict(PAIRS, device=["cpu", "cpu"])


def test_training_prompts_go_before_the_query_as_predict_puts_them():
    from sentembed.training.cross_encoder.trainer import TextCollator

    rows = [{"query": "cat", "answer": "an animal", "label": 1.0}, {"query": "dog", "answer": "a city", "label": 0.0}]
    batch = TextCollator(prompts="query: ")(rows)
    assert batch["texts"] == [["query: cat", "query: dog"], ["an animal", "a city"]]
    per_column = TextCollator(prompts={"answer": "passage: "})(rows)
    assert per_column["texts"] == [["cat", "dog"], ["passage: an animal", "passage: a city"]]
    listwise = TextCollator(prompts={"docs": "d: "})([{"query": "q", "docs": ["a", "b"], "label": [1, 0]}])
    assert listwise["texts"] == [["q"], [["d: a", "d: b"]]]


# ----- the older argument names ----------------------------------------------------------------------


def test_old_constructor_names_load_the_same_model_with_warnings(caplog):
    reference = CrossEncoder(str(CROSS_ENCODER), device="cpu", processor_kwargs={"model_max_length": 32})
    with caplog.at_level(logging.WARNING, logger="sentembed"):
        old = CrossEncoder(
            model_name=str(CROSS_ENCODER),
            tokenizer_args={"model_max_length": 32},
            config_args={"classifier_dropout": 0.2},
            default_activation_function="torch.nn.modules.linear.Identity",
            device="cpu",
        )
    for name in ("model_name", "tokenizer_args", "config_args", "default_activation_function"):
        assert f"`{name}` argument was renamed and is now deprecated" in caplog.text
    assert old.tokenizer.model_max_length == 32 and old.config.classifier_dropout == 0.2
    assert isinstance(old.activation_fn, torch.nn.Identity)
    np.testing.assert_allclose(
        old.predict(PAIRS), reference.predict(PAIRS, activation_fn=torch.nn.Identity()), atol=1e-5
    )
    with pytest.warns(DeprecationWarning, match="default_activation_function"):
        assert old.default_activation_function is old.activation_fn


def test_classifier_dropout_and_positional_arguments_still_work(caplog):
    with caplog.at_level(logging.WARNING, logger="sentembed"):
        model = CrossEncoder(str(CROSS_ENCODER), 1, 64, classifier_dropout=0.25, device="cpu")
    assert "`classifier_dropout` argument is deprecated" in caplog.text
    assert "Passing `max_length` positionally" in caplog.text
    assert model.config.classifier_dropout == 0.25 and model.max_length == 64 and model.num_labels == 1
    with pytest.raises(TypeError, match="'max_length' both positionally and by keyword"):
        CrossEncoder(str(CROSS_ENCODER), 1, 64, max_length=32)


def test_old_predict_and_rank_names(caplog):
    model = CrossEncoder(str(CROSS_ENCODER), device="cpu")
    expected = model.predict(PAIRS, activation_fn=torch.nn.Identity())
    with caplog.at_level(logging.WARNING, logger="sentembed"):
        got = model.predict(sentences=PAIRS, activation_fct=torch.nn.Identity(), num_workers=4)
        hits = model.rank(PAIRS[0][0], [PAIRS[0][1], PAIRS[1][1]], apply_softmax=True, num_workers=2)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert [hit["corpus_id"] for hit in hits] == [
        hit["corpus_id"] for hit in model.rank(PAIRS[0][0], [PAIRS[0][1], PAIRS[1][1]])
    ]
    assert "`activation_fct` argument was renamed" in caplog.text
    assert "CrossEncoder.predict `num_workers` argument is deprecated and has no effect" in caplog.text
    assert "CrossEncoder.rank `apply_softmax` argument is deprecated and has no effect" in caplog.text
    with pytest.raises(TypeError, match="got both 'activation_fn' and its deprecated name 'activation_fct'"):
        model.predict(PAIRS, activation_fn=torch.nn.Identity(), activation_fct=torch.nn.Identity())


def test_predict_reads_a_datasets_column():
    from datasets import Dataset

    model = CrossEncoder(str(CROSS_ENCODER), device="cpu")
    column = Dataset.from_dict({"pair": [list(pair) for pair in PAIRS]})["pair"]
    np.testing.assert_allclose(model.predict(column), model.predict(PAIRS), atol=1e-6)


def test_per_call_processing_kwargs_cut_the_pairs_for_that_call_only(prompted):
    ours, theirs = prompted
    options = {"text": {"max_length": 8, "truncation": True}}
    short = ours.predict(PAIRS, processing_kwargs=options)
    np.testing.assert_allclose(short, theirs.predict(PAIRS, processing_kwargs=options), atol=TOLERANCE)
    np.testing.assert_allclose(short, CrossEncoder(str(CROSS_ENCODER), max_length=8).predict(PAIRS), atol=TOLERANCE)
    assert not np.allclose(short, ours.predict(PAIRS), atol=1e-3)
    assert ours.preprocess(PAIRS, processing_kwargs=options)["input_ids"].shape[1] == 8
    assert ours.max_length == theirs.max_length
    with pytest.raises(ValueError, match="processing_kwargs key"):
        ours.predict(PAIRS, processing_kwargs={"txt": {"max_length": 8}})


PAIR_CASES = [
    ["q", "d"],
    ("q", "d"),
    [["q", "d"]],
    [("q", "d"), ("q", "e")],
    [],
    np.array(["q", "d"]),
    np.array([["q", "d"]]),
    np.array([], dtype=str),
    "q",
]


@pytest.fixture(scope="module")
def cross_encoders() -> tuple[CrossEncoder, Reference]:
    return CrossEncoder(str(CROSS_ENCODER), device="cpu"), Reference(str(CROSS_ENCODER), device="cpu")


@pytest.mark.parametrize("inputs", PAIR_CASES, ids=repr)
def test_cross_encoder_is_singular_input_matches_the_reference(cross_encoders, inputs):
    ours, reference = cross_encoders
    assert ours.is_singular_input(inputs) == reference.is_singular_input(inputs)
