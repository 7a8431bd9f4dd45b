"""The sentence-transformers 5/6 API on SentenceTransformer and CrossEncoder, checked against the reference."""

from __future__ import annotations

import json
import logging
import re
import warnings

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer as Reference

from sentembed import CrossEncoder, SentenceTransformer
from sentembed.common import checks
from sentembed.sentence_transformer import _encoding as encoding
from tests.support.paths import CROSS_ENCODER, MINILM_L3

TEXTS = ["A man is eating food.", "A man is riding a horse.", "A woman is playing violin."]


@pytest.fixture()
def model(minilm_l3) -> SentenceTransformer:
    """The shared model, with its prompts and similarity function put back afterwards."""
    state = (dict(minilm_l3.prompts), minilm_l3.default_prompt_name)
    yield minilm_l3
    minilm_l3.prompts, minilm_l3.default_prompt_name = state
    minilm_l3.similarity_fn_name = None


@pytest.fixture()
def fresh_rename_warnings(monkeypatch):
    """Each deprecated-name warning is logged once per process; start this test with none logged yet."""
    monkeypatch.setattr(checks, "_WARNED_RENAMES", set())


# ----- encode(inputs=...) ---------------------------------------------------------------------------


def test_encode_takes_inputs_by_keyword_positionally_and_by_its_old_name(model, fresh_rename_warnings, caplog):
    expected = model.encode(TEXTS)
    np.testing.assert_array_equal(model.encode(inputs=TEXTS), expected)
    with caplog.at_level(logging.WARNING, logger="sentembed"):
        np.testing.assert_array_equal(model.encode(sentences=TEXTS), expected)
        model.encode(sentences=TEXTS[:1])
    renamed = [record for record in caplog.records if "`sentences` argument was renamed" in record.getMessage()]
    assert len(renamed) == 1 and "`inputs`" in renamed[0].getMessage()


def test_encode_with_both_names_or_neither_is_a_type_error(model):
    with pytest.raises(TypeError, match="got both 'inputs' and its deprecated name 'sentences'"):
        model.encode(TEXTS, sentences=TEXTS)
    with pytest.raises(TypeError, match="got both 'inputs' and its deprecated name 'sentences'"):
        model.encode_query(inputs=TEXTS, sentences=TEXTS)
    with pytest.raises(TypeError, match=r"encode\(\) missing required argument 'inputs'"):
        model.encode()


@pytest.mark.parametrize("method", ["encode_query", "encode_document"])
def test_encode_query_and_document_forward_either_name(model, reference_minilm_l3, method):
    model.prompts = {"query": "query: ", "document": "passage: "}
    expected = getattr(reference_minilm_l3, method)(TEXTS, prompt=model.prompts[method.split("_")[1]])
    for call in ({"inputs": TEXTS}, {"sentences": TEXTS}):
        np.testing.assert_allclose(getattr(model, method)(**call), expected, atol=1e-5)
    np.testing.assert_allclose(getattr(model, method)(TEXTS), expected, atol=1e-5)
    assert getattr(model, method)(TEXTS[0]).shape == (384,)


def test_encode_document_falls_back_to_passage_then_corpus(model):
    model.prompts = {"corpus": "corpus: ", "passage": "passage: "}
    np.testing.assert_allclose(model.encode_document(TEXTS), model.encode(TEXTS, prompt="passage: "), atol=1e-6)
    model.prompts = {"corpus": "corpus: "}
    np.testing.assert_allclose(model.encode_document(TEXTS), model.encode(TEXTS, prompt="corpus: "), atol=1e-6)


@pytest.mark.parametrize(("method", "role"), [("encode_query", "query"), ("encode_document", "document")])
def test_encode_query_and_document_call_encode_with_v6_keywords(model, monkeypatch, method, role):
    """A subclass or wrapper overriding `encode` sees `inputs=`, both prompt keywords and the task."""
    model.prompts = {"query": "q: ", "document": "d: ", "other": "o: "}
    calls = []
    monkeypatch.setattr(model, "encode", lambda *args, **kwargs: calls.append((args, kwargs)))
    getattr(model, method)(TEXTS, batch_size=4)
    getattr(model, method)(sentences=TEXTS[0], prompt="custom: ")
    getattr(model, method)(TEXTS, prompt_name="other", task="elsewhere")
    assert all(args == () for args, _ in calls)
    first, second, third = (kwargs for _, kwargs in calls)
    assert first == {"inputs": TEXTS, "prompt": None, "prompt_name": role, "task": role, "batch_size": 4}
    assert second == {"inputs": TEXTS[0], "prompt": "custom: ", "prompt_name": None, "task": role}
    assert (third["prompt_name"], third["task"]) == ("other", "elsewhere")


# ----- members --------------------------------------------------------------------------------------


def test_members_match_the_reference(model, reference_minilm_l3):
    assert model.get_embedding_dimension() == reference_minilm_l3.get_embedding_dimension() == 384
    assert model.dtype == reference_minilm_l3.dtype == torch.float32
    assert model.get_model_kwargs() == reference_minilm_l3.get_model_kwargs() == []
    assert model.modalities == reference_minilm_l3.modalities == ["text"]
    assert type(model.transformers_model).__name__ == type(reference_minilm_l3.transformers_model).__name__
    assert model.transformers_model is model[0].auto_model
    assert SentenceTransformer.SUPPORTED_SIMILARITY_FN_NAMES == Reference.SUPPORTED_SIMILARITY_FN_NAMES


def test_old_dimension_and_truncation_names_warn_and_still_work(model):
    with pytest.warns(FutureWarning, match="get_embedding_dimension"):
        assert model.get_sentence_embedding_dimension() == 384
    with pytest.warns(FutureWarning, match="truncate_embeddings"), model.truncate_sentence_embeddings(32):
        assert model.encode(TEXTS).shape == (3, 32)
    with model.truncate_embeddings(16):
        assert model.get_embedding_dimension() == 16
    assert model.encode(TEXTS).shape == (3, 384)


def test_a_model_without_parameters_has_no_dtype_nor_transformers_model(random_static_model):
    assert random_static_model.transformers_model is None
    assert random_static_model.dtype == torch.float32
    assert random_static_model.get_embedding_dimension() == 8


@pytest.fixture()
def random_static_model() -> SentenceTransformer:
    from tokenizers import Tokenizer

    from sentembed.models import StaticEmbedding

    tokenizer = Tokenizer.from_file(str(MINILM_L3 / "tokenizer.json"))
    return SentenceTransformer(modules=[StaticEmbedding(tokenizer, embedding_dim=8)], device="cpu")


SINGULAR_CASES = ["a text", ["a text"], ("a", "b"), [], np.array(["a", "b"]), np.array("a"), 3]


@pytest.mark.parametrize("inputs", SINGULAR_CASES, ids=repr)
def test_is_singular_input_matches_the_reference(model, reference_minilm_l3, inputs):
    assert model.is_singular_input(inputs) == reference_minilm_l3.is_singular_input(inputs)


@pytest.mark.parametrize("prompt", [None, "query: "])
def test_preprocess_matches_the_reference(model, reference_minilm_l3, prompt):
    texts = TEXTS + ["word " * 300]
    ours, theirs = model.preprocess(texts, prompt=prompt), reference_minilm_l3.preprocess(texts, prompt=prompt)
    assert set(ours) == set(theirs)
    for name, value in theirs.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(ours[name], value), name
        else:
            assert ours[name] == value, name
    assert model.preprocess([]) == reference_minilm_l3.preprocess([]) == {}


def test_preprocessed_features_run_through_the_model(model):
    features = model.preprocess(TEXTS)
    with torch.inference_mode():
        embeddings = model(features)["sentence_embedding"]
    np.testing.assert_allclose(embeddings.numpy(), model.encode(TEXTS), atol=1e-5)


def test_preprocess_refuses_a_non_list(model):
    with pytest.raises(TypeError, match="inputs must be a list of str"):
        model.preprocess("one text")


# ----- defaults ---------------------------------------------------------------------------------------


def test_default_prompts_are_empty_query_and_document(model, reference_minilm_l3):
    assert model.prompts == reference_minilm_l3.prompts == {"query": "", "document": ""}
    assert list(model.prompts) == list(reference_minilm_l3.prompts)


def test_the_empty_query_prompt_overrides_the_default_prompt(model, reference_minilm_l3):
    model.prompts = {"query": "", "document": "", "classify": "classify: "}
    model.default_prompt_name = "classify"
    prompted = model.encode(TEXTS, prompt="classify: ")
    np.testing.assert_allclose(model.encode(TEXTS), prompted, atol=1e-6)
    np.testing.assert_allclose(model.encode_query(TEXTS), model.encode(TEXTS, prompt=""), atol=1e-6)
    np.testing.assert_allclose(model.encode_document(TEXTS), model.encode(TEXTS, prompt=""), atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = Reference(str(MINILM_L3), device="cpu", prompts=dict(model.prompts), default_prompt_name="classify")
    np.testing.assert_allclose(model.encode_query(TEXTS), reference.encode_query(TEXTS), atol=1e-5)
    np.testing.assert_allclose(model.encode(TEXTS), reference.encode(TEXTS), atol=1e-5)


@pytest.mark.parametrize(
    "given, saved",
    [
        (None, {}),
        ({"query": "q: "}, {}),
        (None, {"query": "saved: ", "retrieval": "r: "}),
        ({"document": "d: ", "extra": "x: "}, {"query": "saved: ", "document": "old: ", "other": "o: "}),
        ({"query": ""}, {"query": "saved: "}),
    ],
)
def test_prompts_merge_like_the_reference(tmp_path, model, given, saved):
    model.save(str(tmp_path), create_model_card=False)
    config_path = tmp_path / "config_sentence_transformers.json"
    config = json.loads(config_path.read_text())
    config["prompts"] = saved
    config_path.write_text(json.dumps(config))
    ours = SentenceTransformer(str(tmp_path), device="cpu", prompts=given)
    reference = Reference(str(tmp_path), device="cpu", prompts=given)
    assert ours.prompts == reference.prompts
    assert list(ours.prompts) == list(reference.prompts)


def test_saved_config_round_trips_prompts_and_cosine_with_the_reference(tmp_path, model, reference_minilm_l3):
    ours_folder, reference_folder = tmp_path / "ours", tmp_path / "reference"
    model.save(str(ours_folder), create_model_card=False)
    reference_minilm_l3.save(str(reference_folder), create_model_card=False)
    ours = json.loads((ours_folder / "config_sentence_transformers.json").read_text())
    theirs = json.loads((reference_folder / "config_sentence_transformers.json").read_text())
    for key in ("prompts", "default_prompt_name", "similarity_fn_name", "model_type"):
        assert ours[key] == theirs[key], key
    assert ours["similarity_fn_name"] == "cosine"
    assert Reference(str(ours_folder), device="cpu").prompts == SentenceTransformer(str(reference_folder)).prompts


def test_similarity_fn_name_reads_cosine_before_any_use(model, reference_minilm_l3):
    model.similarity_fn_name = None
    assert model.similarity_fn_name == reference_minilm_l3.similarity_fn_name == "cosine"
    model.similarity_fn_name = "dot"
    assert model.similarity_fn_name == "dot"


def test_precision_none_means_float32(model, reference_minilm_l3):
    ours = model.encode(TEXTS, precision=None)
    assert ours.dtype == np.float32
    np.testing.assert_array_equal(ours, model.encode(TEXTS))
    np.testing.assert_allclose(ours, reference_minilm_l3.encode(TEXTS, precision=None), atol=1e-5)
    assert model.encode(TEXTS, precision=None, convert_to_tensor=True).dtype == torch.float32


def test_truncate_dim_round_trips_with_the_reference(tmp_path, reference_minilm_l3):
    ours_folder, reference_folder = tmp_path / "ours", tmp_path / "reference"
    SentenceTransformer(str(MINILM_L3), device="cpu", truncate_dim=64).save(str(ours_folder), create_model_card=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Reference(str(MINILM_L3), device="cpu", truncate_dim=32).save(str(reference_folder), create_model_card=False)
        assert Reference(str(ours_folder), device="cpu").encode(TEXTS).shape == (3, 64)
    assert SentenceTransformer(str(ours_folder), device="cpu").encode(TEXTS).shape == (3, 64)
    assert SentenceTransformer(str(reference_folder), device="cpu").get_embedding_dimension() == 32
    assert SentenceTransformer(str(reference_folder), device="cpu", truncate_dim=16).encode(TEXTS).shape == (3, 16)
    saved = json.loads((tmp_path / "ours" / "config_sentence_transformers.json").read_text())
    assert saved["truncate_dim"] == 64


def test_a_saved_similarity_a_bi_encoder_cannot_use_is_ignored_as_in_the_reference(tmp_path, model):
    model.save(str(tmp_path), create_model_card=False)
    config_path = tmp_path / "config_sentence_transformers.json"
    config = json.loads(config_path.read_text())
    config["similarity_fn_name"] = "maxsim"
    config_path.write_text(json.dumps(config))
    assert SentenceTransformer(str(tmp_path), device="cpu").similarity_fn_name == "cosine"
    assert Reference(str(tmp_path), device="cpu").similarity_fn_name == "cosine"
    no_truncation = json.loads(config_path.read_text())
    assert "truncate_dim" not in no_truncation


def test_the_top_level_names_of_the_reference_import_from_sentembed():
    import sentence_transformers

    import sentembed
    from sentembed import backend, search

    names = [
        "export_dynamic_quantized_onnx_model",
        "export_optimized_onnx_model",
        "export_static_quantized_openvino_model",
    ]
    for name in names:
        assert hasattr(sentence_transformers, name) and getattr(sentembed, name) is getattr(backend, name)
    assert hasattr(sentence_transformers, "mine_hard_negatives")
    assert sentembed.mine_hard_negatives is search.mine_hard_negatives


# ----- supports, config ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("modalities", "modality", "expected"),
    [
        (["text"], "text", True),
        (["text"], "image", False),
        (["text"], ("image", "text"), False),
        (["text", "image"], ("image", "text"), False),  # combining needs "message" inputs
        (["text", "image", "message"], ("image", "text"), True),
        (["text", "image", "message"], ("audio", "text"), False),
        (["text", ("image", "text")], ("image", "text"), True),  # listed as a tuple
    ],
)
def test_supports_reads_the_modalities(model, monkeypatch, modalities, modality, expected):
    monkeypatch.setattr(SentenceTransformer, "modalities", property(lambda self: modalities))
    assert model.supports(modality) is expected


def test_supports_on_real_models(model):
    assert model.supports("text") and not model.supports("image")
    cross_encoder = CrossEncoder(str(CROSS_ENCODER), device="cpu")
    assert cross_encoder.supports("text") and not cross_encoder.supports(("image", "text"))


def test_config_is_the_networks_config_and_settable(model):
    assert model.config is model[0].auto_model.config and model.config.hidden_size == 384
    original = model.config
    replacement = type(original).from_dict({**original.to_dict(), "hidden_dropout_prob": 0.5})
    try:
        model.config = replacement
        assert model[0].auto_model.config is replacement
    finally:
        model.config = original


def test_config_is_none_without_a_transformers_network(model):
    from sentembed.models import Normalize, StaticEmbedding

    static = SentenceTransformer(modules=[StaticEmbedding(model.tokenizer, embedding_dim=8), Normalize()], device="cpu")
    assert static.config is None
    static.config = "ignored"  # nothing to set it on
    assert static.config is None


# ----- constructor, evaluate, save, singular inputs ---------------------------------------------------


def test_modules_beside_a_model_name_are_ignored_with_a_warning(caplog):
    from sentembed.models import Normalize

    with caplog.at_level(logging.WARNING, logger="sentembed"):
        model = SentenceTransformer(str(MINILM_L3), modules=[Normalize()], device="cpu")
    assert [type(module).__name__ for module in model] == ["Transformer", "Pooling"]
    assert "`modules` argument is ignored" in caplog.text
    with pytest.raises(ValueError, match="An empty modules list was passed"):
        SentenceTransformer(modules=[])


def test_evaluate_creates_its_output_folder_and_save_of_none_does_nothing(model, tmp_path):
    seen = []

    def evaluator(model, output_path=None):
        seen.append(output_path)
        return {"score": 1.0}

    target = tmp_path / "results" / "nested"
    assert model.evaluate(evaluator, output_path=str(target)) == {"score": 1.0}
    assert target.is_dir() and seen == [str(target)]
    model.save(None)
    assert list(tmp_path.iterdir()) == [tmp_path / "results"]


def test_a_conversation_is_one_input(model):
    conversation = [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "Paris."},
    ]
    assert model.is_singular_input(conversation) is True
    assert model.is_singular_input([{"role": "user", "content": "hi"}]) is True
    assert model.is_singular_input(["a", "b"]) is False and model.is_singular_input([]) is False


AN_IMAGE = np.zeros((8, 8, 3), dtype=np.uint8)
A_SOUND = np.zeros(1600, dtype=np.float32)


@pytest.mark.parametrize(
    ("inputs", "said"),
    [
        ([{"role": "user", "content": "hi"}], "does not support chat-style 'message' inputs"),
        ([{"role": "user", "content": "hi"}, "text"], "mixes with other modalities"),
        ([AN_IMAGE], "Modality 'image' is not supported by this model. Supported modalities: text."),
        ([{"text": "a cat", "image": AN_IMAGE}], "Modality 'image+text' is not supported"),
        (["a text", A_SOUND, AN_IMAGE], "mixes multiple modalities (audio, image, text), and this model does not "
         "support audio, image"),
    ],
)  # fmt: skip
def test_preprocess_names_the_modalities_a_text_model_cannot_take(model, reference_minilm_l3, inputs, said):
    with pytest.raises(ValueError, match=re.escape(said)):
        model.preprocess(inputs)
    with pytest.raises(ValueError):  # the reference refuses the same batches
        reference_minilm_l3.preprocess(inputs)


@pytest.mark.parametrize(
    ("inputs", "said"),
    [
        ([{"text": "a cat", "image": AN_IMAGE}], "supports image and text individually but cannot combine them"),
        (["a text", AN_IMAGE], "mixes multiple modalities (image, text); one batch holds one"),
    ],
)
def test_a_batch_of_readable_modalities_that_cannot_go_together_says_to_encode_them_apart(inputs, said):
    with pytest.raises(ValueError, match=re.escape(said)):
        encoding.check_batch_modalities(inputs, ["text", "image"])
    encoding.check_batch_modalities(inputs[:1], ["text", "image", "message"])  # a model reading messages takes both


# ----- per-call processing_kwargs, preprocess, the deprecated tokenize ------------------------------------

LONG_TEXT = "this sentence is much longer than four tokens for sure"


def test_per_call_processing_kwargs_tokenize_as_a_shorter_max_seq_length_would(model):
    cut = {"text": {"max_length": 4, "truncation": True}}
    truncated = model.encode([LONG_TEXT], processing_kwargs=cut)
    full = model.encode([LONG_TEXT])
    model.max_seq_length, saved = 4, model.max_seq_length
    try:
        expected = model.encode([LONG_TEXT])
    finally:
        model.max_seq_length = saved
    np.testing.assert_allclose(truncated, expected, atol=1e-6)
    assert not np.allclose(truncated, full, atol=1e-3)
    assert model.preprocess([LONG_TEXT], processing_kwargs=cut)["input_ids"].shape == (1, 4)
    np.testing.assert_allclose(model.encode_query(LONG_TEXT, processing_kwargs=cut), truncated[0], atol=1e-6)
    # "common" options apply to every modality; "text" ones win over them
    common = {"common": {"max_length": 4}, "text": {"truncation": True}}
    np.testing.assert_allclose(model.encode([LONG_TEXT], processing_kwargs=common), truncated, atol=1e-6)


def test_processing_kwargs_are_checked_and_need_a_transformer(model, random_static):
    with pytest.raises(ValueError, match="unknown processing_kwargs key 'txt'"):
        model.encode(["a"], processing_kwargs={"txt": {"max_length": 4}})
    with pytest.raises(TypeError, match=r"processing_kwargs\['text'\] must be a dict"):
        model.encode(["a"], processing_kwargs={"text": 4})
    with pytest.raises(TypeError, match="processing_kwargs must be a dict by modality"):
        model.preprocess(["a"], processing_kwargs=[("text", {})])
    with pytest.raises(TypeError, match="StaticEmbedding.tokenize_unpadded takes no processing_kwargs"):
        random_static.encode(["a"], processing_kwargs={"text": {"max_length": 4}})
    random_static.encode(["a"], processing_kwargs={})  # none given: nothing to refuse


def test_processing_kwargs_are_part_of_the_cache_key(model, tmp_path):
    from sentembed.cache import EmbeddingCache

    cache = EmbeddingCache(str(tmp_path / "cache.sqlite"))
    full = model.encode([LONG_TEXT], cache=cache)
    cut = model.encode([LONG_TEXT], cache=cache, processing_kwargs={"text": {"max_length": 4}})
    np.testing.assert_allclose(cut, model.encode([LONG_TEXT], processing_kwargs={"text": {"max_length": 4}}), atol=1e-6)
    assert not np.allclose(cut, full, atol=1e-3)


def test_tokenize_is_deprecated_for_preprocess_which_tokenizes_the_same(model, caplog):
    from sentembed.readers import InputExample

    with caplog.at_level(logging.WARNING, logger="sentembed"):
        features = model.tokenize(TEXTS)
    warned = [record.getMessage() for record in caplog.records if "deprecated" in record.getMessage()]
    assert len(warned) == 1 and "tokenize()" in warned[0] and "preprocess()" in warned[0]
    preprocessed = model.preprocess(TEXTS)
    assert preprocessed.pop("modality") == "text"
    assert features.keys() == preprocessed.keys()
    for name, tensor in features.items():
        torch.testing.assert_close(tensor, preprocessed[name])
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="sentembed"):
        model.preprocess(TEXTS)
        model.encode(TEXTS)
        model.smart_batching_collate([InputExample(texts=["a", "b"], label=1.0)])
    assert not [record for record in caplog.records if "deprecated" in record.getMessage()]


# ----- loading ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_class", "folder", "kind"),
    [(SentenceTransformer, MINILM_L3, "SentenceTransformer"), (CrossEncoder, CROSS_ENCODER, "CrossEncoder")],
)
@pytest.mark.parametrize("logger_name", ["sentembed", "sentence_transformers.base.model"])
def test_loading_is_announced_on_ours_or_on_the_reference_logger(model_class, folder, kind, logger_name, caplog):
    with caplog.at_level(logging.INFO, logger=logger_name):
        model_class(str(folder), device="cpu")
    announced = [record for record in caplog.records if record.getMessage() == f"Loading {kind} model from {folder}"]
    assert len(announced) == 1 and announced[0].levelno == logging.INFO
    caplog.clear()
    model_class(str(folder), device="cpu")  # INFO not shown anywhere: nothing is logged
    assert not [record for record in caplog.records if record.getMessage().startswith("Loading ")]


def test_a_folder_saved_by_another_model_class_drops_its_prompts_and_similarity(model, tmp_path):
    model.save(str(tmp_path))
    config_path = tmp_path / "config_sentence_transformers.json"
    config = json.loads(config_path.read_text())
    config.update(
        model_type="CrossEncoder", prompts={"query": "query: "}, default_prompt_name="query", similarity_fn_name="dot"
    )
    config_path.write_text(json.dumps(config))

    converted = SentenceTransformer(str(tmp_path), device="cpu")
    assert converted.prompts == {"query": "", "document": ""}
    assert converted.default_prompt_name is None and converted.similarity_fn_name == "cosine"
    assert SentenceTransformer(str(tmp_path), device="cpu", prompts={"query": "q: "}).prompts["query"] == "q: "

    config["model_type"] = "SentenceTransformer"
    config_path.write_text(json.dumps(config))
    same_class = SentenceTransformer(str(tmp_path), device="cpu")
    assert same_class.prompts["query"] == "query: " and same_class.default_prompt_name == "query"
    assert same_class.similarity_fn_name == "dot"
